"""The HTTP layer over a real socket pair: versions, errors, chunked bodies, keep-alive."""

import asyncio
import json

from berth.api.http.response import StreamResponse, json_response
from berth.api.http.router import Route, Router
from berth.api.http.server import INTERNAL_ERROR, HTTPServer
from berth.engine.errors import Conflict, Forbidden


async def echo(req, eng):
    body = await req.json()
    return json_response({"path": req.path, "version": req.api_version, "body": body})


async def conflict(req, eng):
    raise Conflict("it clashes")


async def boom(req, eng):
    raise RuntimeError("bug")


async def stream(req, eng):
    async def gen():
        yield b"a"
        yield b"bc"

    return StreamResponse(gen())


def make_server() -> HTTPServer:
    router = Router()
    router.add_all(
        [
            Route("POST", "/echo", echo),
            Route("GET", "/conflict", conflict),
            Route("GET", "/boom", boom),
            Route("GET", "/stream", stream),
        ]
    )
    return HTTPServer(router, None)


async def roundtrip(raw: bytes) -> bytes:
    server = make_server()
    srv = await asyncio.start_server(server.handle_connection, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(raw)
    await w.drain()
    out = await asyncio.wait_for(r.read(), 5)
    w.close()
    srv.close()
    return out


def run(raw: bytes) -> bytes:
    return asyncio.run(roundtrip(raw))


def test_versioned_path_and_json_body() -> None:
    out = run(
        b"POST /v1.41/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\n\r\n"
        b'{"a":1}'
    )
    assert out.startswith(b"HTTP/1.1 200 OK")
    assert b"Api-Version: 1.50" in out
    body = json.loads(out.split(b"\r\n\r\n", 1)[1])
    assert body == {"path": "/echo", "version": "1.41", "body": {"a": 1}}


def test_chunked_request_body() -> None:
    out = run(
        b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\n\r\n"
        b'3\r\n{"a\r\n4\r\n":2}\r\n0\r\n\r\n'
    )
    assert json.loads(out.split(b"\r\n\r\n", 1)[1])["body"] == {"a": 2}


def test_errors_are_typed_and_json() -> None:
    out = run(b"GET /conflict HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 409")
    assert json.loads(out.split(b"\r\n\r\n", 1)[1]) == {"message": "it clashes"}
    out = run(b"GET /boom HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 500 Internal Server Error")
    # a bug in berth: logged, answered without the exception's name or text
    assert json.loads(out.split(b"\r\n\r\n", 1)[1]) == {"message": INTERNAL_ERROR}
    out = run(b"GET /v1.99/echo HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400") and b"too new" in out
    out = run(b"GET /v1.12/echo HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400") and b"too old" in out
    out = run(
        b"POST /echo HTTP/1.1\r\nContent-Length: 3\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\n\r\n{x}"
    )
    assert out.startswith(b"HTTP/1.1 400") and b"invalid JSON" in out
    out = run(b"GET /missing HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 404")


def test_keep_alive_serves_two_requests_on_one_connection() -> None:
    req = b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"
    out = run(req + req.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
    assert out.count(b"HTTP/1.1 200 OK") == 2
    assert b"1\r\na\r\n2\r\nbc\r\n0\r\n\r\n" in out


def body_of(out: bytes) -> dict:
    return json.loads(out.split(b"\r\n\r\n", 1)[1])


def post_echo(ctype: bytes | None, body: bytes) -> bytes:
    ct = b"Content-Type: " + ctype + b"\r\n" if ctype is not None else b""
    return run(
        b"POST /echo HTTP/1.1\r\nConnection: close\r\n%sContent-Length: %d\r\n\r\n%s"
        % (ct, len(body), body)
    )


def test_json_bodies_must_be_application_json() -> None:
    for ct in (b"text/plain", b"application/x-www-form-urlencoded", b"multipart/form-data"):
        out = post_echo(ct, b'{"a":1}')
        assert out.startswith(b"HTTP/1.1 400 Bad Request")
        assert body_of(out) == {
            "message": f"unsupported Content-Type header ({ct.decode()}): must be "
            "'application/json'"
        }
    out = post_echo(None, b'{"a":1}')
    assert body_of(out) == {"message": "malformed Content-Type header (): mime: no media type"}
    assert body_of(post_echo(b"application", b"{}"))["message"].startswith("malformed")
    for ok in (b"application/json", b"application/json; charset=utf-8", b"APPLICATION/JSON;"):
        assert body_of(post_echo(ok, b'{"a":1}'))["body"] == {"a": 1}
    # an empty body needs no Content-Type (dockerd's CheckForJSON)
    assert body_of(post_echo(None, b""))["body"] is None


def test_json_nesting_is_bounded_without_recursion_errors() -> None:
    out = post_echo(b"application/json", b"[" * 100_000 + b"]" * 100_000)
    assert out.startswith(b"HTTP/1.1 400")
    msg = body_of(out)["message"]
    assert "nested deeper than 256" in msg and "Recursion" not in msg
    ok = b"[" * 200 + b"]" * 200
    assert body_of(post_echo(b"application/json", ok))["body"] is not None
    # brackets inside strings are not nesting
    s = b'{"a":"' + b"[" * 1000 + b'"}'
    assert body_of(post_echo(b"application/json", s))["body"] == {"a": "[" * 1000}


def test_json_is_decoded_once() -> None:
    seen = []

    async def twice(req, eng):
        first = await req.json()
        seen.append(first is await req.json())
        return json_response({})

    router = Router()
    router.add(Route("POST", "/twice", twice))

    async def go() -> None:
        server = HTTPServer(router, None)
        srv = await asyncio.start_server(server.handle_connection, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(
            b"POST /twice HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 7\r\n"
            b'Connection: close\r\n\r\n{"a":1}'
        )
        await asyncio.wait_for(r.read(), 5)
        w.close()
        srv.close()

    asyncio.run(go())
    assert seen == [True]


def test_header_too_large_has_its_reason_phrase() -> None:
    out = run(b"GET /stream HTTP/1.1\r\nX: " + b"a" * (70 << 10) + b"\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert b"Connection: close" in out


class RecordingPolicy:
    name = "test"

    def __init__(self, everything: bool = False) -> None:
        self.everything = everything
        self.calls: list[tuple[str, str, object]] = []

    def allows_everything(self) -> bool:
        return self.everything

    async def check(self, req, route, backend) -> None:
        body = await req.json() if req.has_body else None
        self.calls.append((req.method, route.pattern, body))
        if req.method == "POST":
            raise Forbidden(
                f"berth: the test policy of this socket does not allow POST {route.pattern}"
            )


async def _with_policy(policy: RecordingPolicy, raw: bytes) -> bytes:
    server = make_server()
    srv = await asyncio.start_server(server.handler(policy), "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(raw)
    out = await asyncio.wait_for(r.read(), 5)
    w.close()
    srv.close()
    return out


def test_the_policy_sees_the_matched_route_after_the_version_gate() -> None:
    p = RecordingPolicy()
    out = asyncio.run(
        _with_policy(
            p,
            b"POST /v1.44/echo HTTP/1.1\r\nContent-Type: application/json\r\n"
            b'Content-Length: 7\r\n\r\n{"a":1}GET /v1.44/stream HTTP/1.1\r\nConnection: close\r\n\r\n',
        )
    )
    assert out.startswith(b"HTTP/1.1 403 Forbidden")
    assert b"does not allow POST /echo" in out
    assert out.count(b"HTTP/1.1 200 OK") == 1  # the GET after it is served
    assert p.calls == [("POST", "/echo", {"a": 1}), ("GET", "/stream", None)]
    # a version the daemon refuses, or a route that does not exist, never reach it
    p2 = RecordingPolicy()
    out = asyncio.run(_with_policy(p2, b"GET /v1.99/stream HTTP/1.1\r\nConnection: close\r\n\r\n"))
    assert out.startswith(b"HTTP/1.1 400") and p2.calls == []
    out = asyncio.run(_with_policy(p2, b"GET /nowhere HTTP/1.1\r\nConnection: close\r\n\r\n"))
    assert out.startswith(b"HTTP/1.1 404") and p2.calls == []


def test_a_policy_that_allows_everything_is_not_asked() -> None:
    p = RecordingPolicy(everything=True)
    out = asyncio.run(
        _with_policy(
            p,
            b"POST /echo HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
            b"Connection: close\r\n\r\n{}",
        )
    )
    assert out.startswith(b"HTTP/1.1 200 OK") and p.calls == []


def test_an_idle_or_slow_client_is_disconnected_but_a_stream_is_not() -> None:
    async def slow_stream(req, eng):
        async def gen():
            yield b"a"
            await asyncio.sleep(0.5)  # longer than the idle timeout below
            yield b"b"

        return StreamResponse(gen())

    router = Router()
    router.add(Route("GET", "/slow", slow_stream))

    async def go() -> tuple[bytes, bytes, bytes]:
        server = HTTPServer(router, None)
        server.idle_timeout = 0.2
        srv = await asyncio.start_server(server.handle_connection, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        r1, w1 = await asyncio.open_connection("127.0.0.1", port)
        w1.write(b"GET /slow HTTP/1.1\r\nHost: x\r\n")  # half a head, then silence
        r2, w2 = await asyncio.open_connection("127.0.0.1", port)  # nothing at all
        r3, w3 = await asyncio.open_connection("127.0.0.1", port)
        w3.write(b"GET /slow HTTP/1.1\r\nConnection: close\r\n\r\n")
        outs = await asyncio.wait_for(asyncio.gather(r1.read(), r2.read(), r3.read()), 10)
        for w in (w1, w2, w3):
            w.close()
        srv.close()
        return outs

    half, silent, streamed = asyncio.run(go())
    assert (half, silent) == (b"", b"")
    assert streamed.startswith(b"HTTP/1.1 200 OK") and streamed.endswith(
        b"1\r\na\r\n1\r\nb\r\n0\r\n\r\n"
    )


def test_connections_beyond_the_cap_get_a_503() -> None:
    async def go() -> tuple[bytes, bytes]:
        server = make_server()
        server.max_connections = 1
        srv = await asyncio.start_server(server.handle_connection, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        r1, w1 = await asyncio.open_connection("127.0.0.1", port)
        w1.write(b"GET /stream HTTP/1.1\r\n\r\n")  # kept alive: holds the one slot
        await r1.readuntil(b"0\r\n\r\n")
        r2, w2 = await asyncio.open_connection("127.0.0.1", port)
        refused = await asyncio.wait_for(r2.read(), 5)
        w1.close()
        await w1.wait_closed()
        while not server.connections == set():
            await asyncio.sleep(0.01)
        r3, w3 = await asyncio.open_connection("127.0.0.1", port)
        w3.write(b"GET /stream HTTP/1.1\r\nConnection: close\r\n\r\n")
        served = await asyncio.wait_for(r3.read(), 5)
        for w in (w2, w3):
            w.close()
        srv.close()
        return refused, served

    refused, served = asyncio.run(go())
    assert refused.startswith(b"HTTP/1.1 503 Service Unavailable")
    assert b"too many open connections" in refused
    assert served.startswith(b"HTTP/1.1 200 OK")


def test_a_stalled_body_is_cut_off() -> None:
    async def go() -> bytes:
        server = make_server()
        server.body_timeout = 0.2
        srv = await asyncio.start_server(server.handle_connection, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(
            b"POST /echo HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n"
            b'\r\n{"a":'
        )
        out = await asyncio.wait_for(r.read(), 10)
        w.close()
        srv.close()
        return out

    assert asyncio.run(go()) == b""


def test_a_large_unread_body_closes_the_connection_instead_of_being_read() -> None:
    async def go() -> bytes:
        server = make_server()
        srv = await asyncio.start_server(server.handle_connection, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        r, w = await asyncio.open_connection("127.0.0.1", port)
        # 1 GiB announced, a few bytes sent: the answer must not wait for the rest
        w.write(b"GET /conflict HTTP/1.1\r\nContent-Length: 1073741824\r\n\r\nabc")
        out = await asyncio.wait_for(r.read(), 5)
        w.close()
        srv.close()
        return out

    out = asyncio.run(go())
    assert out.startswith(b"HTTP/1.1 409 Conflict") and b"Connection: close" in out


def test_expect_100_continue_is_answered_when_the_body_is_read() -> None:
    async def go() -> bytes:
        server = make_server()
        srv = await asyncio.start_server(server.handle_connection, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(
            b"POST /echo HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 7\r\n"
            b"Expect: 100-continue\r\nConnection: close\r\n\r\n"
        )
        first = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 5)
        w.write(b'{"a":1}')
        rest = await asyncio.wait_for(r.read(), 5)
        w.close()
        srv.close()
        return first + rest

    out = asyncio.run(go())
    assert out.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK")
    assert body_of(out.split(b"\r\n\r\n", 1)[1])["body"] == {"a": 1}
