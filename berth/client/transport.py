"""HTTP/1.1 over a unix or tcp socket: requests, chunked bodies, and hijacked connections.

One connection per request: unix sockets are cheap to open, and streaming calls (attach,
wait, logs -f) need their own connection anyway, so pooling would buy little.
"""

from __future__ import annotations

import _socket
import _thread

from berth.client import jsonload
from berth.client.errors import APIError, DaemonUnreachable, ProtocolError, TLSError
from berth.client.hosts import Host
from berth.client.urlcodec import quote, urlencode
from berth.constants import API_VERSION

# typing, threading, urllib.parse, json and socket cost the CLI ~15 ms of its start on
# every command: the types are for the checker only, the lock is the one threading.Lock
# is, the percent-encoding is urlcodec's, the decoding jsonload's, and a unix socket is
# _socket's own (socket's enum wrappers import enum, functools and collections; a tcp
# connection imports socket for create_connection).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping
    from typing import Any, BinaryIO, Protocol

    from berth.client.contexts import TLSSettings

    Body = bytes | BinaryIO | Iterable[bytes] | None
    Query = Mapping[str, Any] | None

    class Conn(Protocol):
        """What the transport needs of a connection: a socket, or a TLSSocket over one."""

        def recv(self, n: int, /) -> bytes: ...
        def sendall(self, data: bytes, /) -> None: ...
        def shutdown(self, how: int, /) -> None: ...
        def close(self) -> None: ...
        def settimeout(self, value: float | None, /) -> None: ...


_RECV = 1 << 16


_USER_AGENT = "berth-cli"


class SocketReader:
    """A small buffered reader over a socket that can hand its leftover bytes to a hijacker."""

    def __init__(self, sock: Conn) -> None:
        self.sock = sock
        self.buf = b""

    def _fill(self) -> bool:
        data = self.sock.recv(_RECV)
        if not data:
            return False
        self.buf += data
        return True

    def readline(self, limit: int = 1 << 16) -> bytes:
        """One line including its CRLF; b"" at EOF."""
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line, self.buf = self.buf[: i + 1], self.buf[i + 1 :]
                return line
            if len(self.buf) > limit:
                raise ProtocolError("header line too long")
            if not self._fill():
                line, self.buf = self.buf, b""
                return line

    def read_exact(self, n: int) -> bytes:
        """Exactly n bytes, or fewer at EOF."""
        while len(self.buf) < n:
            if not self._fill():
                break
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_some(self, n: int = _RECV) -> bytes:
        """Whatever is buffered, else one recv; b"" at EOF."""
        if self.buf:
            data, self.buf = self.buf[:n], self.buf[n:]
            return data
        return self.sock.recv(n)


class Response:
    """A response whose body is read lazily (so streams can be consumed as they arrive)."""

    def __init__(
        self, sock: Conn, reader: SocketReader, status: int, headers: dict[str, str]
    ) -> None:
        self.sock = sock
        self.reader = reader
        self.status = status
        self.headers = headers
        te = headers.get("transfer-encoding", "").lower()
        self._chunked = "chunked" in te
        cl = headers.get("content-length")
        self._remaining: int | None = int(cl) if cl is not None and cl.isdigit() else None
        if status in (204, 304, 101):
            self._remaining = 0
        self._chunk_left = 0
        self._done = False

    def read_some(self) -> bytes:
        """The next piece of the (de-chunked) body; b"" at its end."""
        if self._done:
            return b""
        if self._chunked:
            data = self._read_chunk()
        elif self._remaining is not None:
            if self._remaining == 0:
                data = b""
            else:
                data = self.reader.read_some(min(self._remaining, _RECV))
                self._remaining -= len(data)
                if not data:
                    raise ProtocolError("connection closed before the end of the body")
        else:
            data = self.reader.read_some()
        if not data:
            self._done = True
        return data

    def _read_chunk(self) -> bytes:
        if self._chunk_left == 0:
            line = self.reader.readline()
            if not line:
                raise ProtocolError("connection closed inside a chunked body")
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError as exc:
                raise ProtocolError(f"bad chunk size line {line!r}") from exc
            if size == 0:
                while self.reader.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b""
            self._chunk_left = size
        data = self.reader.read_some(self._chunk_left)
        if not data:
            raise ProtocolError("connection closed inside a chunk")
        self._chunk_left -= len(data)
        if self._chunk_left == 0:
            self.reader.readline()
        return data

    def iter_content(self) -> Iterator[bytes]:
        """The body piece by piece, as it arrives."""
        while data := self.read_some():
            yield data

    def read(self) -> bytes:
        """The whole body."""
        return b"".join(self.iter_content())

    def json(self) -> Any:
        """The body parsed as JSON."""
        body = self.read()
        return jsonload.loads(body) if body.strip() else None

    def iter_json_lines(self) -> Iterator[Any]:
        """Parse a JSON-lines / concatenated-JSON progress stream (pull, load, import)."""
        import json

        decoder = json.JSONDecoder()
        pending = ""
        for data in self.iter_content():
            pending += data.decode("utf-8", "replace")
            while True:
                pending = pending.lstrip()
                if not pending:
                    break
                try:
                    obj, end = decoder.raw_decode(pending)
                except ValueError:
                    break
                pending = pending[end:]
                yield obj
        if pending.strip():
            raise ProtocolError(f"truncated JSON in stream: {pending[:80]!r}")

    def close(self) -> None:
        """Close the underlying connection."""
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def build_path(path: str, query: Query) -> str:
    """path + "?" + the encoded query, dropping None values and writing bools as 1/0."""
    if not query:
        return path
    items: list[tuple[str, str]] = []
    for key, val in query.items():
        if val is None:
            continue
        if isinstance(val, bool):
            val = "1" if val else "0"
        items.append((key, str(val)))
    return path + ("?" + urlencode(items) if items else "")


