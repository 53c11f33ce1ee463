"""The shim's client connections: one request line each, then a reply, a wait, or a stream.

`ConnServer` does the socket work (accept, read a request, buffer and send replies and output);
what a connection means (an attach, an exec's stream, a waiter) is the subclass's, through the
`_on_*` hooks."""

from __future__ import annotations

import socket
from typing import Any

from berth.runtime.shim.poller import Poller, R, W, log
from berth.runtime.shim.protocol import MAX_REQUEST, decode_message, encode_message

CLIENT_BUFFER_LIMIT = 4 * 1024 * 1024
READ_SIZE = 64 * 1024

# Modes whose connection, after the reply, is a process's stdio stream.
STREAM_MODES = ("attach", "exec")


class Conn:
    """One client connection and what it is for."""

    __slots__ = (
        "sock",
        "fd",
        "inbuf",
        "out",
        "mode",
        "stdin",
        "stdout",
        "stderr",
        "reading",
        "exec_id",
    )

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.inbuf = b""
        self.out = bytearray()
        # request | attach | wait | exec | exec_wait | reply (close once flushed)
        self.mode = "request"
        self.stdin = False  # its bytes go to the process's stdin
        self.stdout = False  # it gets the process's stdout
        self.stderr = False
        self.reading = True
        self.exec_id = ""  # the exec an exec/exec_wait connection is about


class ConnServer:
    """The listener and every client connection of one shim."""

    __slots__ = ("poller", "conns", "listener")

    def __init__(self) -> None:
        self.poller = Poller()
        self.conns: dict[int, Conn] = {}
        self.listener: socket.socket | None = None

    # ---- hooks ---------------------------------------------------------------------------

    def _on_request(self, conn: Conn, req: dict[str, Any], rest: bytes) -> None:
        raise NotImplementedError

    def _on_stdin(self, conn: Conn, data: bytes) -> None:
        """Bytes a stream client sent (it has stdin)."""

    def _on_stdin_eof(self, conn: Conn) -> None:
        """A stream client with stdin half-closed its connection."""

    def _on_drop(self, conn: Conn) -> None:
        """`conn` is closed and forgotten."""

    def _on_flushed(self, conn: Conn) -> None:
        """Some of `conn`'s backlog went out."""

    def _stdin_full(self, conn: Conn) -> bool:
        """Whether the process `conn` types into has all the stdin it may buffer."""
        return False

    def _close_when_flushed(self, conn: Conn) -> bool:
        return conn.mode == "reply"

    # ---- connections ---------------------------------------------------------------------

    def accept(self, fd: int = -1, ev: int = 0) -> None:
        """Take every pending connection on the listener."""
        assert self.listener is not None
        while True:
            try:
                sock, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                log(f"accept: {e}")
                return
            sock.setblocking(False)
            conn = Conn(sock)
            self.conns[conn.fd] = conn
            self.update_conn(conn)

    def update_conn(self, conn: Conn) -> None:
        """Selector interest of `conn`, from its backlog and whether its input can be taken."""
        ev = W if conn.out else 0
        if conn.reading and not (
            conn.mode in STREAM_MODES and conn.stdin and self._stdin_full(conn)
        ):
            ev |= R
        self.poller.set(conn.fd, ev, self._conn_event)

    def drop(self, conn: Conn) -> None:
        """Close `conn` now, whatever it still had to send."""
        self.poller.forget(conn.fd)
        self.conns.pop(conn.fd, None)
        conn.sock.close()
        if conn.mode != "reply" and conn.mode != "request":  # those are nobody's
            self._on_drop(conn)

    def send(self, conn: Conn, data: bytes) -> None:
        """Send `data` to `conn`, or queue it; a client too far behind is dropped."""
        if conn.out:
            conn.out += data
            if len(conn.out) > CLIENT_BUFFER_LIMIT:
                log("dropping an attach client that does not keep up")
                self.drop(conn)
            return
        try:
            n = conn.sock.send(data)
        except BlockingIOError:
            n = 0
        except OSError:
            self.drop(conn)
            return
        if n < len(data):
            conn.out += data[n:]
            self.update_conn(conn)
        elif conn.mode == "reply":
            self.drop(conn)

    def reply(self, conn: Conn, obj: dict[str, Any], mode: str = "reply") -> None:
        """Send one protocol message; `conn` goes on in `mode` (a "reply" is closed once sent)."""
        conn.mode = mode
        if mode == "reply":
            conn.reading = False
            self.poller.set(conn.fd, 0, self._conn_event)
        self.send(conn, encode_message(obj))
        if conn.fd in self.conns:
            self.update_conn(conn)

    def _conn_event(self, fd: int, ev: int) -> None:
        conn = self.conns.get(fd)
        if conn is None:
            return
        if ev & W:
            self._flush(conn)
        if ev & R and conn.fd in self.conns:
            self._receive(conn)

    def _flush(self, conn: Conn) -> None:
        try:
            n = conn.sock.send(conn.out)
        except BlockingIOError:
            return
        except OSError:
            self.drop(conn)
            return
        del conn.out[:n]
        if not conn.out and self._close_when_flushed(conn):
            self.drop(conn)
            return
        self._on_flushed(conn)
        self.update_conn(conn)

    def _receive(self, conn: Conn) -> None:
        try:
            data = conn.sock.recv(READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            self.drop(conn)
            return
        if conn.mode in STREAM_MODES:
            if not data:
                conn.reading = False
                if conn.stdin:
                    self._on_stdin_eof(conn)
                self.update_conn(conn)
            elif conn.stdin:
                self._on_stdin(conn, data)
                self.update_conn(conn)
            return
        if not data:
            self.drop(conn)  # a waiter or half-sent request went away
            return
        if conn.mode != "request":
            return  # a waiter has nothing more to say
        conn.inbuf += data
        nl = conn.inbuf.find(b"\n")
        if nl < 0:
            if len(conn.inbuf) > MAX_REQUEST:
                self.drop(conn)
            return
        line, rest = conn.inbuf[:nl], conn.inbuf[nl + 1 :]
        conn.inbuf = b""
        try:
            req = decode_message(line)
        except ValueError:
            self.reply(conn, {"error": "malformed request"})
            return
        self._on_request(conn, req, rest)
