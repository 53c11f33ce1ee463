"""POST /build (the classic builder) and POST /build/prune: decode, call the build
service, stream its JSON lines."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from berth.api.http.request import Request
from berth.api.http.response import Response, StreamResponse, json_response
from berth.api.http.router import Route
from berth.engine.build import options


async def build(req: Request, eng: Any) -> Response | StreamResponse:
    opts = options.decode(req.query, req.headers.get("x-registry-config"))
    gen = eng.builds.build(opts, req.iter_body())
    # Up to the first message here: bad input found before it (no Dockerfile, a syntax
    # error, a missing target) is an error response with its status, as from dockerd.
    try:
        first = await gen.__anext__()
    except StopAsyncIteration:
        return Response(200, b"", "application/json")
    return StreamResponse(chunks=_lines(first, gen))


async def _lines(first: dict, rest: AsyncIterator[dict]) -> AsyncIterator[bytes]:
    yield json.dumps(first).encode() + b"\r\n"
    async for msg in rest:
        yield json.dumps(msg).encode() + b"\r\n"


async def build_prune(req: Request, eng: Any) -> Response:
    return json_response(eng.builds.prune())


ROUTES = [
    Route("POST", "/build", build),
    Route("POST", "/build/prune", build_prune),
]
