"""Container routes: parse the request, call the engine, shape the response."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from berth import stdcopy
from berth.api.backends import ContainersBackend
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
from berth.engine.containers.exec import key_bytes
from berth.engine.containers.logs import LogOptions, until_gone
from berth.engine.errors import Conflict, EngineError, InvalidParameter, NotFound
from berth.engine.filters import normalize as normalize_filters

if TYPE_CHECKING:
    from berth.engine.containers.model import Container


async def create(req: Request, eng: ContainersBackend) -> Response:
    # decoded at the edge: a field of the wrong JSON type is a 400 before anything is stored
    body = create_rules.decode_request(await req.json())
    if req.q("platform") and body.config.image:
        _check_platform(eng, body.config.image, req.q("platform") or "")
    c, warnings = eng.containers.create(req.q("name"), body)
    return json_response({"Id": c.id, "Warnings": warnings}, 201)


async def list_containers(req: Request, eng: ContainersBackend) -> Response:
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
    with_size = req.qbool("size")
    out = []
    for c in items:
        s = views.summary(c, now)
        s["Command"] = command_text(c.path, c.args)
        if with_size:
            s.update(await _sizes(eng, c))
        out.append(s)
    return json_response(out)


def command_text(path: str, args: list[str]) -> str:
    """The summary's Command as dockerd writes it (container/view.go): the path, then the
    arguments, one holding a space put in single quotes (`sh -c 'echo hi'`); the docker
    CLI quotes the whole for its COMMAND column."""
    if not args:
        return path
    return path + " " + " ".join(f"'{a}'" if " " in a else a for a in args)


async def _sizes(eng: ContainersBackend, c: Container) -> dict[str, int]:
    """SizeRw (the upper dir's bytes) and SizeRootFs (the image's layers and those), each
    left out when 0, as dockerd's omitempty does."""
    from berth.engine.containers.diff import upper_size

    rw = await asyncio.to_thread(upper_size, str(eng.containers.overlay_dir / c.id / "upper"))
    try:
        image_size = int(eng.images.get(c.image_id).size)
    except EngineError:
        image_size = 0  # the image went (rmi -f): its layers count for nothing here
    return {k: v for k, v in (("SizeRw", rw), ("SizeRootFs", image_size + rw)) if v}


# containerd's platforms.Normalize for the architectures an image names
_ARCH = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "i386": "386", "armhf": "arm",
         "armel": "arm"}  # fmt: skip
_ARCH_VARIANT = {"armhf": "v7", "armel": "v6"}


def _platform(os_: str, arch: str, variant: str) -> tuple[str, str, str]:
    a = arch.lower()
    v = variant.lower() or _ARCH_VARIANT.get(a, "")
    a = _ARCH.get(a, a)
    if a == "arm64" and v in ("8", "v8"):
        v = ""  # arm64's only variant is its default
    elif a == "arm" and v and not v.startswith("v"):
        v = "v" + v
    return os_.lower(), a, v


def _check_platform(eng: ContainersBackend, ref: str, wanted_text: str) -> None:
    """?platform= on create: the local image must be of that platform, else dockerd's 404
    (the docker CLI then pulls the image for the platform asked for)."""
    from berth.engine.errors import NotFound
    from berth.engine.images.archive import host_arch
    from berth.engine.images.importer import parse_platform

    wanted = _platform(*parse_platform(wanted_text, host_arch()))
    try:
        image = eng.images.get(ref)
    except EngineError:
        return  # the create itself answers that the image is missing
    have = _platform(
        image.os or "linux",
        image.architecture or host_arch(),
        str((image.raw_config or {}).get("variant") or ""),
    )
    if wanted[:2] == have[:2] and (not wanted[2] or wanted[2] == have[2]):
        return
    raise NotFound(
        f"image with reference {ref} was found but does not match the specified platform: "
        f"wanted {'/'.join(p for p in wanted if p)}, actual: {'/'.join(p for p in have if p)}"
    )


def _image_matches(eng: ContainersBackend, c: Container, ref: str) -> bool:
    try:
        return bool(eng.images.get(ref).id == c.image_id)
    except Exception:  # noqa: BLE001 - an unknown image matches nothing
        return False


async def inspect(req: Request, eng: ContainersBackend) -> Response:
    c = eng.containers.get(req.match_info["name"])
    out = views.inspect(c, exec_ids=eng.execs.ids_for(c.id))
    if req.qbool("size"):
        # dockerd's inspect shows both, 0 included, when asked
        sizes = await _sizes(eng, c)
        out["SizeRw"] = sizes.get("SizeRw", 0)
        out["SizeRootFs"] = sizes.get("SizeRootFs", 0)
    return json_response(out)


