"""GET /events (a live JSON-lines stream), GET /system/df and the prunes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator

from berth.api.backends import EventsBackend, NoBackend, PruneBackend
from berth.api.http.request import Request
from berth.api.http.response import Response, StreamResponse, json_response
from berth.api.http.router import Route
from berth.api.views import containers as views
from berth.engine import events as ev
from berth.engine.errors import InvalidParameter


async def events(req: Request, eng: EventsBackend) -> StreamResponse:
    flt = ev.normalize_filters(req.qjson("filters"))
    since_s, until_s = req.q("since"), req.q("until")
    since, until = ev.parse_time(since_s), ev.parse_time(until_s)
    if since is not None and until is not None and until < since:
        raise InvalidParameter(f"`since` time ({since_s}) cannot be after `until` time ({until_s})")
    bus = eng.events

    async def body() -> AsyncIterator[bytes]:
        # subscribe and read the history with no await between: nothing falls in the gap
        sub = bus.subscribe(flt)
        try:
            for past in bus.history(flt, since, until):
                yield _line(past)
            if until is not None and until < time.time_ns():
                return  # only past events were asked for
            # the client never sends more on this connection: readable means it went away
            hangup = asyncio.ensure_future(req.reader.read(1))
            try:
                while True:
                    left = None if until is None else max(0.0, (until - time.time_ns()) / 1e9)
                    nxt = asyncio.ensure_future(sub.get())
                    done, _ = await asyncio.wait(
                        {nxt, hangup}, timeout=left, return_when=asyncio.FIRST_COMPLETED
                    )
                    if nxt not in done:
                        nxt.cancel()
                        return
                    e = nxt.result()
                    if e is None or (until is not None and e.time_nano > until):
                        return
                    yield _line(e)
            finally:
                hangup.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await hangup
        finally:
            bus.unsubscribe(sub)

    return StreamResponse(body())


def _line(e: ev.Event) -> bytes:
    return json.dumps(e.to_wire(), separators=(",", ":")).encode() + b"\n"


async def system_df(req: Request, eng: PruneBackend) -> Response:
    types: list[str] | None = req.query.get("type")
    if not req.at_least("1.42"):
        types = None
    from berth.engine import prune  # on first use: berthd's start does not pay for it

    du = await prune.disk_usage(eng, types)
    now = time.time()
    containers = None
    if "Containers" in du:
        containers = []
        for u in du["Containers"]:
            s = views.summary(u.container, now)
            s["SizeRw"] = u.size_rw
            s["SizeRootFs"] = u.size_root_fs
            containers.append(s)
    return json_response(
        {
            "LayersSize": du.get("LayersSize", 0),
            "Images": du.get("Images"),
            "Containers": containers,
            "Volumes": du.get("Volumes"),
            "BuildCache": du.get("BuildCache"),
        }
    )


async def containers_prune(req: Request, eng: PruneBackend) -> Response:
    from berth.engine import prune

    rep = await prune.prune_containers(eng, req.qjson("filters"))
    # dockerd sends null, not [], when nothing went
    return json_response(
        {"ContainersDeleted": rep.deleted or None, "SpaceReclaimed": rep.reclaimed}
    )


async def images_prune(req: Request, eng: PruneBackend) -> Response:
    from berth.engine import prune

    rep = await prune.prune_images(eng, req.qjson("filters"))
    return json_response({"ImagesDeleted": rep.deleted or None, "SpaceReclaimed": rep.reclaimed})


async def networks_prune(req: Request, eng: NoBackend) -> Response:
    # berth has only the host and null networks, which are never pruned
    return json_response({"NetworksDeleted": None})


ROUTES = [
    Route("GET", "/events", events),
    Route("GET", "/system/df", system_df),
    Route("POST", "/containers/prune", containers_prune),
    Route("POST", "/images/prune", images_prune),
    Route("POST", "/networks/prune", networks_prune),
]
