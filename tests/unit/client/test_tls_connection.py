"""The client's TLS connection against a real TLS server on loopback: verification,
client certificates, keep-alive after the version ping, and the half-close (close_notify)
that attach and exec use to end their input while the output still comes."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from berth.cli.commands import tls as tlscmd
from berth.client.contexts import TLSSettings
from berth.client.errors import TLSError
from berth.client.hosts import Host
from berth.client.tlsconfig import TLSSocket, client_context
from berth.client.transport import Transport

Serve = Callable[[ssl.SSLSocket], None]


class Certs:
    """A CA, a server cert for 127.0.0.1 (or other SANs) and a client cert, as files."""

    def __init__(self, d: Path, sans: list[tuple[str, str]] | None = None) -> None:
        ca, ca_key = tlscmd.make_ca(1)
        server, server_key = tlscmd.make_server(ca, ca_key, sans or [("IP", "127.0.0.1")], 1)
        client, client_key = tlscmd.make_client(ca, ca_key, "tester", 1)
        self.dir = d
        for name, obj in (("ca", ca), ("server-cert", server), ("cert", client)):
            (d / f"{name}.pem").write_bytes(tlscmd._cert_pem(obj))
        for name, key in (("ca-key", ca_key), ("server-key", server_key), ("key", client_key)):
            (d / f"{name}.pem").write_bytes(tlscmd._key_pem(key))

    def p(self, name: str) -> str:
        return str(self.dir / f"{name}.pem")

    def client_settings(self, verify: bool = True, cert: bool = True) -> TLSSettings:
        if not cert:
            return TLSSettings(ca=self.p("ca"), verify=verify)
        return TLSSettings(self.p("ca"), self.p("cert"), self.p("key"), verify)


class TLSServer:
    """Accepts TLS connections (client certs required) and runs serve() on each."""

    def __init__(self, certs: Certs, serve: Serve, require_client_cert: bool = True) -> None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(certs.p("server-cert"), certs.p("server-key"))
        if require_client_cert:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(certs.p("ca"))
        self.ctx = ctx
        self.serve = serve
        self.lsock = socket.create_server(("127.0.0.1", 0))
        self.port = self.lsock.getsockname()[1]
        self.handshakes = 0
        self.errors: list[BaseException] = []
        self.peer_cns: list[str] = []
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self) -> None:
        while True:
            try:
                raw, _ = self.lsock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(raw,), daemon=True).start()

    def _one(self, raw: socket.socket) -> None:
        try:
            with self.ctx.wrap_socket(raw, server_side=True) as conn:
                self.handshakes += 1
                cert = conn.getpeercert()
                if cert:
                    self.peer_cns += [
                        v for rdn in cert["subject"] for k, v in rdn if k == "commonName"
                    ]
                self.serve(conn)
        except (ssl.SSLError, OSError) as exc:
            self.errors.append(exc)

    def close(self) -> None:
        self.lsock.close()


@pytest.fixture
def certs(tmp_path: Path) -> Certs:
    return Certs(tmp_path)


@pytest.fixture
def server(certs: Certs) -> Iterator[Callable[..., TLSServer]]:
    made: list[TLSServer] = []

    def make(serve: Serve, **kw: bool) -> TLSServer:
        s = TLSServer(certs, serve, **kw)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def http_server(conn: ssl.SSLSocket) -> None:
    """Answers every request on the connection: /_ping says API-Version 1.41."""
    buf = b""
    while True:
        while b"\r\n\r\n" not in buf:
            data = conn.recv(65536)
            if not data:
                return
            buf += data
        head, _, buf = buf.partition(b"\r\n\r\n")
        target = head.split(b" ")[1]
        body = b"OK" if target == b"/_ping" else b'{"path": "%s"}' % target
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Length: %d\r\n\r\n%s"
            % (len(body), body)
        )


def test_request_over_tls_negotiates_on_one_connection(
    certs: Certs, server: Callable[..., TLSServer]
) -> None:
    srv = server(http_server)
    t = Transport(Host("tcp", host="127.0.0.1", port=srv.port), "auto", tls=certs.client_settings())
    with t.request("GET", "/containers/json") as resp:
        assert resp.json() == {"path": "/v1.41/containers/json"}
    assert srv.handshakes == 1  # the ping's connection carried the request too
    assert srv.peer_cns == ["tester"]


def test_server_name_is_checked(tmp_path: Path, server: Callable[..., TLSServer]) -> None:
    other = Certs(tmp_path, sans=[("DNS", "elsewhere.example")])
    srv = TLSServer(other, http_server)
    try:
        t = Transport(
            Host("tcp", host="127.0.0.1", port=srv.port), "1.50", tls=other.client_settings()
        )
        with pytest.raises(TLSError) as ei:
            t.request("GET", "/x")
        msg = str(ei.value)
        assert msg.startswith(f"error during connect: tcp://127.0.0.1:{srv.port}: tls: ")
        assert "IP address mismatch" in msg and "\n" not in msg
    finally:
        srv.close()


def test_unknown_ca_is_refused(
    tmp_path: Path, certs: Certs, server: Callable[..., TLSServer]
) -> None:
    srv = server(http_server)
    (tmp_path / "x").mkdir()
    stranger = Certs(tmp_path / "x")
    settings = TLSSettings(stranger.p("ca"), certs.p("cert"), certs.p("key"), True)
    t = Transport(Host("tcp", host="127.0.0.1", port=srv.port), "1.50", tls=settings)
    with pytest.raises(TLSError, match="certificate verify failed"):
        t.request("GET", "/x")


def test_tls_without_verify_accepts_any_server(
    tmp_path: Path, certs: Certs, server: Callable[..., TLSServer]
) -> None:
    srv = server(http_server)
    (tmp_path / "x").mkdir()
    stranger = Certs(tmp_path / "x")  # its CA does not know the server: no matter
    settings = TLSSettings(stranger.p("ca"), certs.p("cert"), certs.p("key"), verify=False)
    t = Transport(Host("tcp", host="127.0.0.1", port=srv.port), "1.50", tls=settings)
    with t.request("GET", "/x") as resp:
        assert resp.json() == {"path": "/v1.50/x"}


def test_missing_client_cert_is_refused_by_the_server(
    certs: Certs, server: Callable[..., TLSServer]
) -> None:
    srv = server(http_server)
    t = Transport(
        Host("tcp", host="127.0.0.1", port=srv.port), "1.50", tls=certs.client_settings(cert=False)
    )
    with pytest.raises(TLSError) as ei:
        t.request("GET", "/x")
    assert str(ei.value).startswith(f"error during connect: tcp://127.0.0.1:{srv.port}: tls: ")


def test_bad_key_file_is_one_line(tmp_path: Path, certs: Certs) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key\n")
    with pytest.raises(TLSError, match=r"^Could not load X509 key pair: "):
        client_context(TLSSettings(certs.p("ca"), certs.p("cert"), str(bad)))
    with pytest.raises(TLSError, match=r"^Could not load X509 key pair: key values mismatch"):
        client_context(TLSSettings(certs.p("ca"), certs.p("cert"), certs.p("server-key")))
    (tmp_path / "ca.pem").write_text("junk\n")
    with pytest.raises(
        TLSError, match=r"^failed to retrieve context tls info: ca.pem seems invalid$"
    ):
        client_context(TLSSettings(str(tmp_path / "ca.pem")))


def test_half_close_sends_close_notify_and_keeps_reading(
    certs: Certs, server: Callable[..., TLSServer]
) -> None:
    """shutdown(SHUT_WR) ends our input with a close_notify (as Go's CloseWrite does);
    records already received but not yet read survive it, and the output after it comes."""
    sent_two = threading.Event()
    got: list[bytes] = []

    def serve(conn: ssl.SSLSocket) -> None:
        conn.sendall(b"one")
        conn.sendall(b"two")  # a second record, behind the first
        sent_two.set()
        while data := conn.recv(65536):  # until the client's close_notify
            got.append(data)
        conn.sendall(b"after-eof")
        conn.unwrap()

    srv = server(serve)
    raw = socket.create_connection(("127.0.0.1", srv.port))
    conn = TLSSocket(raw, client_context(certs.client_settings()), "127.0.0.1")
    try:
        conn.do_handshake()
        conn.sendall(b"input")
        assert sent_two.wait(10)
        first = conn.recv(65536)
        conn.shutdown(socket.SHUT_WR)
        rest = b""
        while data := conn.recv(65536):
            rest += data
    finally:
        conn.close()
    assert first + rest == b"onetwoafter-eof"
    assert b"".join(got) == b"input"
    assert not srv.errors


def test_two_threads_read_and_write_one_connection(
    certs: Certs, server: Callable[..., TLSServer]
) -> None:
    """attach copies stdin and stdout on two threads over one connection."""

    def echo(conn: ssl.SSLSocket) -> None:
        while data := conn.recv(65536):
            conn.sendall(data)

    srv = server(echo)
    raw = socket.create_connection(("127.0.0.1", srv.port))
    conn = TLSSocket(raw, client_context(certs.client_settings()), "127.0.0.1")
    conn.do_handshake()
    payload = bytes(range(256)) * 2000
    writer = threading.Thread(target=lambda: [conn.sendall(payload), conn.shutdown(socket.SHUT_WR)])
    writer.start()
    back = b""
    while data := conn.recv(65536):
        back += data
    writer.join()
    conn.close()
    assert back == payload
