"""TLS served over a plain TCP transport, so that a client's EOF ends only its input.

asyncio's own SSL transport (`start_server(ssl=ctx)`) takes the client's close_notify
(or a TCP FIN) as the end of the whole connection. The docker CLI sends one as soon
as an attach or exec has no more stdin (at once when there is none) and then waits
for the output: over that transport the output was lost. Here the TLS state machine
(`ssl.SSLObject` over two `MemoryBIO`s) is driven by berth:

| from the client                  | what happens                                        |
|----------------------------------|-----------------------------------------------------|
| records                          | decrypted and given to the StreamReader             |
| close_notify, or a bare TCP FIN  | the reader sees EOF; the writer goes on working     |
| a handshake berth refuses        | OpenSSL's alert is sent before closing, so the      |
|                                  | client says why (`tls: certificate required`)       |

`write_eof()` sends our close_notify; `close()` sends it too (if not sent yet) and
closes the socket. The connection callback gets a real StreamReader/StreamWriter
pair, exactly as from `asyncio.start_server`."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("berthd")

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
_READ = 1 << 16
_LIMIT = 1 << 16  # the StreamReader's line limit, as asyncio.start_server's default


class _TLSTransport(asyncio.Transport):
    """The plaintext side, as the StreamReaderProtocol and StreamWriter see it."""

    def __init__(self, proto: TLSProtocol) -> None:
        super().__init__()
        self._p = proto
        self._closing = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        sslobj = self._p.sslobj
        if name == "ssl_object":
            return sslobj
        if name == "peercert":
            return sslobj.getpeercert()
        if name == "cipher":
            return sslobj.cipher()
        if name == "sslcontext":  # None: the stream protocol must not treat EOF as close
            return None
        return self._p.raw.get_extra_info(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if self._p.eof_sent or self._closing:
            raise RuntimeError("write after the TLS stream was closed for writing")
        self._p.encrypt(bytes(data))

    def writelines(self, list_of_data: Any) -> None:
        self.write(b"".join(list_of_data))

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self._p.send_close_notify()

    def is_closing(self) -> bool:
        return self._closing or self._p.raw.is_closing()

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._p.send_close_notify()
        self._p.raw.close()

    def abort(self) -> None:
        self._closing = True
        self._p.raw.abort()

    def pause_reading(self) -> None:
        self._p.raw.pause_reading()

    def resume_reading(self) -> None:
        self._p.raw.resume_reading()

    def is_reading(self) -> bool:
        return self._p.raw.is_reading()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._p.raw.set_write_buffer_limits(high, low)

    def get_write_buffer_size(self) -> int:
        return self._p.raw.get_write_buffer_size()


class TLSProtocol(asyncio.Protocol):
    """The ciphertext side: one per accepted TCP connection."""

    def __init__(
        self, ctx: ssl.SSLContext, handler: Handler, handshake_timeout: float | None = 60.0
    ) -> None:
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self.sslobj = ctx.wrap_bio(self._in, self._out, server_side=True)
        self._handler = handler
        self._handshake_timeout = handshake_timeout
        self._timer: asyncio.TimerHandle | None = None
        self.raw: asyncio.Transport = None  # type: ignore[assignment]
        self._app: asyncio.StreamReaderProtocol | None = None
        self._established = False
        self.eof_sent = False
        self._eof_seen = False
        self._refused = False

    # ---- raw transport events -------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.raw = transport
        if self._handshake_timeout:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self._handshake_timeout, self._handshake_expired)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # what a refused client still sends (its first request) is dropped
        self._in.write(data)
        if not self._established:
            self._handshake()
            if not self._established:
                return
        self._decrypt()

    def eof_received(self) -> bool:
        if not self._established or self._refused:
            self.raw.close()
            return False
        # A FIN without close_notify ends the input all the same. It is not told to
        # OpenSSL: an unexpected EOF would fail the whole TLS session, writes too.
        self._input_ended()
        return True  # keep our side open: the answer may still be on its way

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._app is not None:
            self._app.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._app is not None:
            self._app.pause_writing()

    def resume_writing(self) -> None:
        if self._app is not None:
            self._app.resume_writing()

    # ---- TLS ------------------------------------------------------------
    def _flush(self) -> None:
        data = self._out.read()
        if data and not self.raw.is_closing():
            self.raw.write(data)

    def _handshake(self) -> None:
        try:
            self.sslobj.do_handshake()
        except ssl.SSLWantReadError:
            self._flush()
            return
        except (ssl.SSLError, OSError) as exc:
            log.info("TLS handshake with %s refused: %s", self._peer(), _reason(exc))
            self._refuse()
            return
        self._flush()
        self._established = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=_LIMIT, loop=loop)
        self._app = asyncio.StreamReaderProtocol(reader, self._handler, loop=loop)
        self._app.connection_made(_TLSTransport(self))

    def _refuse(self) -> None:
        """Send OpenSSL's alert (it tells the client why), then close gently: our side
        first, theirs when the client is done. Closing at once with the client's
        request still unread would reset the connection, and the reset can overtake
        the alert."""
        self._refused = True
        self._flush()
        if self._timer is not None:
            self._timer.cancel()
        if self.raw.can_write_eof():
            self.raw.write_eof()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(2.0, self.raw.close)

    def _decrypt(self) -> None:
        app = self._app
        assert app is not None
        while True:
            try:
                chunk = self.sslobj.read(_READ)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:  # close_notify: the client's input ends here
                self._input_ended()
                break
            except ssl.SSLError as exc:
                log.info("TLS error from %s: %s", self._peer(), _reason(exc))
                self._flush()
                self.raw.abort()
                return
            if not chunk:
                self._input_ended()
                break
            app.data_received(chunk)
        self._flush()  # e.g. a key update's answer

    def _input_ended(self) -> None:
        if self._eof_seen:
            return
        self._eof_seen = True
        assert self._app is not None
        self._app.eof_received()

    def encrypt(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = self.sslobj.write(view)
            view = view[n:]
        self._flush()

    def send_close_notify(self) -> None:
        if self.eof_sent or not self._established:
            return
        self.eof_sent = True
        try:
            self.sslobj.unwrap()
        except (ssl.SSLWantReadError, ssl.SSLError, OSError):
            pass  # sent; the client's own close_notify is not waited for
        self._flush()

    def _handshake_expired(self) -> None:
        self._timer = None
        if not self._established:
            log.info("TLS handshake with %s timed out", self._peer())
            self.raw.abort()

    def _peer(self) -> str:
        peer = self.raw.get_extra_info("peername") if self.raw is not None else None
        if isinstance(peer, tuple) and len(peer) >= 2:
            return f"{peer[0]}:{peer[1]}"
        return str(peer or "?")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason).lower().replace("_", " ")
    return str(exc)


async def start_tls_server(
    handler: Handler,
    ctx: ssl.SSLContext,
    *,
    host: str | None = None,
    port: int | None = None,
    sock: socket.socket | None = None,
    handshake_timeout: float | None = 60.0,
) -> asyncio.base_events.Server:
    """Like `asyncio.start_server(handler, ..., ssl=ctx)`, with TLS half-close kept."""
    loop = asyncio.get_running_loop()

    def factory() -> TLSProtocol:
        return TLSProtocol(ctx, handler, handshake_timeout)

    if sock is not None:
        return await loop.create_server(factory, sock=sock, backlog=1024)
    return await loop.create_server(factory, host, port or 0, reuse_address=True, backlog=1024)
