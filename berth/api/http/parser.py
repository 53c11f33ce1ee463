"""Request framing by llhttp (through httptools), one request at a time.

llhttp (the parser of Node.js, also under uvicorn) decides what is a valid request
line, header, Content-Length, Transfer-Encoding and chunk; berth only decides how
many bytes to read next, so that the parser is never fed a byte past the end of the
current request:

| phase         | berth reads                  | llhttp checks                                |
|---------------|------------------------------|----------------------------------------------|
| head          | up to the first CRLF CRLF    | request line, header syntax, obs-fold, CL/TE |
| Content-Length| exactly the bytes left       | (the length, in the head)                    |
| chunked       | a size line, then size+2     | chunk size syntax, CRLFs, trailers           |

Reading exactly one message keeps berth's own handling of the connection after it:
a hijacked stream (attach, exec) gets the raw reader with nothing swallowed, and a
keep-alive connection needs no buffer carried from one request to the next.

An `Upgrade` request stops llhttp at the end of its head (the rest is the new
protocol); its body, when it has one (exec start), is framed by a second parser
given the same length header, so both paths share the code below."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httptools

MAX_HEAD = 64 << 10  # request line and headers, as the StreamReader's default line limit
_CHUNK = 1 << 16


class FramingError(Exception):
    """A request that cannot be framed: answered with `status` and closed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Head:
    method: str
    target: str
    version: str  # "1.1", "1.0"
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    keep_alive: bool = True
    upgrade: bool = False


