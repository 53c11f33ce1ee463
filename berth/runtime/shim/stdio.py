"""A process's stdio as the shim holds it: pipes or a pty, the output's clients, stdin, its size.

The container's init process and every exec have one `ProcessIO` each (containerd's processIO):
what one can do, the other can by construction. Where they differ it is a policy set at creation
(`raw`, `backpressure`, `eof_closes_stdin`, `pty_stdin_outlives_output`), never a second copy."""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import struct
import termios
from collections.abc import Callable

from berth.runtime.logfile import JsonFileWriter
from berth.runtime.shim.clients import READ_SIZE, Conn, ConnServer
from berth.runtime.shim.poller import R, W, log
from berth.stdcopy import frame

STDIN_BUFFER_LIMIT = 1024 * 1024
# With backpressure, output is read only while every client has less than this waiting.
EXEC_OUTPUT_PAUSE = 1024 * 1024

_STREAM_IDS = {"stdout": 1, "stderr": 2}


def set_winsize(fd: int, height: int, width: int) -> None:
    """Set the size of the terminal `fd` (TIOCSWINSZ). Raises OSError."""
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


class ProcessIO:
    """The shim's side of one process's stdio, and the process's side until it has started."""

    __slots__ = (
        "host",
        "tty",
        "raw",
        "backpressure",
        "eof_closes_stdin",
        "pty_stdin_outlives_output",
        "label",
        "writer",
        "outputs",
        "master",
        "console_sock",
        "size",
        "stdin_fd",
        "stdin_buf",
        "stdin_closing",
        "stdin_pending",
        "child_fds",
        "clients",
        "on_drained",
    )

    def __init__(
        self,
        host: ConnServer,
        *,
        tty: bool,
        raw: bool,
        backpressure: bool,
        eof_closes_stdin: bool,
        pty_stdin_outlives_output: bool,
        label: str,
        writer: JsonFileWriter | None = None,
    ) -> None:
        self.host = host
        self.tty = tty
        self.raw = raw  # output goes out as it is read, not in stdcopy frames
        # a slow client pauses the reading of output (else it is dropped: nobody waits for it)
        self.backpressure = backpressure
        self.eof_closes_stdin = eof_closes_stdin  # a client's half-close ends the stdin
        # at the output's EOF (no slave left) the pty stays open for stdin (else both end)
        self.pty_stdin_outlives_output = pty_stdin_outlives_output
        self.label = label  # in log lines: "reading <label>: ..."
        self.writer = writer  # the json-file log, if the output is logged
        self.outputs: dict[int, str] = {}  # shim-side ends: fd -> stream name
        self.master = -1
        self.console_sock = -1  # where the container sends its console's master
        self.size: tuple[int, int] | None = None  # asked for before the terminal exists
        self.stdin_fd = -1
        self.stdin_buf = bytearray()
        self.stdin_closing = False
        self.stdin_pending = False  # a terminal to come: keep what is typed for it
        self.child_fds: list[int] = []  # the process's ends, closed once it runs
        self.clients: list[Conn] = []
        self.on_drained: Callable[[], None] | None = None  # the last output reached EOF

    # ---- creation ------------------------------------------------------------------------

    def open_pipes(self, stdin: bool, stdout: bool, stderr: bool) -> tuple[int, int, int]:
        """A pipe for each stream asked for, /dev/null for the others: the process's ends."""
        try:
            for name, wanted in (("stdin", stdin), ("stdout", stdout), ("stderr", stderr)):
                if not wanted:
                    flags = os.O_RDONLY if name == "stdin" else os.O_WRONLY
                    self.child_fds.append(os.open("/dev/null", flags | os.O_CLOEXEC))
                    continue
                r, w = os.pipe()
                ours, theirs = (w, r) if name == "stdin" else (r, w)
                self.child_fds.append(theirs)
                os.set_blocking(ours, False)
                if name == "stdin":
                    self.stdin_fd = ours
                else:
                    self.outputs[ours] = name
        except OSError:
            self.close()
            raise
        self.update()
        return self.child_fds[0], self.child_fds[1], self.child_fds[2]

    def open_console_socket(self, stdin: bool) -> tuple[tuple[int, int, int], int]:
        """As runc with --console-socket: the process makes its terminal itself and sends the
        master back (`use_pty`); until then its stdio is /dev/null. Returns its stdio and its end
        of the socket."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.console_sock = ours.detach()
        null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
        self.child_fds = [null, theirs.detach()]
        self.stdin_pending = stdin
        return (null, null, null), self.child_fds[1]

    def close_console_socket(self) -> None:
        if self.console_sock >= 0:
            os.close(self.console_sock)
            self.console_sock = -1

    def use_pty(self, master: int, stdin: bool) -> None:
        """The process's terminal is `master`: its output and, if `stdin`, its input."""
        os.set_blocking(master, False)
        self.master = master
        self.outputs[master] = "stdout"
        self.stdin_pending = False
        if stdin and not self.stdin_closing:
            self.stdin_fd = master
        self.update()
        if self.stdin_fd >= 0 and self.stdin_buf:
            self.flush_stdin()  # what clients typed before the terminal existed

    def close_child_fds(self) -> None:
        """The process has its ends (or will never run): the shim's copies go."""
        for fd in self.child_fds:
            os.close(fd)
        self.child_fds = []

    def resize(self, height: int, width: int) -> None:
        """Set the terminal's size; before it exists, remember it. Raises OSError."""
        if self.master >= 0:
            set_winsize(self.master, height, width)
        elif self.tty:
            self.size = (height, width)

    # ---- clients -------------------------------------------------------------------------

    def attach(self, conn: Conn) -> None:
        self.clients.append(conn)

    def detach(self, conn: Conn) -> None:
        """`conn` is gone: what it was typing ends as a half-close would end it."""
        if conn not in self.clients:
            return
        self.clients.remove(conn)
        if conn.stdin and conn.reading:
            self.client_eof()
        self.update()

    def client_eof(self) -> None:
        """A client with stdin half-closed its connection."""
        if self.eof_closes_stdin:
            self.stdin_eof()

    def stdin_full(self) -> bool:
        return len(self.stdin_buf) >= STDIN_BUFFER_LIMIT

    # ---- events --------------------------------------------------------------------------

    def update(self) -> None:
        """Selector interest of every fd, from the buffers and the clients' backlogs."""
        paused = self.backpressure and any(len(c.out) > EXEC_OUTPUT_PAUSE for c in self.clients)
        for fd in self.outputs:
            ev = 0 if paused else R
            if fd == self.stdin_fd and self.stdin_buf:
                ev |= W
            self.host.poller.set(fd, ev, self.on_event)
        if self.stdin_fd >= 0 and self.stdin_fd not in self.outputs:
            self.host.poller.set(self.stdin_fd, W if self.stdin_buf else 0, self.on_event)
        for conn in list(self.clients):
            if conn.stdin and conn.fd in self.host.conns:
                self.host.update_conn(conn)

    def on_event(self, fd: int, ev: int) -> None:
        if ev & W and fd == self.stdin_fd:
            self.flush_stdin()
        if ev & R and fd in self.outputs:
            self.read(fd)
            if self.backpressure:
                self.update()

    def read(self, fd: int) -> None:
        """Read what `fd` has and send it to the clients of its stream (and to the log)."""
        try:
            data = os.read(fd, READ_SIZE)
        except BlockingIOError:
            return
        except OSError as e:
            # EIO: the pty has no slave left, i.e. the process side is gone
            if e.errno != errno.EIO:
                log(f"reading {self.label}: {e}")
            data = b""
        stream = self.outputs[fd]
        if not data:
            self.close_output(fd)
            return
        if self.writer is not None:
            self.writer.write(stream, data)
        payload = data if self.raw else frame(_STREAM_IDS[stream], data)
        for conn in list(self.clients):
            if conn.stdout if stream == "stdout" else conn.stderr:
                self.host.send(conn, payload)

    def read_buffered(self) -> None:
        """Before closing for good: what is already in the outputs still goes to the client."""
        for fd in list(self.outputs):
            while fd in self.outputs and self.clients:
                before = sum(len(c.out) for c in self.clients)
                self.read(fd)
                if fd in self.outputs and sum(len(c.out) for c in self.clients) == before:
                    break

    def close_output(self, fd: int) -> None:
        stream = self.outputs.pop(fd)
        if self.writer is not None:
            self.writer.end_stream(stream)
        if fd != self.master:
            self._close_fd(fd)
        elif fd == self.stdin_fd and self.pty_stdin_outlives_output:
            self.update()  # stays open for stdin: closed with it
        else:
            if fd == self.stdin_fd:  # nothing reads what would be typed any more
                self.stdin_buf.clear()
            self._close_master()
        if not self.outputs and self.on_drained is not None:
            self.on_drained()

    # ---- stdin ---------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Bytes for the process's stdin (dropped if it has none, or it is closing)."""
        if (self.stdin_fd < 0 and not self.stdin_pending) or self.stdin_closing:
            return
        self.stdin_buf += data
        self.flush_stdin()

    def flush_stdin(self) -> None:
        fd = self.stdin_fd
        if fd < 0:
            return
        while self.stdin_buf:
            try:
                n = os.write(fd, self.stdin_buf)
            except BlockingIOError:
                break
            except OSError:
                # the process closed its stdin or is gone: what it did not take is lost
                self.stdin_buf.clear()
                self.stdin_closing = True
                break
            del self.stdin_buf[:n]
        if not self.stdin_buf and self.stdin_closing:
            self.close_stdin()
        self.update()

    def stdin_eof(self) -> None:
        """End the stdin once what is buffered for it is written."""
        if self.stdin_fd < 0:
            return
        self.stdin_closing = True
        if not self.stdin_buf:
            self.close_stdin()

    def close_stdin(self) -> None:
        fd = self.stdin_fd
        if fd < 0:
            return
        self.stdin_fd = -1
        self.stdin_buf.clear()
        if fd != self.master:
            self._close_fd(fd)
            return
        # a pty has no half-close: EOT makes a canonical-mode reader see end of input
        try:
            os.write(fd, b"\x04")
        except OSError:
            pass
        self.update()
        if self.master not in self.outputs:
            self._close_master()

    # ---- the end -------------------------------------------------------------------------

    def close(self) -> None:
        """Close everything, the shim's ends and the process's (the log included)."""
        self.on_drained = None
        for fd in list(self.outputs):
            self.close_output(fd)
        self.stdin_closing = True
        self.close_stdin()
        self._close_master()
        self.close_child_fds()
        self.close_console_socket()
        self.clients.clear()
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def _close_master(self) -> None:
        if self.master >= 0:
            if self.stdin_fd == self.master:
                self.stdin_fd = -1
            self._close_fd(self.master)
            self.master = -1

    def _close_fd(self, fd: int) -> None:
        self.host.poller.forget(fd)
        os.close(fd)
