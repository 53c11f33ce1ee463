"""Network routes: parse the request, call the network service, shape dockerd's JSON."""

from __future__ import annotations

from typing import Any

from berth.api.http.request import Request
from berth.api.http.response import Response, empty, json_response
from berth.api.http.router import Route
from berth.api.routes.volumes import _filters
from berth.engine import wire
from berth.engine.errors import InvalidParameter


async def _body(req: Request) -> dict[str, Any]:
    body = await req.json() or {}
    if not isinstance(body, dict):
        raise InvalidParameter("invalid JSON: expected an object")
    return body


async def list_networks(req: Request, eng: Any) -> Response:
    nets = eng.network.list(_filters(req))
    return json_response([n.to_api(eng.network.attached(n)) for n in nets])


async def inspect(req: Request, eng: Any) -> Response:
    n = eng.network.get(req.match_info["id"])
    return json_response(n.to_api(eng.network.attached(n)))


async def create(req: Request, eng: Any) -> Response:
    n, warning = await eng.network.create(await _body(req))
    return json_response({"Id": n.id, "Warning": warning}, 201)


async def remove(req: Request, eng: Any) -> Response:
    await eng.network.remove(req.match_info["id"])
    return empty(204)


async def connect(req: Request, eng: Any) -> Response:
    body = await _body(req)
    c = eng.containers.get(str(body.get("Container") or ""))
    await eng.network.connect(c, req.match_info["id"], body.get("EndpointConfig") or {})
    eng.containers.store.save(c)
    return empty(200)


async def disconnect(req: Request, eng: Any) -> Response:
    body = await _body(req)
    c = eng.containers.get(str(body.get("Container") or ""))
    await eng.network.disconnect(
        c, req.match_info["id"], wire.field(body, "Force", bool, "NetworkDisconnect", False)
    )
    eng.containers.store.save(c)
    return empty(200)


async def prune(req: Request, eng: Any) -> Response:
    return json_response({"NetworksDeleted": await eng.network.prune()})


ROUTES = [
    Route("GET", "/networks", list_networks),
    Route("POST", "/networks/create", create),
    Route("POST", "/networks/prune", prune),
    Route("GET", "/networks/{id}", inspect),
    Route("DELETE", "/networks/{id}", remove),
    Route("POST", "/networks/{id}/connect", connect),
    Route("POST", "/networks/{id}/disconnect", disconnect),
]
