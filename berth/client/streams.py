"""Container streams on the client side: stdcopy demux, attach sessions, raw tty, resize."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from berth.stdcopy import HEADER_SIZE, parse_header

if TYPE_CHECKING:
    from berth.client.transport import Conn

DEFAULT_DETACH_KEYS = b"\x10\x11"  # ctrl-p ctrl-q


class Demuxer:
    """Incremental parser of stdcopy frames: feed bytes, get (stream id, payload) pieces."""

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """Frames completed by this data (payloads may arrive split across feeds)."""
        self._buf += data
        out: list[tuple[int, bytes]] = []
        while len(self._buf) >= HEADER_SIZE:
            stream, size = parse_header(self._buf[:HEADER_SIZE])
            if len(self._buf) < HEADER_SIZE + size:
                break
            out.append((stream, self._buf[HEADER_SIZE : HEADER_SIZE + size]))
            self._buf = self._buf[HEADER_SIZE + size :]
        return out

    @property
    def pending(self) -> int:
        """Bytes of an unfinished frame still held."""
        return len(self._buf)


def demux(chunks: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """(stream id, payload) for every stdcopy frame in a chunk stream."""
    d = Demuxer()
    for chunk in chunks:
        yield from d.feed(chunk)


def write_all(fd: int, data: bytes) -> None:
    """os.write until everything is written (pipes may take partial writes)."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def copy_output(chunks: Iterable[bytes], tty: bool, out_fd: int = 1, err_fd: int = 2) -> None:
    """Copy a container output stream to the terminal: raw with a tty, demuxed without."""
    if tty:
        for chunk in chunks:
            write_all(out_fd, chunk)
        return
    for stream, payload in demux(chunks):
        write_all(err_fd if stream == 2 else out_fd, payload)


def read_socket(sock: Conn, pending: bytes = b"") -> Iterator[bytes]:
    """Chunks from a hijacked socket until EOF (a reset counts as EOF)."""
    if pending:
        yield pending
    while True:
        try:
            data = sock.recv(1 << 16)
        except (ConnectionResetError, OSError):
            return
        if not data:
            return
        yield data


class EscapeFilter:
    """Finds a detach key sequence in typed input, holding back bytes that may start it."""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self._held = b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """(bytes to forward, whether the sequence was completed)."""
        out = bytearray()
        for b in data:
            cand = self._held + bytes([b])
            if self.keys.startswith(cand):
                if cand == self.keys:
                    return bytes(out), True
                self._held = cand
            else:
                # The held prefix was a false start, but this byte may begin the sequence.
                out += self._held
                if self.keys.startswith(bytes([b])):
                    if len(self.keys) == 1:
                        return bytes(out), True
                    self._held = bytes([b])
                else:
                    out.append(b)
                    self._held = b""
        return bytes(out), False


class AttachSession:
    """Copies a hijacked attach connection to and from this process's stdio on threads.

    `done` is set when the output ends (the container closed its streams) or when the
    user typed the detach keys (then `detached` is True).
    """

    def __init__(
        self,
        sock: Conn,
        pending: bytes,
        tty: bool,
        stdin_fd: int | None = None,
        out_fd: int = 1,
        err_fd: int = 2,
        detach_keys: bytes | None = None,
    ) -> None:
        self.sock = sock
        self.pending = pending
        self.tty = tty
        self.stdin_fd = stdin_fd
        self.out_fd = out_fd
        self.err_fd = err_fd
        self.detach_keys = detach_keys
        self.done = threading.Event()
        self.detached = False
        self.error: BaseException | None = None

    def start(self) -> None:
        """Start the copying threads."""
        threading.Thread(target=self._output, daemon=True).start()
        if self.stdin_fd is not None:
            threading.Thread(target=self._input, daemon=True).start()

    def _output(self) -> None:
        try:
            copy_output(read_socket(self.sock, self.pending), self.tty, self.out_fd, self.err_fd)
        except BrokenPipeError:
            pass
        except BaseException as exc:  # noqa: B036 - reported by the waiting thread
            self.error = exc
        finally:
            self.done.set()

    def _input(self) -> None:
        assert self.stdin_fd is not None
        esc = EscapeFilter(self.detach_keys) if self.detach_keys and self.tty else None
        try:
            while True:
                data = os.read(self.stdin_fd, 1 << 15)
                if not data:
                    break
                if esc is not None:
                    data, hit = esc.feed(data)
                    if hit:
                        if data:
                            self.sock.sendall(data)
                        self.detached = True
                        self.done.set()
                        return
                if data:
                    self.sock.sendall(data)
            # EOF on stdin: half-close so the container sees EOF but we still read output.
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def wait(self, timeout: float | None = None) -> bool:
        """Block until done; True if done."""
        return self.done.wait(timeout)

    def close(self) -> None:
        """Close the connection."""
        try:
            self.sock.close()
        except OSError:
            pass


class RawTerminal:
    """Puts a terminal in raw mode and restores it (context manager)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._old: Any = None

    def __enter__(self) -> RawTerminal:
        import termios
        import tty

        try:
            self._old = termios.tcgetattr(self.fd)
            tty.setraw(self.fd, termios.TCSANOW)
        except termios.error:
            self._old = None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._old is not None:
            import termios

            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._old)


def terminal_size(fd: int) -> tuple[int, int] | None:
    """(rows, columns) of the terminal on fd, or None when it is not a terminal."""
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        return None
    return size.lines, size.columns


def watch_resize(fd: int, resize: Callable[[int, int], None]) -> Callable[[], None]:
    """Send the terminal size now and on every SIGWINCH; returns a function that stops watching.

    The resize call runs on a thread: a signal handler that blocks on the network could
    interrupt the very read the main thread is doing.
    """
    import signal

    def send() -> None:
        size = terminal_size(fd)
        if size and size[0] and size[1]:
            try:
                resize(*size)
            except Exception:  # noqa: BLE001 - a lost resize is harmless
                pass

    def handler(signum: int, frame: Any) -> None:
        threading.Thread(target=send, daemon=True).start()

    send()
    old = signal.signal(signal.SIGWINCH, handler)

    def stop() -> None:
        signal.signal(signal.SIGWINCH, old)

    return stop