class _Callbacks:
    """What llhttp reports while one request is fed to it."""

    __slots__ = (
        "parser",
        "url",
        "headers",
        "head_done",
        "keep_alive",
        "complete",
        "chunks",
        "size",
    )

    def __init__(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.reset()

    def reset(self) -> None:
        """Ready for the next request of a keep-alive connection (llhttp resets
        itself at the end of each message)."""
        self.keep_alive = False
        self.url = b""
        self.headers: dict[str, str] = {}
        self.head_done = False
        self.complete = False
        self.chunks: list[bytes] = []
        self.size = 0

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        k = name.decode("latin-1").lower()
        v = value.decode("latin-1").strip()
        old = self.headers.get(k)
        # a repeated header is one list-valued header (RFC 9110 5.3); llhttp already
        # refused repeated Content-Length and Transfer-Encoding with Content-Length
        self.headers[k] = v if old is None else f"{old}, {v}"

    def on_headers_complete(self) -> None:
        self.head_done = True
        # asked now: llhttp forgets the request's flags once the message is complete
        self.keep_alive = self.parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        self.complete = True


def _malformed(exc: Exception) -> FramingError:
    reason = str(exc) or type(exc).__name__
    return FramingError(400, f"malformed HTTP request: {reason}")


class MessageReader:
    """Frames requests off one connection's reader; `head()`, then `body()`."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        max_head: int = MAX_HEAD,
        body_timeout: float | None = None,
    ) -> None:
        self.reader = reader
        self.max_head = max_head
        self.body_timeout = body_timeout
        # When the wait for the client must end (loop time); None while nothing is
        # awaited from it. The server's sweeper closes connections past it.
        self.deadline: float | None = None
        self._cb = _Callbacks()
        self._parser = self._cb.parser
        self._fresh = True  # a parser that has seen an upgrade is not reused
        self._chunked = False
        self._length = 0

    # ---- head ----------------------------------------------------------
    async def head(self) -> Head | None:
        """The next request's head, or None when the client closed (or went silent
        mid-head: it is gone either way) before sending one."""
        cb = self._cb
        if cb.complete and not self._fresh:
            cb.reset()  # the previous request ended cleanly: its parser goes on
        else:
            cb = self._cb = _Callbacks()
        self._fresh = False
        p = self._parser = cb.parser
        upgrade = False
        while not cb.head_done:
            # CRLF CRLF ends a head llhttp accepts (it refuses bare LFs): reading up to
            # it reads no byte of the body or of what follows an upgrade
            try:
                data = await self.reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                return None
            except asyncio.LimitOverrunError:
                raise FramingError(431, "request header fields too large") from None
            cb.size += len(data)
            if cb.size > self.max_head:
                raise FramingError(431, "request header fields too large")
            try:
                p.feed_data(data)
            except httptools.HttpParserUpgrade:
                upgrade = True
            except httptools.HttpParserError as exc:
                raise _malformed(exc) from None
        h = cb.headers
        te = h.get("transfer-encoding")
        # llhttp accepts only a final `chunked` coding (anything else is refused above)
        self._chunked = te is not None
        self._length = int(h.get("content-length") or 0) if te is None else 0
        if self._length >= 1 << 63:  # as Go's net/http: a length no file can have
            raise FramingError(400, "malformed HTTP request: invalid Content-Length")
        if upgrade:
            cb.complete = True
            self._fresh = True  # llhttp stopped at the upgrade: the next head needs a new one
        if upgrade and (self._chunked or self._length):
            self._frame_upgrade_body()
        return Head(
            p.get_method().decode("latin-1"),
            cb.url.decode("latin-1"),
            p.get_http_version(),
            h,
            cb.keep_alive,
            upgrade,
        )

    def _frame_upgrade_body(self) -> None:
        """llhttp hands an Upgrade request over at the end of its head; its body is
        framed by a parser of its own, told the same framing header."""
        cb = self._cb = _Callbacks()
        self._parser = cb.parser
        frame = (
            b"Transfer-Encoding: chunked"
            if self._chunked
            else b"Content-Length: %d" % (self._length)
        )
        self._parser.feed_data(b"POST / HTTP/1.1\r\n" + frame + b"\r\n\r\n")

    # ---- body ----------------------------------------------------------
    @property
    def has_body(self) -> bool:
        return self._chunked or self._length > 0

    @property
    def complete(self) -> bool:
        return self._cb.complete

    def _feed(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:  # pragma: no cover - bodies never upgrade
            raise FramingError(400, "malformed HTTP request: upgrade inside a body") from None
        except httptools.HttpParserError as exc:
            raise _malformed(exc) from None

    def _arm(self) -> None:
        if self.body_timeout is not None:
            self.deadline = asyncio.get_running_loop().time() + self.body_timeout

    async def _read(self, n: int) -> bytes:
        self._arm()
        try:
            data = await self.reader.read(n)
        finally:
            self.deadline = None
        if not data:
            raise FramingError(400, "unexpected end of request body")
        return data

    async def _line(self) -> bytes:
        self._arm()
        try:
            return await self.reader.readuntil(b"\n")
        except asyncio.IncompleteReadError:
            raise FramingError(400, "unexpected end of chunked body") from None
        except asyncio.LimitOverrunError:
            raise FramingError(400, "malformed HTTP request: chunk line too long") from None
        finally:
            self.deadline = None

    async def body(self, chunk_size: int = _CHUNK) -> AsyncIterator[bytes]:
        """The body as it arrives; ends at the end of this request, never past it."""
        cb = self._cb
        if not self._chunked:
            # llhttp has validated the length; the bytes themselves need no parsing
            left = self._length
            while left > 0:
                data = await self._read(min(left, chunk_size))
                left -= len(data)
                yield data
            cb.complete = True
            self._fresh = self._fresh or self._length > 0  # this parser never saw the body
            return
        trailers = False
        while not cb.complete:
            line = await self._line()
            self._feed(line)
            if trailers or cb.complete:
                continue
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:  # llhttp accepted what int() does not: refuse it too
                raise FramingError(400, "malformed HTTP request: Invalid chunk size") from None
            if size == 0:
                trailers = True
                continue
            left = size + 2  # the data and its CRLF
            while left > 0:
                data = await self._read(min(left, chunk_size))
                left -= len(data)
                self._feed(data)
                while cb.chunks:
                    yield cb.chunks.pop(0)

    async def drain(self) -> None:
        """Read and drop the rest of the body (the handler did not want it)."""
        async for _ in self.body():
            pass
