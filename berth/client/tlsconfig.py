"""TLS for the blocking client: the ssl context from TLSSettings, and a TLS connection.

Imported only when a connection uses TLS (ssl is not loaded by ordinary commands).

Why a connection of our own over ``ssl.MemoryBIO`` rather than ``ssl.SSLSocket``:
attach and exec read and write one connection from two threads, and end their input
with a half-close while still reading the output. The docker CLI does that over TLS
with ``tls.Conn.CloseWrite``: it sends a close_notify alert and keeps reading (the TCP
stream stays open). ``SSLSocket`` can do neither safely: one SSL object is not meant
to be driven from two threads at once, ``SSLSocket.shutdown`` drops the TLS layer, and
``unwrap`` reads from the socket and fails on output that is already in flight
("application data after close notify"). Here every SSLObject call is made under one
lock, the socket reads happen outside it, and ``shutdown(SHUT_WR)`` first moves every
complete record already received into a plaintext buffer, so the close_notify is sent
with the incoming BIO empty; reading goes on afterwards until the daemon's own
close_notify or EOF. berthd treats the close_notify as the end of the input only.
"""

from __future__ import annotations

import socket
import ssl
import threading

from berth.client.contexts import TLSSettings
from berth.client.errors import TLSError

_RECV = 1 << 16