def quote_name(name: str) -> str:
    """A name or reference made safe for a path segment (image refs keep their slashes)."""
    return quote(name, safe="/:@")


class Transport:
    """Sends requests to one daemon address under one API version prefix.

    api_version "auto" negotiates as the docker client does: before the first request,
    GET /_ping (unversioned) and use the lower of the daemon's API-Version header and
    ours (1.24 when the daemon sends none; ours when the ping fails). The ping's
    connection is kept for the request that follows, so negotiating costs no extra
    connect or TLS handshake. tls (TLSSettings) turns TLS on for tcp hosts.
    """

    def __init__(
        self,
        host: Host,
        api_version: str | None,
        timeout: float | None = None,
        tls: TLSSettings | None = None,
    ) -> None:
        self.host = host
        self.timeout = timeout
        self.tls = tls if host.scheme == "tcp" else None
        self._ssl_context: Any = None
        self._idle: Conn | None = None  # a kept-alive connection for the next request
        self._lock = _thread.allocate_lock()  # negotiation and the idle connection
        self.api_version: str | None = api_version
        self.negotiated = api_version != "auto"
        self.prefix = f"/v{api_version}" if api_version and self.negotiated else ""

    def negotiate(self) -> str | None:
        """Settle the API version (a no-op when pinned or done); returns it."""
        if self.negotiated:
            return self.api_version
        with self._lock:
            if self.negotiated:
                return self.api_version
            sock = self.connect()
            try:
                self._send(sock, "GET", "/_ping", {}, None)
                resp = self._read_head(sock)
                resp.read()
            except BaseException as exc:
                sock.close()
                raise self._explained(exc) from None
            version = API_VERSION
            if resp.status < 400:
                version = pick_version(resp.headers.get("api-version", ""))
            if "close" in resp.headers.get("connection", "").lower():
                sock.close()
            else:
                self._idle = sock
            self.api_version = version
            self.prefix = f"/v{version}"
            self.negotiated = True
        return self.api_version

    def _explained(self, exc: BaseException) -> BaseException:
        """exc, with the daemon's address and a hint where TLS is the likely cause."""
        if isinstance(exc, TLSError):
            exc.url = exc.url or self.host.url
        elif isinstance(exc, ConnectionError):
            # a reset instead of an answer: over TLS, mostly a refused client certificate
            # whose alert the reset overtook
            if self.tls is not None:
                return TLSError(
                    "the daemon reset the connection without answering "
                    "(does it trust this client certificate?)",
                    self.host.url,
                )
            return ProtocolError(f"the daemon reset the connection: {exc.strerror or exc}")
        elif isinstance(exc, ProtocolError) and _unanswered(exc) and self.host.scheme == "tcp":
            if self.tls is not None:
                return TLSError(
                    "the daemon closed the connection without answering "
                    "(does it trust this client certificate?)",
                    self.host.url,
                )
            return ProtocolError(f"{exc} (is {self.host.url} a TLS port? then use --tlsverify)")
        return exc

    def connect(self) -> Conn:
        """A fresh connected socket (a TLSSocket over TLS), or DaemonUnreachable/TLSError."""
        try:
            if self.host.scheme == "unix":
                sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
                sock.settimeout(self.timeout)
                try:
                    sock.connect(self.host.path)
                except BaseException:
                    sock.close()
                    raise
                return sock
            import socket

            raw = socket.create_connection((self.host.host, self.host.port), self.timeout)
        except OSError as exc:
            raise DaemonUnreachable(self.host.url, exc.strerror or str(exc)) from exc
        if self.tls is None:
            return raw
        from berth.client import tlsconfig

        try:
            if self._ssl_context is None:
                self._ssl_context = tlsconfig.client_context(self.tls)
            conn = tlsconfig.TLSSocket(raw, self._ssl_context, self.host.host)
            conn.do_handshake()
        except TLSError as exc:
            raw.close()
            if exc.reason.startswith(("Could not", "could not", "failed to")):
                raise  # the files, not the daemon
            exc.url = self.host.url
            raise
        except OSError as exc:
            raw.close()
            raise DaemonUnreachable(self.host.url, exc.strerror or str(exc)) from exc
        return conn

    def request(
        self,
        method: str,
        path: str,
        query: Query = None,
        body: Body = None,
        headers: Mapping[str, str] | None = None,
        json_body: Any = None,
    ) -> Response:
        """Send a request and return once the response headers are in.

        Error statuses (>= 400) are raised as APIError with the daemon's message.
        """
        hdrs = dict(headers or {})
        if json_body is not None:
            body = jsonload.dumps(json_body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        self.negotiate()
        target = build_path(self.prefix + path, query)
        resend = body is None or isinstance(body, bytes | bytearray)
        with self._lock:
            idle, self._idle = self._idle, None
        if idle is not None and not resend:
            idle.close()  # a streamed body could not be sent again if the daemon hung up
            idle = None
        sock, reused = (idle, True) if idle is not None else (self.connect(), False)
        try:
            try:
                self._send(sock, method, target, hdrs, body)
                resp = self._read_head(sock)
            except (ProtocolError, ConnectionError) as exc:
                # A kept-alive connection the daemon closed meanwhile: nothing was
                # answered, so send again on a fresh one (when the body can be sent again).
                if not (reused and resend and _unanswered(exc)):
                    raise
                sock.close()
                sock = self.connect()
                self._send(sock, method, target, hdrs, body)
                resp = self._read_head(sock)
        except BaseException as exc:
            sock.close()
            raise self._explained(exc) from None
        if resp.status >= 400:
            with resp:
                raise APIError(resp.status, _error_message(resp))
        return resp

    def hijack(
        self, method: str, path: str, query: Query = None, headers: Mapping[str, str] | None = None
    ) -> tuple[Conn, SocketReader]:
        """Ask to upgrade the connection (attach, exec start) and return the raw socket.

        The reader holds any bytes that arrived right behind the response head.
        """
        hdrs = {"Connection": "Upgrade", "Upgrade": "tcp", **(headers or {})}
        resp = self.request(method, path, query, body=b"", headers=hdrs)
        if resp.status not in (101, 200):
            resp.close()
            raise ProtocolError(f"unexpected status {resp.status} for a hijacked connection")
        return resp.sock, resp.reader

    def _send(
        self,
        sock: Conn,
        method: str,
        target: str,
        headers: dict[str, str],
        body: Body,
    ) -> None:
        hdrs = {"Host": "berth", "User-Agent": _USER_AGENT}
        hdrs.update(headers)
        chunks: Iterable[bytes] | None = None
        if isinstance(body, bytes | bytearray):
            if body or method in ("POST", "PUT"):
                hdrs["Content-Length"] = str(len(body))
        elif body is not None:
            hdrs["Transfer-Encoding"] = "chunked"
            chunks = _file_chunks(body) if hasattr(body, "read") else body  # type: ignore[arg-type]
        head = f"{method} {target} HTTP/1.1\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
        if isinstance(body, bytes | bytearray):
            sock.sendall(head.encode("latin-1") + body)
            return
        sock.sendall(head.encode("latin-1"))
        if chunks is not None:
            for chunk in chunks:
                if chunk:
                    sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sock.sendall(b"0\r\n\r\n")

    def _read_head(self, sock: Conn) -> Response:
        reader = SocketReader(sock)
        while True:
            status_line = reader.readline()
            if not status_line:
                raise ProtocolError("the daemon closed the connection without answering")
            parts = status_line.decode("latin-1").split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
                raise ProtocolError(f"malformed status line {status_line!r}")
            status = int(parts[1])
            headers: dict[str, str] = {}
            while True:
                line = reader.readline()
                if line in (b"\r\n", b"\n", b""):
                    break
                k, _, v = line.decode("latin-1").partition(":")
                headers[k.strip().lower()] = v.strip()
            if status != 100:
                return Response(sock, reader, status, headers)


_FALLBACK_API_VERSION = "1.24"  # what a daemon that sends no API-Version header speaks


def _version_tuple(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in v.split("."))


def pick_version(server: str) -> str:
    """The version to speak to a daemon whose /_ping said API-Version: server."""
    server = server.strip() or _FALLBACK_API_VERSION
    try:
        if _version_tuple(server) < _version_tuple(API_VERSION):
            return server
    except ValueError:
        return API_VERSION
    return API_VERSION


def _unanswered(exc: BaseException) -> bool:
    if isinstance(exc, ConnectionError):
        return True
    return "without answering" in str(exc)


def _file_chunks(f: BinaryIO) -> Iterator[bytes]:
    while data := f.read(1 << 20):
        yield data


def _error_message(resp: Response) -> str:
    try:
        body = resp.read()
    except (OSError, ProtocolError):
        body = b""
    text = body.decode("utf-8", "replace").strip()
    try:
        doc = jsonload.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("message"), str):
        return doc["message"]
    return text or f"HTTP status {resp.status}"
