"""Requests through berth's real HTTP server and route table, without a socket: the raw
request bytes go into an asyncio.StreamReader, HTTPServer.handle_connection answers
into an in-memory writer, and the answer's bytes are parsed back (chunked bodies
included). The backend is tests/unit/api/fake_backend.FakeBackend."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from berth.api.app import build_router
from berth.api.http.server import HTTPServer
from tests.unit.api.fake_backend import FakeBackend

_ROUTER = build_router()


class MemoryWriter:
    """The part of asyncio.StreamWriter the server uses."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        self.data += data

    async def drain(self) -> None:
        return None

    def close(self) -> None:
        self.closed = True


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    calls: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)

    def json(self) -> Any:
        return json.loads(self.body)

    def lines(self) -> list[Any]:
        return [json.loads(line) for line in self.body.splitlines() if line.strip()]


def _dechunk(raw: bytes) -> bytes:
    out = bytearray()
    while raw:
        size_line, _, raw = raw.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        out += raw[:size]
        raw = raw[size + 2 :]
    return bytes(out)


def parse(raw: bytes) -> Answer:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if headers.get("transfer-encoding") == "chunked":
        body = _dechunk(body)
    return Answer(status, headers, body)


def request(
    backend: FakeBackend,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    """One request, answered by the real server over `backend`. `body`: JSON (a dict or
    list) or raw bytes."""
    raw_body = body if isinstance(body, bytes) else b"" if body is None else json.dumps(body)
    data = raw_body.encode() if isinstance(raw_body, str) else raw_body
    hdrs = {"Host": "berth", "Connection": "close", **(headers or {})}
    if data:
        hdrs.setdefault("Content-Type", "application/json")
        hdrs["Content-Length"] = str(len(data))
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())

    async def run() -> bytes:
        server = HTTPServer(_ROUTER, backend)
        server.idle_timeout = server.body_timeout = None  # no sweeper task to outlive it
        reader = asyncio.StreamReader()
        reader.feed_data(head.encode("latin-1") + b"\r\n" + data)
        reader.feed_eof()
        writer = MemoryWriter()
        await server.handle_connection(reader, writer)  # type: ignore[arg-type]
        return bytes(writer.data)

    answer = parse(asyncio.run(run()))
    answer.calls = list(backend.calls.log)
    return answer
