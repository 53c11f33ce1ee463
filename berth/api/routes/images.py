"""Image routes: parse the request, call the image service, shape dockerd's JSON."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from berth.api.backends import ImagesBackend
from berth.api.http.request import Request
from berth.api.http.response import Response, StreamResponse, json_response
from berth.api.http.router import Route
from berth.engine import wire
from berth.engine.errors import InvalidParameter, NotImplementedYet
from berth.engine.filters import normalize as normalize_filters

if TYPE_CHECKING:
    from berth.engine.images.model import Image


@dataclass
class AuthConfig:
    """POST /auth's body: dockerd's registry.AuthConfig (lower-case JSON names)."""

    GO: ClassVar[str] = "registry.AuthConfig"
    username: str = field(default="", metadata={"wire": "username"})
    password: str = field(default="", metadata={"wire": "password"})
    auth: str = field(default="", metadata={"wire": "auth"})
    email: str = field(default="", metadata={"wire": "email"})
    serveraddress: str = field(default="", metadata={"wire": "serveraddress"})
    identitytoken: str = field(default="", metadata={"wire": "identitytoken"})
    registrytoken: str = field(default="", metadata={"wire": "registrytoken"})


def _filters(req: Request) -> dict[str, list[str]]:
    return normalize_filters(req.qjson("filters"))


def _summary(req: Request, img: Image) -> dict[str, Any]:
    tags, digests = img.repo_tags, img.repo_digests
    if not tags and not digests and not req.at_least("1.43"):
        tags, digests = ["<none>:<none>"], ["<none>@<none>"]
    out = {
        "Containers": -1,
        "Created": img.created_unix,
        "Id": img.id,
        "Labels": img.labels or {},
        "ParentId": img.parent,
        "RepoDigests": digests,
        "RepoTags": tags,
        "SharedSize": -1,
        "Size": img.size,
    }
    if not req.at_least("1.44"):
        out["VirtualSize"] = img.size
    return out


async def list_images(req: Request, eng: ImagesBackend) -> Response:
    images = eng.images.list(all=req.qbool("all"), filters=_filters(req))
    return json_response([_summary(req, i) for i in images])


def _inspect(req: Request, eng: ImagesBackend, img: Image) -> dict[str, Any]:
    raw = img.raw_config
    dirs = eng.images.layer_dirs(img)
    data: dict[str, str] = {}
    if dirs:
        # overlay2 names the top layer UpperDir and the rest LowerDir, top first.
        data["UpperDir"] = dirs[-1]
        if len(dirs) > 1:
            data["LowerDir"] = ":".join(reversed(dirs[:-1]))
    # API 1.50 shows only the image-config fields; older ones the stored container-config.
    config = img.config.to_wire() if req.at_least("1.50") else raw.get("config") or {}
    out: dict[str, Any] = {
        "Id": img.id,
        "RepoTags": img.repo_tags,
        "RepoDigests": img.repo_digests,
        "Parent": img.parent,
        "Comment": raw.get("comment") or "",
        "Created": img.created,
        "DockerVersion": raw.get("docker_version") or "",
        "Author": raw.get("author") or "",
        "Config": config,
        "Architecture": img.architecture,
        "Os": img.os,
        "Size": img.size,
        "GraphDriver": {"Name": "overlay2", "Data": data},
        "RootFS": {"Type": "layers", "Layers": img.diff_ids},
        "Metadata": {"LastTagTime": img.last_tag_time or "0001-01-01T00:00:00Z"},
    }
    if raw.get("variant"):
        out["Variant"] = raw["variant"]
    if raw.get("os.version"):
        out["OsVersion"] = raw["os.version"]
    if not req.at_least("1.45"):
        out["Container"] = raw.get("container") or ""
        out["ContainerConfig"] = raw.get("container_config") or {}
    if not req.at_least("1.44"):
        out["VirtualSize"] = img.size
    return out


async def inspect(req: Request, eng: ImagesBackend) -> Response:
    img = eng.images.get(req.match_info["name"])
    return json_response(_inspect(req, eng, img))


async def history(req: Request, eng: ImagesBackend) -> Response:
    return json_response(eng.images.history(req.match_info["name"]))


async def tag(req: Request, eng: ImagesBackend) -> Response:
    eng.images.tag(req.match_info["name"], req.q("repo") or "", req.q("tag") or None)
    return Response(201)


async def remove(req: Request, eng: ImagesBackend) -> Response:
    image_id = eng.images.resolve_id(req.match_info["name"])
    records = eng.images.remove(
        req.match_info["name"], force=req.qbool("force"), prune=not req.qbool("noprune")
    )
    for r in records:
        if "Untagged" in r:
            eng.events.image(image_id, "untag", image_id)
        elif r.get("Deleted") == image_id:
            eng.events.image(image_id, "delete")
    return json_response(records)


async def _json_lines(first: dict, rest: AsyncIterator[dict]) -> AsyncIterator[bytes]:
    yield json.dumps(first).encode() + b"\n"
    async for msg in rest:
        yield json.dumps(msg).encode() + b"\n"


async def _checked_tar(body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The body, and at its end Go's verdict on its tar structure (dockerd unpacks with
    archive/tar): a broken archive fails with dockerd's words before anything is read
    from it."""
    from berth.engine.images.archive import TarCheck

    check = TarCheck()
    async for chunk in body:
        check.feed(chunk)
        yield chunk
    if (err := check.finish()) is not None:
        raise InvalidParameter(err)


