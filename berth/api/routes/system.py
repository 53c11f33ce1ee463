"""System routes: _ping, version, info."""

from __future__ import annotations

from berth.api.backends import SystemBackend
from berth.api.http.request import Request
from berth.api.http.response import Response, json_response
from berth.api.http.router import Route

_PING_HEADERS = {
    "Cache-Control": "no-cache, no-store, must-revalidate",
    "Pragma": "no-cache",
    "Builder-Version": "1",
    "Swarm": "inactive",
}


async def ping(req: Request, eng: SystemBackend) -> Response:
    return Response(200, b"OK", "text/plain; charset=utf-8", dict(_PING_HEADERS))


async def version(req: Request, eng: SystemBackend) -> Response:
    return json_response(eng.version())


async def info(req: Request, eng: SystemBackend) -> Response:
    return json_response(eng.info())


ROUTES = [
    Route("GET", "/_ping", ping),
    Route("HEAD", "/_ping", ping),
    Route("GET", "/version", version),
    Route("GET", "/info", info),
]
