"""The HTTP layer over a real socket pair: versions, errors, chunked bodies, keep-alive."""

import asyncio
import json

from berth.api.http.response import StreamResponse, json_response
from berth.api.http.router import Route, Router
from berth.api.http.server import HTTPServer
from berth.engine.errors import Conflict


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


async def roundtrip(raw: bytes) -> bytes:
    router = Router()
    router.add_all(
        [
            Route("POST", "/echo", echo),
            Route("GET", "/conflict", conflict),
            Route("GET", "/boom", boom),
            Route("GET", "/stream", stream),
        ]
    )
    server = HTTPServer(router, None)
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
        b"POST /v1.41/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\nConnection: close\r\n\r\n"
        b'{"a":1}'
    )
    assert out.startswith(b"HTTP/1.1 200 OK")
    assert b"Api-Version: 1.50" in out
    body = json.loads(out.split(b"\r\n\r\n", 1)[1])
    assert body == {"path": "/echo", "version": "1.41", "body": {"a": 1}}


def test_chunked_request_body() -> None:
    out = run(
        b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        b'3\r\n{"a\r\n4\r\n":2}\r\n0\r\n\r\n'
    )
    assert json.loads(out.split(b"\r\n\r\n", 1)[1])["body"] == {"a": 2}


def test_errors_are_typed_and_json() -> None:
    out = run(b"GET /conflict HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 409")
    assert json.loads(out.split(b"\r\n\r\n", 1)[1]) == {"message": "it clashes"}
    out = run(b"GET /boom HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 500")
    out = run(b"GET /v1.99/echo HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400") and b"too new" in out
    out = run(b"GET /v1.12/echo HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400") and b"too old" in out
    out = run(b"POST /echo HTTP/1.1\r\nContent-Length: 3\r\nConnection: close\r\n\r\n{x}")
    assert out.startswith(b"HTTP/1.1 400") and b"invalid JSON" in out
    out = run(b"GET /missing HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 404")


def test_keep_alive_serves_two_requests_on_one_connection() -> None:
    req = b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"
    out = run(req + req.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
    assert out.count(b"HTTP/1.1 200 OK") == 2
    assert b"1\r\na\r\n2\r\nbc\r\n0\r\n\r\n" in out