async def load(req: Request, eng: ImagesBackend) -> Response | StreamResponse:
    gen = eng.images.load(_checked_tar(req.iter_body()), quiet=req.qbool("quiet"))
    # Run up to the first message here: a bad archive is then a plain 400 response.
    try:
        first = await gen.__anext__()
    except StopAsyncIteration:
        return Response(200, b"", "application/json")
    return StreamResponse(chunks=_json_lines(first, gen))


async def _tar_chunks(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for chunk in rest:
        yield chunk


async def _save(refs: list[str], eng: ImagesBackend) -> StreamResponse:
    gen = eng.images.save(refs)
    first = await gen.__anext__()  # unknown names fail here, before any header
    return StreamResponse(chunks=_tar_chunks(first, gen), content_type="application/x-tar")


async def save_many(req: Request, eng: ImagesBackend) -> StreamResponse:
    return await _save(req.query.get("names") or [], eng)


async def save_one(req: Request, eng: ImagesBackend) -> StreamResponse:
    return await _save([req.match_info["name"]], eng)


async def _one(msg: dict) -> AsyncIterator[bytes]:
    yield json.dumps(msg).encode() + b"\n"


async def create(req: Request, eng: ImagesBackend) -> Response | StreamResponse:
    src = req.q("fromSrc")
    image = req.q("fromImage")
    if src:
        if src != "-":
            raise NotImplementedYet("importing from a URL is not supported")
        img = await eng.images.import_rootfs(
            req.iter_body(),
            repo=req.q("repo") or None,
            tag=req.q("tag") or None,
            changes=req.query.get("changes") or [],
            message=req.q("message") or "",
            platform=req.q("platform") or None,
        )
        return StreamResponse(chunks=_one({"status": img.id}))
    if image:
        gen = eng.images.pull(
            image,
            req.q("tag") or None,
            platform=req.q("platform") or None,
            auth=req.headers.get("x-registry-auth"),
        )
        return await _progress(gen)
    raise InvalidParameter("fromImage or fromSrc must be given")


async def _progress(gen: AsyncIterator[dict]) -> Response | StreamResponse:
    """Run up to the first message here: an error before it (unknown tag, registry down)
    is then a plain error response with dockerd's status, not a 200 stream."""
    try:
        first = await gen.__anext__()
    except StopAsyncIteration:
        return Response(200, b"", "application/json")
    return StreamResponse(chunks=_json_lines(first, gen))


async def push(req: Request, eng: ImagesBackend) -> Response | StreamResponse:
    gen = eng.images.push(
        req.match_info["name"], req.q("tag") or None, auth=req.headers.get("x-registry-auth")
    )
    return await _progress(gen)


async def auth(req: Request, eng: ImagesBackend) -> Response:
    body = wire.check(AuthConfig, await req.json() if req.has_body else None)
    return json_response(await eng.images.login(body))


ROUTES = [
    Route("GET", "/images/json", list_images),
    Route("POST", "/images/load", load),
    Route("GET", "/images/get", save_many),
    Route("POST", "/images/create", create),
    Route("GET", "/images/{name:path}/json", inspect),
    Route("GET", "/images/{name:path}/history", history),
    Route("GET", "/images/{name:path}/get", save_one),
    Route("POST", "/images/{name:path}/tag", tag),
    Route("POST", "/images/{name:path}/push", push),
    Route("POST", "/auth", auth),
    Route("DELETE", "/images/{name:path}", remove),
]
