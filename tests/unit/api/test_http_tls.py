"""TLS as berthd serves it (berth.daemon.tlsserve), with a TLS client driven by hand:
a client's close_notify or FIN ends only its input, our answer still arrives, and a
client refused at the handshake receives the alert that says why."""

from __future__ import annotations

import asyncio
import socket
import ssl
from pathlib import Path

import pytest

from berth.daemon.tlsserve import start_tls_server
from tests.compat.daemon.test_tls_streams import _write_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("pki")
    _write_pki(d)
    return d


def server_ctx(pki: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki / "server-cert.pem", pki / "server-key.pem")
    ctx.load_verify_locations(pki / "ca.pem")
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def client_ctx(pki: Path, cert: bool = True) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(pki / "ca.pem")
    if cert:
        ctx.load_cert_chain(pki / "cert.pem", pki / "key.pem")
    return ctx


def client(port: int, ctx: ssl.SSLContext, payload: bytes, end: str) -> bytes:
    """Send payload, end the input (`close_notify` or a TCP `fin`), read to the end."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")

    def flush() -> None:
        if data := out.read():
            sock.sendall(data)

    def fill() -> None:
        data = sock.recv(65536)
        if data:
            inc.write(data)
        else:
            inc.write_eof()

    with sock:
        while True:
            try:
                obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                flush()
                fill()
        flush()
        obj.write(payload)
        flush()
        if end == "close_notify":
            try:
                obj.unwrap()
            except ssl.SSLWantReadError:
                pass
            flush()
        else:
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:  # refused at the handshake: the alert is there to read
                pass
        got = b""
        while True:
            try:
                chunk = obj.read(65536)
            except ssl.SSLWantReadError:
                fill()
                continue
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                break
            if not chunk:
                break
            got += chunk
        return got


async def _echo_after_eof(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read everything the client sends, then answer (as an attach does)."""
    data = await reader.read()
    writer.write(b"got " + data)
    await writer.drain()
    writer.write_eof()
    writer.close()


async def _serve_one(pki: Path, ctx: ssl.SSLContext, payload: bytes, end: str) -> bytes:
    srv = await start_tls_server(_echo_after_eof, server_ctx(pki), host="127.0.0.1", port=0)
    port = srv.sockets[0].getsockname()[1]
    try:
        return await asyncio.to_thread(client, port, ctx, payload, end)
    finally:
        srv.close()


@pytest.mark.parametrize("end", ["close_notify", "fin"])
def test_the_clients_eof_ends_only_its_input(pki: Path, end: str) -> None:
    payload = b"stdin " * 50_000
    got = asyncio.run(_serve_one(pki, client_ctx(pki), payload, end))
    assert got == b"got " + payload


def test_a_client_without_a_certificate_gets_an_alert(pki: Path) -> None:
    with pytest.raises(ssl.SSLError) as info:
        asyncio.run(_serve_one(pki, client_ctx(pki, cert=False), b"GET /_ping", "fin"))
    assert "CERTIFICATE_REQUIRED" in str(info.value)
