"""A tiny HTTP server on a real unix socket, answering with bytes a test scripts."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable


class Received:
    """What the client sent on one connection."""

    def __init__(self, head: bytes, body: bytes) -> None:
        self.head = head
        lines = head.decode("latin-1").split("\r\n")
        self.method, self.target, _ = lines[0].split(" ", 2)
        self.headers = {}
        for line in lines[1:]:
            if line:
                k, _, v = line.partition(":")
                self.headers[k.strip().lower()] = v.strip()
        self.body = body


Handler = Callable[[Received, socket.socket], None]


def _read_request(conn: socket.socket) -> Received:
    buf = b""
    while b"\r\n\r\n" not in buf:
        data = conn.recv(65536)
        if not data:
            raise EOFError
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    req = Received(head, b"")
    if req.headers.get("transfer-encoding") == "chunked":
        body = b""
        while True:
            while b"\r\n" not in rest:
                rest += conn.recv(65536)
            line, _, rest = rest.partition(b"\r\n")
            size = int(line, 16)
            while len(rest) < size + 2:
                rest += conn.recv(65536)
            body += rest[:size]
            rest = rest[size + 2 :]
            if size == 0:
                break
        req.body = body
    else:
        n = int(req.headers.get("content-length", "0"))
        while len(rest) < n:
            rest += conn.recv(65536)
        req.body = rest[:n]
    return req


class FakeDaemon:
    """Serves each connection with `handler` on a thread; records every request."""

    def __init__(self, handler: Handler) -> None:
        self.dir = tempfile.mkdtemp(prefix="bt-", dir="/tmp")
        self.path = os.path.join(self.dir, "d.sock")
        self.handler = handler
        self.requests: list[Received] = []
        self.errors: list[BaseException] = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(16)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return "unix://" + self.path

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        try:
            req = _read_request(conn)
            self.requests.append(req)
            self.handler(req, conn)
        except EOFError:
            pass
        except BaseException as exc:  # noqa: BLE001 - surfaced by the test through .errors
            self.errors.append(exc)
        finally:
            conn.close()

    def close(self) -> None:
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def json_reply(conn: socket.socket, status: int, body: bytes, reason: str = "OK") -> None:
    """Send a Content-Length response."""
    conn.sendall(
        b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
        % (status, reason.encode(), len(body), body)
    )