async def start(req: Request, eng: ContainersBackend) -> Response:
    await eng.containers.start(req.match_info["name"])
    return empty(204)


async def stop(req: Request, eng: ContainersBackend) -> Response:
    await eng.containers.stop(req.match_info["name"], req.qint("t"), req.q("signal"))
    return empty(204)


async def restart(req: Request, eng: ContainersBackend) -> Response:
    await eng.containers.restart(req.match_info["name"], req.qint("t"), req.q("signal"))
    return empty(204)


async def kill(req: Request, eng: ContainersBackend) -> Response:
    await eng.containers.kill(req.match_info["name"], req.q("signal"))
    return empty(204)


async def remove(req: Request, eng: ContainersBackend) -> Response:
    if req.qbool("link"):
        await _remove_link(eng, req.match_info["name"])
        return empty(204)
    await eng.containers.remove(
        req.match_info["name"], force=req.qbool("force"), volumes=req.qbool("v")
    )
    return empty(204)


async def _remove_link(eng: ContainersBackend, name: str) -> None:
    """`docker rm --link /web/db`: container web's legacy link db goes (dockerd's rmLink);
    both containers stay."""
    full = name if name.startswith("/") else "/" + name
    parent, _, alias = full.rpartition("/")
    if not parent:
        raise Conflict("Conflict, cannot remove the default link name of the container")
    try:
        p = eng.containers.get(parent)
    except NotFound:
        raise NotFound(f"No such container: {full}") from None
    kept = [x for x in p.host_config.links or [] if x.partition(":")[2] != f"/{p.name}/{alias}"]
    if len(kept) == len(p.host_config.links or []):
        raise NotFound(f"No such container: {full}")
    p.host_config.links = kept or None
    eng.containers.save(p)


async def rename(req: Request, eng: ContainersBackend) -> Response:
    await eng.containers.rename(req.match_info["name"], req.q("name") or "")
    return empty(204)


async def wait(req: Request, eng: ContainersBackend) -> StreamResponse:
    fut = await eng.containers.wait(req.match_info["name"], req.q("condition") or "not-running")

    async def body() -> AsyncIterator[bytes]:
        st = await fut
        # Error is for a failed wait, not for the container's own start error: the
        # docker CLI prints it as "Error waiting for container".
        yield json.dumps({"StatusCode": st.exit_code, "Error": None}).encode() + b"\n"

    return StreamResponse(body())


async def resize(req: Request, eng: ContainersBackend) -> Response:
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


async def logs(req: Request, eng: ContainersBackend) -> StreamResponse:
    c = eng.containers.get(req.match_info["name"])
    opts = _log_options(req)
    if not (opts.stdout or opts.stderr):
        raise InvalidParameter("Bad parameters: you must choose at least one stream")
    body = eng.containers.log_stream(c, opts)
    if opts.follow:
        # the client's hang-up ends a follow at once, not at the container's next line
        body = until_gone(body, req.reader.at_eof)
    tty = c.config.tty
    ctype = (
        "application/vnd.docker.raw-stream"
        if tty
        else ("application/vnd.docker.multiplexed-stream")
    )
    return StreamResponse(body, content_type=ctype)


async def attach(req: Request, eng: ContainersBackend) -> HijackResponse:
    svc = eng.containers
    c = svc.get(req.match_info["name"])
    stdin, stdout, stderr = req.qbool("stdin"), req.qbool("stdout"), req.qbool("stderr")
    want_logs, stream = req.qbool("logs"), req.qbool("stream")
    keys = req.q("detachKeys") or ""
    try:
        detach_keys = key_bytes(keys) if keys else b""  # b"": the default ctrl-p,ctrl-q
    except ValueError:
        raise InvalidParameter(f"Invalid detach keys ({keys}) provided") from None
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
            # dockerd watches for the detach keys only on a tty (moby's CopyStreams)
            detached = await proxy(
                reader,
                writer,
                shim_r,
                shim_w,
                stdin=areq.stdin,
                detach_keys=detach_keys if tty else None,
            )
            if detached:
                eng.events.container(c, "detach")
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
    # `docker rm --link /web/db` sends the link's path: DELETE /containers//web/db?link=1
    Route("DELETE", "/containers/{name:path}", remove),
    Route("POST", "/containers/{name}/rename", rename),
    Route("POST", "/containers/{name}/wait", wait),
    Route("POST", "/containers/{name}/resize", resize),
    Route("GET", "/containers/{name}/logs", logs),
    Route("POST", "/containers/{name}/attach", attach),
]
