"""The HTTP/1.1 transport against a real unix-socket server."""

from __future__ import annotations

import contextlib
import io
import json
import socket
import threading
from collections.abc import Iterator

import pytest

from berth.client.api import Client
from berth.client.errors import APIError, DaemonUnreachable, StreamError
from berth.client.hosts import parse_host
from berth.client.transport import Transport, build_path
from tests.unit.client.httpfake import FakeDaemon, Handler, Received, json_reply


@pytest.fixture
def serve() -> Iterator[object]:
    servers: list[FakeDaemon] = []

    def make(handler: Handler) -> FakeDaemon:
        s = FakeDaemon(handler)
        servers.append(s)
        return s

    try:
        yield make
    finally:
        for s in servers:
            s.close()
            assert not s.errors, s.errors


def test_content_length_json(serve) -> None:  # type: ignore[no-untyped-def]
    srv = serve(lambda req, c: json_reply(c, 200, b'{"Version":"9"}'))
    assert Client(srv.url).version() == {"Version": "9"}
    req = srv.requests[0]
    assert (req.method, req.target) == ("GET", "/v1.50/version")
    assert req.headers["host"]


def test_chunked_response_split_oddly(serve) -> None:  # type: ignore[no-untyped-def]
    def handler(req: Received, c: socket.socket) -> None:
        c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for piece in (b"5\r\nhel", b"lo\r\n", b"6;ext=1\r\n world\r\n", b"0\r\n\r\n"):
            c.sendall(piece)

    srv = serve(handler)
    t = Transport(parse_host(srv.url), "1.50")
    with t.request("GET", "/x") as resp:
        assert resp.read() == b"hello world"


def test_body_until_close_without_length(serve) -> None:  # type: ignore[no-untyped-def]
    srv = serve(lambda req, c: c.sendall(b"HTTP/1.0 200 OK\r\n\r\nall of it"))
    with Transport(parse_host(srv.url), None).request("GET", "/x") as resp:
        assert resp.read() == b"all of it"
    assert srv.requests[0].target == "/x"


def test_error_status_raises_with_daemon_message(serve) -> None:  # type: ignore[no-untyped-def]
    srv = serve(lambda req, c: json_reply(c, 404, b'{"message":"No such container: foo"}'))
    with pytest.raises(APIError) as ei:
        Client(srv.url).inspect_container("foo")
    assert ei.value.status == 404
    assert str(ei.value) == "Error response from daemon: No such container: foo"


def test_error_status_with_plain_body(serve) -> None:  # type: ignore[no-untyped-def]
    srv = serve(lambda req, c: json_reply(c, 500, b"boom"))
    with pytest.raises(APIError, match="boom"):
        Client(srv.url).info()


def test_query_encoding_and_filters(serve) -> None:  # type: ignore[no-untyped-def]
    srv = serve(lambda req, c: json_reply(c, 200, b"[]"))
    Client(srv.url).containers(all=True, limit=3, filters={"status": ["exited"]})
    target = srv.requests[0].target
    path, _, qs = target.partition("?")
    assert path == "/v1.50/containers/json"
    from urllib.parse import parse_qs

    q = parse_qs(qs)
    assert q["all"] == ["1"] and q["limit"] == ["3"]
    assert json.loads(q["filters"][0]) == {"status": {"exited": True}}


def test_build_path_drops_none_and_writes_bools() -> None:
    assert build_path("/p", {"a": None, "b": True, "c": False, "d": "x y"}) == "/p?b=1&c=0&d=x+y"
    assert build_path("/p", {"a": None}) == "/p"


def test_json_body_and_name_quoting(serve) -> None:  # type: ignore[no-untyped-def]
    srv = serve(lambda req, c: json_reply(c, 201, b'{"Id":"abc","Warnings":[]}'))
    out = Client(srv.url).create_container({"Image": "busybox"}, name="web")
    assert out["Id"] == "abc"
    req = srv.requests[0]
    assert req.target == "/v1.50/containers/create?name=web"
    assert req.headers["content-type"] == "application/json"
    assert json.loads(req.body) == {"Image": "busybox"}


def test_streamed_upload_is_chunked(serve) -> None:  # type: ignore[no-untyped-def]
    srv = serve(lambda req, c: json_reply(c, 200, b'{"stream":"Loaded image: x:1\\n"}'))
    data = bytes(range(256)) * 9000
    with Client(srv.url).load(io.BytesIO(data)) as resp:
        assert list(resp.iter_json_lines()) == [{"stream": "Loaded image: x:1\n"}]
    req = srv.requests[0]
    assert req.headers["transfer-encoding"] == "chunked"
    assert req.headers["content-type"] == "application/x-tar"
    assert req.body == data


def test_json_lines_split_across_chunks(serve) -> None:  # type: ignore[no-untyped-def]
    def handler(req: Received, c: socket.socket) -> None:
        c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        body = b'{"status":"a"}\r\n{"status":"b"}{"error":"bad","errorDetail":{"message":"bad"}}'
        # the client hangs up once it has read the error: the rest may meet a closed socket
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            for i in range(0, len(body), 7):
                part = body[i : i + 7]
                c.sendall(b"%x\r\n%s\r\n" % (len(part), part))
            c.sendall(b"0\r\n\r\n")

    srv = serve(handler)
    from berth.cli.progress import show

    out = io.StringIO()
    with Client(srv.url).pull("x", "1") as resp, pytest.raises(StreamError, match="bad"):
        show(resp.iter_json_lines(), out)
    assert out.getvalue() == "a\nb\n"


def test_unreachable_socket() -> None:
    with pytest.raises(DaemonUnreachable) as ei:
        Client("unix:///tmp/bt-definitely-missing.sock").ping()
    assert str(ei.value) == (
        "Cannot connect to the berth daemon at unix:///tmp/bt-definitely-missing.sock. "
        "Is the berth daemon running?"
    )


def test_wait_headers_arrive_before_body(serve) -> None:  # type: ignore[no-untyped-def]
    release = threading.Event()

    def handler(req: Received, c: socket.socket) -> None:
        c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        release.wait(10)
        body = b'{"StatusCode":7,"Error":null}\n'
        c.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))

    srv = serve(handler)
    resp = Client(srv.url).wait_request("c1", "next-exit")  # returns on headers alone
    assert srv.requests[0].target == "/v1.50/containers/c1/wait?condition=next-exit"
    release.set()
    with resp:
        assert resp.json() == {"StatusCode": 7, "Error": None}


def test_hijack_keeps_bytes_behind_the_head(serve) -> None:  # type: ignore[no-untyped-def]
    def handler(req: Received, c: socket.socket) -> None:
        c.sendall(
            b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
            b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\nearly"
        )
        got = b""
        while True:
            data = c.recv(100)
            if not data:
                break
            got += data
        c.sendall(b"echo:" + got)

    srv = serve(handler)
    sock, reader = Client(srv.url).attach("c1", stdin=True)
    try:
        assert reader.buf == b"early"
        sock.sendall(b"typed")
        sock.shutdown(socket.SHUT_WR)
        rest = b""
        while data := sock.recv(100):
            rest += data
        assert rest == b"echo:typed"
    finally:
        sock.close()
    req = srv.requests[0]
    assert req.headers["upgrade"] == "tcp" and req.headers["connection"] == "Upgrade"
    assert req.target.startswith("/v1.50/containers/c1/attach?")
    assert "stream=1" in req.target and "stdin=1" in req.target
