"""docker push: layers (skipped when the registry has them, mounted from another
repository when one of ours came from there, else compressed and uploaded), the config,
then a schema2 manifest per tag."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from berth.engine.errors import NotFound, SystemError_
from berth.engine.images.model import Image, short_id
from berth.engine.images.reference import Reference, parse_normalized
from berth.engine.images.registry import auth
from berth.engine.images.registry import manifest as mf
from berth.engine.images.registry.auth import Credentials
from berth.engine.images.registry.client import Registries, RegistryClient
from berth.engine.images.registry.meta import LayerOrigins, Origin
from berth.engine.images.registry.progress import Reporter, status
from berth.engine.images.registry.pull import _pump

if TYPE_CHECKING:
    from berth.engine.images.service import ImageService

_CHUNK = 1 << 20
_GZIP_TYPES = (mf.DOCKER_LAYER_GZIP, mf.OCI_LAYER_GZIP)


def compress(src: Path, dst: Path) -> tuple[str, int]:
    """gzip `src` into `dst` reproducibly (no name, no mtime): the same layer always gives
    the same blob digest. Returns (digest, size)."""
    h = hashlib.sha256()

    class _Hashing:
        def __init__(self, f: Any) -> None:
            self.f = f
            self.size = 0

        def write(self, b: bytes) -> int:
            h.update(b)
            self.size += len(b)
            return int(self.f.write(b))

        def flush(self) -> None:
            self.f.flush()

    with open(src, "rb") as fin, open(dst, "wb") as fout:
        out = _Hashing(fout)
        with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as gz:  # type: ignore[arg-type]
            shutil.copyfileobj(fin, gz, _CHUNK)
    return "sha256:" + h.hexdigest(), out.size


def targets(svc: ImageService, ref: Reference) -> list[tuple[str, str]]:
    """(tag, image id) pairs to push: the one tag asked for, or every tag of the repo."""
    store = svc.store
    if ref.tag is not None:
        image_id = store.ref_target(f"{ref.name}:{ref.tag}")
        pairs = [(ref.tag, image_id)] if image_id else []
    else:
        pairs = []
        for row in store.db.query("SELECT name, image_id FROM image_refs WHERE is_digest=0"):
            r = parse_normalized(row["name"])
            if r.name == ref.name and r.tag is not None:
                pairs.append((r.tag, row["image_id"]))
        pairs.sort()
    if not pairs:
        raise NotFound(f"An image does not exist locally with the tag: {ref.familiar_name}")
    return pairs


async def push(
    svc: ImageService,
    hub: Registries,
    origins: LayerOrigins,
    name: str,
    tag: str | None,
    creds: Credentials,
    limit: int = 5,
) -> AsyncIterator[dict[str, Any]]:
    ref = parse_normalized(name)
    if tag:
        ref = ref.with_tag(tag)
    pairs = targets(svc, ref)
    yield status(f"The push refers to repository [{ref.name}]")
    client = hub.client(ref.domain, creds)
    await asyncio.to_thread(client.ping)
    for t, image_id in pairs:
        images = svc.store.load_images([image_id])
        if not images:
            raise NotFound(f"An image does not exist locally with the tag: {ref.familiar_name}")
        async for msg in _push_image(svc, client, origins, ref, t, images[0], limit):
            yield msg


async def _push_image(
    svc: ImageService,
    client: RegistryClient,
    origins: LayerOrigins,
    ref: Reference,
    tag: str,
    img: Image,
    limit: int,
) -> AsyncIterator[dict[str, Any]]:
    store = svc.store
    path, domain = ref.path, ref.domain
    scopes = [auth.repo_scope(path, "pull,push")]
    rep = Reporter(asyncio.get_running_loop())
    work = store.mkdtemp("push-")
    unique = list(dict.fromkeys(img.diff_ids))
    # dockerd lists layers top-most first
    for d in reversed(unique):
        yield status("Preparing", short_id(d))

    def one(diff_id: str) -> mf.Descriptor:
        ident = short_id(diff_id)
        known = [o for o in origins.lookup(diff_id, domain) if o.media_type in _GZIP_TYPES]
        for o in sorted(known, key=lambda o: o.path != path):
            if rep.cancelled:
                break
            if o.path == path:
                if client.blob_exists(path, o.digest, scopes):
                    rep.emit(status("Layer already exists", ident))
                    return mf.Descriptor(mf.DOCKER_LAYER_GZIP, o.digest, o.size)
                origins.forget(diff_id, o.digest, domain)
                continue
            if client.mount_blob(path, o.digest, o.path) is None:
                rep.emit(status(f"Mounted from {o.path}", ident))
                origins.add(diff_id, Origin(o.digest, o.size, o.media_type, domain, path))
                return mf.Descriptor(mf.DOCKER_LAYER_GZIP, o.digest, o.size)
        blob = work / (ident + ".gz")
        digest, size = compress(store.blob_path(diff_id), blob)
        try:
            if client.blob_exists(path, digest, scopes):
                rep.emit(status("Layer already exists", ident))
            else:
                client.upload_blob(
                    path, digest, size, lambda: open(blob, "rb"), rep.meter("Pushing", ident, size)
                )
                rep.emit(status("Pushed", ident))
        finally:
            blob.unlink(missing_ok=True)
        origins.add(diff_id, Origin(digest, size, mf.DOCKER_LAYER_GZIP, domain, path))
        return mf.Descriptor(mf.DOCKER_LAYER_GZIP, digest, size)

    sem = asyncio.Semaphore(max(1, limit))

    async def run(diff_id: str) -> mf.Descriptor:
        async with sem:
            return await asyncio.to_thread(one, diff_id)

    tasks = {d: asyncio.ensure_future(run(d)) for d in unique}
    try:
        everything = asyncio.ensure_future(asyncio.gather(*tasks.values()))
        async for msg in _pump(rep, everything):
            yield msg
        descs = {d: t.result() for d, t in tasks.items()}

        def finish() -> tuple[str, int]:
            cfg = store.blob_path(img.id).read_bytes()
            if not client.blob_exists(path, img.id, scopes):
                client.upload_blob(path, img.id, len(cfg), lambda: _bytes_io(cfg), lambda _n: None)
            data = mf.schema2(
                mf.Descriptor(mf.DOCKER_CONFIG, img.id, len(cfg)),
                [descs[d] for d in img.diff_ids],
            )
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
            said = client.put_manifest(path, tag, data, mf.DOCKER_MANIFEST)
            if said and said != digest:
                raise SystemError_(f"registry stored manifest {said}, expected {digest}")
            store.add_digest_ref(f"{ref.name}@{digest}", img.id)
            return digest, len(data)

        digest, size = await asyncio.to_thread(finish)
    finally:
        rep.cancelled = True
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        await asyncio.to_thread(shutil.rmtree, work, True)
    yield status(f"{tag}: digest: {digest} size: {size}")
    yield {"progressDetail": {}, "aux": {"Tag": tag, "Digest": digest, "Size": size}}


def _bytes_io(data: bytes) -> Any:
    import io

    return io.BytesIO(data)