def client_context(settings: TLSSettings) -> ssl.SSLContext:
    """An SSLContext as docker's tlsconfig.Client builds it (TLS >= 1.2).

    With verification: the server's chain is checked against the CA (the system's roots
    when there is no CA file) and its name against the host. Without: nothing is checked
    (--tls alone). The client certificate and key are loaded when both are set.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if settings.verify:
        ctx.check_hostname = True
        ctx.verify_mode = ssl.CERT_REQUIRED
        if settings.ca:
            try:
                ctx.load_verify_locations(cafile=settings.ca)
            except (ssl.SSLError, ValueError):
                raise TLSError(
                    f"failed to retrieve context tls info: {_base(settings.ca)} seems invalid"
                ) from None
            except OSError as exc:
                raise TLSError(f"could not read CA certificate {settings.ca!r}: {exc}") from None
        else:
            ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if settings.cert and settings.key:
        try:
            ctx.load_cert_chain(settings.cert, settings.key)
        except ssl.SSLError as exc:
            raise TLSError(f"Could not load X509 key pair: {_reason(exc)}") from None
        except OSError as exc:
            raise TLSError(f"Could not load X509 key pair: {exc.strerror or exc}") from None
    elif settings.cert or settings.key:
        missing = "key" if settings.cert else "certificate"
        raise TLSError(f"Could not load X509 key pair: no {missing} file")
    return ctx


def _base(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def _reason(exc: ssl.SSLError) -> str:
    """A one-line reason from an ssl error: OpenSSL's reason, lower case, like Go's text."""
    reason = getattr(exc, "reason", None) or ""
    verify = getattr(exc, "verify_message", None)
    if verify:
        return f"{reason.lower().replace('_', ' ')}: {verify}" if reason else str(verify)
    if reason:
        return reason.lower().replace("_", " ")
    return str(exc.args[1] if len(exc.args) > 1 else exc)


class TLSSocket:
    """A TLS client connection over a connected TCP socket, with the socket methods the
    transport and the attach streams use: recv, sendall, shutdown, close, settimeout.

    Thread-safe for one reader and one writer at a time (attach's two threads).
    """

    def __init__(self, raw: socket.socket, ctx: ssl.SSLContext, server_hostname: str | None):
        self.raw = raw
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._obj = ctx.wrap_bio(self._in, self._out, server_hostname=server_hostname)
        self._lock = threading.Lock()  # the SSLObject and both BIOs
        self._send_lock = threading.Lock()  # the order of bytes on the wire; taken first
        self._plain = b""  # records decrypted early, before our close_notify
        self._eof = False
        self._write_closed = False

    # ---- plumbing -------------------------------------------------------
    def _flush(self) -> None:
        with self._send_lock:
            with self._lock:
                data = self._out.read()
            if data:
                self.raw.sendall(data)

    def _feed(self) -> None:
        data = self.raw.recv(_RECV)
        with self._lock:
            if data:
                self._in.write(data)
            else:
                self._in.write_eof()

    def do_handshake(self) -> None:
        """Run the TLS handshake; a failure is a TLSError with a one-line reason."""
        while True:
            err: ssl.SSLError | None = None
            done = False
            with self._lock:
                try:
                    self._obj.do_handshake()
                    done = True
                except ssl.SSLWantReadError:
                    pass
                except ssl.SSLError as exc:
                    err = exc
            if err is not None:
                try:
                    self._flush()  # our alert, so the daemon logs why
                except OSError:
                    pass
                raise TLSError(_reason(err))
            self._flush()
            if done:
                return
            self._feed()

    # ---- the socket API ---------------------------------------------------
    def recv(self, n: int = _RECV) -> bytes:
        """Up to n bytes of plaintext; b"" at the daemon's close_notify or EOF."""
        while True:
            with self._lock:
                if self._plain:
                    head, self._plain = self._plain[:n], self._plain[n:]
                    return head
                if self._eof:
                    return b""
                data: bytes | None
                try:
                    data = self._obj.read(n)
                except ssl.SSLWantReadError:
                    data = None
                except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                    self._eof = True
                    return b""
                except ssl.SSLError as exc:
                    raise TLSError(_reason(exc)) from None
                if data is not None:
                    if not data:
                        self._eof = True
                    return data
            self._flush()  # TLS 1.3 may answer a key update
            self._feed()

    def sendall(self, data: bytes) -> None:
        """Encrypt and send everything."""
        with self._send_lock:
            with self._lock:
                view = memoryview(data)
                try:
                    while view:
                        n = self._obj.write(view)
                        view = view[n:]
                except ssl.SSLError as exc:
                    raise TLSError(_reason(exc)) from None
                out = self._out.read()
            self.raw.sendall(out)

    def send(self, data: bytes) -> int:
        """Like sendall; returns len(data)."""
        self.sendall(data)
        return len(data)

    def shutdown(self, how: int) -> None:
        """SHUT_WR (or RDWR): end our side with a close_notify, as Go's tls.Conn.CloseWrite
        does; the TCP stream stays open for the output still to come."""
        if how == socket.SHUT_RD:
            return
        with self._send_lock:
            with self._lock:
                if self._write_closed:
                    return
                self._write_closed = True
                self._drain_locked()
                try:
                    self._obj.unwrap()
                except ssl.SSLWantReadError:
                    pass  # the daemon's close_notify comes later, read by recv
                except ssl.SSLError:
                    pass
                out = self._out.read()
            if out:
                self.raw.sendall(out)

    def _drain_locked(self) -> None:
        while not self._eof:
            try:
                chunk = self._obj.read(_RECV)
            except ssl.SSLWantReadError:
                return
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                self._eof = True
                return
            except ssl.SSLError:
                return
            if not chunk:
                self._eof = True
                return
            self._plain += chunk

    def settimeout(self, value: float | None) -> None:
        """Timeout of the socket operations underneath."""
        self.raw.settimeout(value)

    def fileno(self) -> int:
        """The TCP socket's descriptor (buffered plaintext may be waiting: do not select)."""
        return self.raw.fileno()

    def close(self) -> None:
        """Close the TCP connection."""
        self.raw.close()


def wrap(raw: socket.socket, settings: TLSSettings, server_hostname: str) -> TLSSocket:
    """Run the handshake over raw; the TLSSocket on success, TLSError (raw closed) if not."""
    try:
        ctx = client_context(settings)
        conn = TLSSocket(raw, ctx, server_hostname)
        conn.do_handshake()
    except BaseException:
        raw.close()
        raise
    return conn
