"""Container routes: parse the request, call the engine, shape the response."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from berth import stdcopy
from berth.api.http.request import Request
from berth.api.http.response import (
    HijackResponse,
    Response,
    StreamResponse,
    empty,
    json_response,
)
from berth.api.http.router import Route
from berth.api.streams import proxy
from berth.api.views import containers as views
from berth.engine.clock import parse_timestamp
from berth.engine.containers import create as create_rules
from berth.engine.containers import filters as cfilters
from berth.engine.containers.logs import LogOptions
from berth.engine.errors import EngineError, InvalidParameter
from berth.engine.filters import normalize as normalize_filters


async def create(req: Request, eng: Any) -> Response:
    # decoded at the edge: a field of the wrong JSON type is a 400 before anything is stored
    body = create_rules.decode_request(await req.json())
    c, warnings = eng.containers.create(req.q("name"), body)
    return json_response({"Id": c.id, "Warnings": warnings}, 201)


async def list_containers(req: Request, eng: Any) -> Response:
    svc = eng.containers
    flt = normalize_filters(req.qjson("filters"))
    ok = cfilters.build(flt, svc.get, lambda c, ref: _image_matches(eng, c, ref))
    show_all = req.qbool("all") or bool(flt.get("status")) or bool(flt.get("exited"))
    limit = req.qint("limit", -1) or -1
    items = [c for c in svc.all() if (show_all or c.state.running) and ok(c)]
    items.sort(key=lambda c: c.created, reverse=True)
    if limit > 0:
        items = items[:limit]
    now = time.time()
    return json_response([views.summary(c, now) for c in items])


def _image_matches(eng: Any, c: Any, ref: str) -> bool:
    try:
        return bool(eng.images.get(ref).id == c.image_id)
    except Exception:  # noqa: BLE001 - an unknown image matches nothing
        return False


async def inspect(req: Request, eng: Any) -> Response:
    c = eng.containers.get(req.match_info["name"])
    return json_response(views.inspect(c, exec_ids=eng.execs.ids_for(c.id)))


async def start(req: Request, eng: Any) -> Response:
    await eng.containers.start(req.match_info["name"])
    return empty(204)


async def stop(req: Request, eng: Any) -> Response:
    await eng.containers.stop(req.match_info["name"], req.qint("t"), req.q("signal"))
    return empty(204)


async def restart(req: Request, eng: Any) -> Response:
    await eng.containers.restart(req.match_info["name"], req.qint("t"), req.q("signal"))
    return empty(204)


async def kill(req: Request, eng: Any) -> Response:
    await eng.containers.kill(req.match_info["name"], req.q("signal"))
    return empty(204)


async def remove(req: Request, eng: Any) -> Response:
    await eng.containers.remove(
        req.match_info["name"], force=req.qbool("force"), volumes=req.qbool("v")
    )
    return empty(204)


async def rename(req: Request, eng: Any) -> Response:
    await eng.containers.rename(req.match_info["name"], req.q("name") or "")
    return empty(204)


async def wait(req: Request, eng: Any) -> StreamResponse:
    fut = await eng.containers.wait(req.match_info["name"], req.q("condition") or "not-running")

    async def body() -> AsyncIterator[bytes]:
        st = await fut
        # Error is for a failed wait, not for the container's own start error: the
        # docker CLI prints it as "Error waiting for container".
        yield json.dumps({"StatusCode": st.exit_code, "Error": None}).encode() + b"\n"

    return StreamResponse(body())


async def resize(req: Request, eng: Any) -> Response:
    h, w = req.qint("h", 0) or 0, req.qint("w", 0) or 0
    await eng.containers.resize(req.match_info["name"], h, w)
    return Response(200, b"", "text/plain")


def _log_options(req: Request, follow_default: bool = False) -> LogOptions:
    tail = req.q("tail", "all")
    ntail: int | None = None
    if tail not in ("all", "", None):
        try:
            ntail = int(tail)  # type: ignore[arg-type]
        except ValueError as exc:
            raise InvalidParameter(f"invalid value for tail: {tail!r}") from exc
        if ntail < 0:
            ntail = None
    since, until = req.q("since"), req.q("until")
    return LogOptions(
        stdout=req.qbool("stdout"),
        stderr=req.qbool("stderr"),
        follow=req.qbool("follow", follow_default),
        since=parse_timestamp(since) if since and since != "0" else 0.0,
        until=parse_timestamp(until) if until and until != "0" else 0.0,
        tail=ntail,
        timestamps=req.qbool("timestamps"),
    )


async def logs(req: Request, eng: Any) -> StreamResponse:
    c = eng.containers.get(req.match_info["name"])
    opts = _log_options(req)
    if not (opts.stdout or opts.stderr):
        raise InvalidParameter("Bad parameters: you must choose at least one stream")
    body = eng.containers.log_stream(c, opts)
    tty = c.config.tty
    ctype = (
        "application/vnd.docker.raw-stream"
        if tty
        else ("application/vnd.docker.multiplexed-stream")
    )
    return StreamResponse(body, content_type=ctype)


async def attach(req: Request, eng: Any) -> HijackResponse:
    svc = eng.containers
    c = svc.get(req.match_info["name"])
    stdin, stdout, stderr = req.qbool("stdin"), req.qbool("stdout"), req.qbool("stderr")
    want_logs, stream = req.qbool("logs"), req.qbool("stream")
    # Register now, before the 101 goes out: the client's start may follow at once.
    areq = svc.attach_request(c, stdin, stdout, stderr) if stream else None
    tty = c.config.tty

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if want_logs:
                opts = LogOptions(stdout=stdout, stderr=stderr)
                async for s, data in svc.logs(c, opts):
                    writer.write(data if tty else stdcopy.frame(s, data))
                await writer.drain()
            if areq is None:
                return
            # A client that vanished before the start is noticed at the first write.
            try:
                shim_r, shim_w = await areq.streams
            except EngineError:
                return  # the start failed: its caller gets the error; this stream just ends
            await proxy(reader, writer, shim_r, shim_w, stdin=areq.stdin)
        finally:
            if areq is not None:
                svc.cancel_attach(c, areq)

    return HijackResponse(session)


ROUTES = [
    Route("POST", "/containers/create", create),
    Route("GET", "/containers/json", list_containers),
    Route("GET", "/containers/{name}/json", inspect),
    Route("POST", "/containers/{name}/start", start),
    Route("POST", "/containers/{name}/stop", stop),
    Route("POST", "/containers/{name}/restart", restart),
    Route("POST", "/containers/{name}/kill", kill),
    Route("DELETE", "/containers/{name}", remove),
    Route("POST", "/containers/{name}/rename", rename),
    Route("POST", "/containers/{name}/wait", wait),
    Route("POST", "/containers/{name}/resize", resize),
    Route("GET", "/containers/{name}/logs", logs),
    Route("POST", "/containers/{name}/attach", attach),
]
