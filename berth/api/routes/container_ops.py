"""Routes for cp (archive), changes, export, commit, top, stats, pause, unpause and
update (restart stays in containers.py)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from berth.api.backends import ContainerOpsBackend
from berth.api.http.request import Request
from berth.api.http.response import Response, StreamResponse, empty, json_response
from berth.api.http.router import Route
from berth.engine import wire
from berth.engine.containers import create as create_rules
from berth.engine.errors import InvalidParameter

# The code behind these routes (the tar walkers of archive above all) is imported by the
# handler that first needs it: berthd's start, which builds every route, does not pay for it.


def _path(req: Request) -> str:
    path = req.q("path")
    if path is None:
        raise InvalidParameter("path is required")
    if not path:
        raise InvalidParameter("path must not be empty")
    return path


async def archive_head(req: Request, eng: ContainerOpsBackend) -> Response:
    from berth.engine.containers import archive

    st = await archive.stat_path(eng.containers, req.match_info["name"], _path(req))
    return Response(200, b"", headers={archive.STAT_HEADER: archive.encode_stat(st)})


async def archive_get(req: Request, eng: ContainerOpsBackend) -> StreamResponse:
    from berth.engine.containers import archive

    st, body = await archive.get_archive(eng.containers, req.match_info["name"], _path(req))
    return StreamResponse(
        body,
        content_type="application/x-tar",
        headers={archive.STAT_HEADER: archive.encode_stat(st)},
    )


async def archive_put(req: Request, eng: ContainerOpsBackend) -> Response:
    from berth.engine.containers import archive

    await archive.put_archive(
        eng.containers,
        req.match_info["name"],
        _path(req),
        req.iter_body(),
        no_overwrite_dir_non_dir=req.qbool("noOverwriteDirNonDir"),
        copy_uid_gid=req.qbool("copyUIDGID"),
    )
    return Response(200, b"")


async def changes(req: Request, eng: ContainerOpsBackend) -> Response:
    from berth.engine.containers import diff

    c = eng.containers.get(req.match_info["name"])
    image = eng.images.get(c.image_id)
    upper = str(eng.containers.overlay_dir / c.id / "upper")
    return json_response(diff.changes(upper, eng.images.layer_dirs(image)) or None)


async def export(req: Request, eng: ContainerOpsBackend) -> StreamResponse:
    from berth.engine.containers import archive

    body = await archive.export(eng.containers, req.match_info["name"])
    return StreamResponse(body, content_type="application/x-tar")


async def commit(req: Request, eng: ContainerOpsBackend) -> Response:
    from berth.engine.containers import commit as commit_ops

    name = req.q("container") or ""
    if not name:
        raise InvalidParameter("container is required")  # dockerd: 404 for an empty name
    opts = commit_ops.CommitOptions(
        repo=req.q("repo") or None,
        tag=req.q("tag") or None,
        comment=req.q("comment") or "",
        author=req.q("author") or "",
        changes=[c for c in req.query.get("changes", []) if c],
        pause=req.qbool("pause", True),
        config=_commit_config(await req.json()),
    )
    img = await commit_ops.commit(eng.containers, name, opts)
    return json_response({"Id": img.id}, 201)


def _commit_config(body: Any) -> dict[str, Any] | None:
    """dockerd decodes /commit's body as a create request (its Config is the image's);
    an empty body is allowed."""
    return None if body is None else create_rules.check_request(body)


async def top(req: Request, eng: ContainerOpsBackend) -> Response:
    from berth.engine.containers import top as top_ops

    return json_response(
        await top_ops.top(eng.containers, req.match_info["name"], req.q("ps_args"))
    )


async def stats(req: Request, eng: ContainerOpsBackend) -> StreamResponse:
    from berth.engine.containers import stats as stats_ops

    frames = stats_ops.stats(
        eng.containers,
        req.match_info["name"],
        stream=req.qbool("stream", True),
        one_shot=req.qbool("one-shot"),
    )
    first = await anext(frames)  # a missing container is a 404, not a broken stream

    async def body() -> AsyncIterator[bytes]:
        yield json.dumps(first).encode() + b"\n"
        async for f in frames:
            yield json.dumps(f).encode() + b"\n"

    return StreamResponse(body())


async def pause(req: Request, eng: ContainerOpsBackend) -> Response:
    await eng.containers.pause(req.match_info["name"])
    return empty(204)


async def unpause(req: Request, eng: ContainerOpsBackend) -> Response:
    await eng.containers.unpause(req.match_info["name"])
    return empty(204)


async def update(req: Request, eng: ContainerOpsBackend) -> Response:
    from berth.engine.containers.update import UpdateConfig

    body = wire.check(UpdateConfig, await req.json())  # 400 before the container's lookup
    warnings = await eng.containers.update(req.match_info["name"], body)
    return json_response({"Warnings": warnings or []})


ROUTES = [
    Route("HEAD", "/containers/{name}/archive", archive_head),
    Route("GET", "/containers/{name}/archive", archive_get),
    Route("PUT", "/containers/{name}/archive", archive_put),
    Route("GET", "/containers/{name}/changes", changes),
    Route("GET", "/containers/{name}/export", export),
    Route("POST", "/commit", commit),
    Route("GET", "/containers/{name}/top", top),
    Route("GET", "/containers/{name}/stats", stats),
    Route("POST", "/containers/{name}/pause", pause),
    Route("POST", "/containers/{name}/unpause", unpause),
    Route("POST", "/containers/{name}/update", update),
]
