"""Volume routes: parse the request, call the volume service, shape dockerd's JSON."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from berth.api.backends import VolumesBackend
from berth.api.http.request import Request
from berth.api.http.response import Response, empty, json_response
from berth.api.http.router import Route
from berth.engine import wire
from berth.engine.filters import normalize as normalize_filters


@dataclass
class CreateOptions:
    """POST /volumes/create's body (dockerd's volume.CreateOptions; ClusterVolumeSpec is
    swarm's, taken as any object)."""

    GO: ClassVar[str] = "volume.CreateOptions"
    cluster_volume_spec: dict[str, Any] | None = None
    driver: str = ""
    driver_opts: dict[str, str] | None = None
    labels: dict[str, str] | None = None
    name: str = ""


def _filters(req: Request) -> dict[str, list[str]]:
    return normalize_filters(req.qjson("filters"))


async def list_volumes(req: Request, eng: VolumesBackend) -> Response:
    vols = eng.volumes.list(_filters(req))
    return json_response({"Volumes": [v.to_api() for v in vols], "Warnings": None})


async def create(req: Request, eng: VolumesBackend) -> Response:
    body = wire.decode_struct(CreateOptions, await req.json())
    v, _ = eng.volumes.create(body.name, body.driver, body.driver_opts, body.labels)
    return json_response(v.to_api(), 201)


async def inspect(req: Request, eng: VolumesBackend) -> Response:
    return json_response(eng.volumes.get(req.match_info["name"]).to_api())


async def remove(req: Request, eng: VolumesBackend) -> Response:
    eng.volumes.remove(req.match_info["name"], force=req.qbool("force"))
    return empty(204)


async def prune(req: Request, eng: VolumesBackend) -> Response:
    flt = _filters(req)
    # API 1.42 made prune take anonymous volumes only; older clients meant all of them
    if not req.at_least("1.42"):
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
