"""Volume routes: parse the request, call the volume service, shape dockerd's JSON."""

from __future__ import annotations

from typing import Any

from berth.api.http.request import Request
from berth.api.http.response import Response, empty, json_response
from berth.api.http.router import Route, version_tuple
from berth.engine.errors import InvalidParameter
from berth.engine.filters import normalize as normalize_filters


def _filters(req: Request) -> dict[str, list[str]]:
    return normalize_filters(req.qjson("filters"))


def _str_map(body: dict[str, Any], key: str) -> dict[str, str] | None:
    val = body.get(key)
    if val is None:
        return None
    if not isinstance(val, dict) or not all(isinstance(v, str) for v in val.values()):
        raise InvalidParameter(f"invalid JSON: {key} must be an object of strings")
    return dict(val)


async def list_volumes(req: Request, eng: Any) -> Response:
    vols = eng.volumes.list(_filters(req))
    return json_response({"Volumes": [v.to_api() for v in vols], "Warnings": None})


async def create(req: Request, eng: Any) -> Response:
    body = await req.json() or {}
    if not isinstance(body, dict):
        raise InvalidParameter("invalid JSON: volume create options must be an object")
    name = body.get("Name") or ""
    driver = body.get("Driver") or ""
    if not isinstance(name, str) or not isinstance(driver, str):
        raise InvalidParameter("invalid JSON: Name and Driver must be strings")
    v, _ = eng.volumes.create(name, driver, _str_map(body, "DriverOpts"), _str_map(body, "Labels"))
    return json_response(v.to_api(), 201)


async def inspect(req: Request, eng: Any) -> Response:
    return json_response(eng.volumes.get(req.match_info["name"]).to_api())


async def remove(req: Request, eng: Any) -> Response:
    eng.volumes.remove(req.match_info["name"], force=req.qbool("force"))
    return empty(204)


async def prune(req: Request, eng: Any) -> Response:
    flt = _filters(req)
    # API 1.42 made prune take anonymous volumes only; older clients meant all of them
    if req.api_version is not None and version_tuple(req.api_version) < (1, 42):
        flt.setdefault("all", ["true"])
    rep = eng.volumes.prune(flt)
    return json_response({"VolumesDeleted": rep.deleted, "SpaceReclaimed": rep.space_reclaimed})


ROUTES = [
    Route("GET", "/volumes", list_volumes),
    Route("POST", "/volumes/create", create),
    Route("POST", "/volumes/prune", prune),
    Route("GET", "/volumes/{name}", inspect),
    Route("DELETE", "/volumes/{name}", remove),
]
