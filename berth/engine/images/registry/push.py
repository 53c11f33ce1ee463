"""docker push: layers (skipped when the registry has them, mounted from another
repository when one of ours came from there, else compressed and uploaded), the config,
then a schema2 manifest per tag."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from berth.engine.errors import NotFound, SystemError_
from berth.engine.images.model import Image, short_id
from berth.engine.images.reference import Reference, parse_normalized
from berth.engine.images.registry import auth
from berth.engine.images.registry import manifest as mf
from berth.engine.images.registry.auth import Credentials
from berth.engine.images.registry.client import Registries, RegistryClient
from berth.engine.images.registry.meta import LayerOrigins, Origin
from berth.engine.images.registry.progress import Reporter, pump, status
from berth.engine.images.registry.upload import upload_blob
from berth.engine.images.store import ImageStore

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


def targets(store: ImageStore, ref: Reference) -> list[tuple[str, str]]:
    """(tag, image id) pairs to push: the one tag asked for, or every tag of the repo."""
    if ref.tag is not None:
        image_id = store.ref_target(f"{ref.name}:{ref.tag}")
        pairs = [(ref.tag, image_id)] if image_id else []
    else:
        pairs = []
        for name, image_id in store.tags():
            r = parse_normalized(name)
            if r.name == ref.name and r.tag is not None:
                pairs.append((r.tag, image_id))
        pairs.sort()
    if not pairs:
        raise NotFound(f"An image does not exist locally with the tag: {ref.familiar_name}")
    return pairs


async def push(
    name: str,
    tag: str | None,
    creds: Credentials,
    *,
    store: ImageStore,
    hub: Registries,
    origins: LayerOrigins,
    limit: int = 5,
) -> AsyncIterator[dict[str, Any]]:
    """Progress messages of `docker push name[:tag]` (every tag of the repository without
    one); `limit` is how many layers upload at once."""
    ref = parse_normalized(name)
    if tag:
        ref = ref.with_tag(tag)
    pairs = targets(store, ref)
    yield status(f"The push refers to repository [{ref.name}]")
    client = hub.client(ref.domain, creds)
    await asyncio.to_thread(client.ping)
    for t, image_id in pairs:
        images = store.load_images([image_id])
        if not images:
            raise NotFound(f"An image does not exist locally with the tag: {ref.familiar_name}")
        async for msg in _push_image(store, client, origins, ref, t, images[0], limit):
            yield msg


class _LayerPush:
    """One layer at a time (called from worker threads): skipped when the repository has
    it, mounted when another repository of the registry has it, else uploaded."""

    def __init__(
        self,
        store: ImageStore,
        client: RegistryClient,
        origins: LayerOrigins,
        ref: Reference,
        rep: Reporter,
        work: Path,
    ) -> None:
        self.store = store
        self.client = client
        self.origins = origins
        self.path, self.domain = ref.path, ref.domain
        self.scopes = [auth.repo_scope(ref.path, "pull,push")]
        self.rep = rep
        self.work = work

    def push(self, diff_id: str) -> mf.Descriptor:
        found = self._known(diff_id)
        return found if found is not None else self._upload(diff_id)

    def _known(self, diff_id: str) -> mf.Descriptor | None:
        """The blob as the registry already has it (here, or mounted from where the layer
        came from), or None."""
        ident = short_id(diff_id)
        path, domain = self.path, self.domain
        known = [o for o in self.origins.lookup(diff_id, domain) if o.media_type in _GZIP_TYPES]
        for o in sorted(known, key=lambda o: o.path != path):
            if self.rep.cancelled:
                break
            if o.path == path:
                if self.client.blob_exists(path, o.digest, self.scopes):
                    self.rep.emit(status("Layer already exists", ident))
                    return mf.Descriptor(mf.DOCKER_LAYER_GZIP, o.digest, o.size)
                self.origins.forget(diff_id, o.digest, domain)
                continue
            if self.client.mount_blob(path, o.digest, o.path) is None:
                self.rep.emit(status(f"Mounted from {o.path}", ident))
                self.origins.add(diff_id, Origin(o.digest, o.size, o.media_type, domain, path))
                return mf.Descriptor(mf.DOCKER_LAYER_GZIP, o.digest, o.size)
        return None

    def _upload(self, diff_id: str) -> mf.Descriptor:
        ident = short_id(diff_id)
        path = self.path
        blob = self.work / (ident + ".gz")
        digest, size = compress(self.store.blob_path(diff_id), blob)
        try:
            if self.client.blob_exists(path, digest, self.scopes):
                self.rep.emit(status("Layer already exists", ident))
            else:
                meter = self.rep.meter("Pushing", ident, size)
                upload_blob(self.client, path, digest, size, lambda: open(blob, "rb"), meter)
                self.rep.emit(status("Pushed", ident))
        finally:
            blob.unlink(missing_ok=True)
        self.origins.add(diff_id, Origin(digest, size, mf.DOCKER_LAYER_GZIP, self.domain, path))
        return mf.Descriptor(mf.DOCKER_LAYER_GZIP, digest, size)


def _put_manifest(
    store: ImageStore,
    client: RegistryClient,
    ref: Reference,
    tag: str,
    img: Image,
    layers: dict[str, mf.Descriptor],
) -> tuple[str, int]:
    """Upload the config (unless there), PUT the schema2 manifest under `tag` and record
    its digest as a RepoDigest: (manifest digest, manifest size)."""
    path = ref.path
    cfg = store.blob_path(img.id).read_bytes()
    if not client.blob_exists(path, img.id, [auth.repo_scope(path, "pull,push")]):
        upload_blob(client, path, img.id, len(cfg), lambda: io.BytesIO(cfg), lambda _n: None)
    data = mf.schema2(
        mf.Descriptor(mf.DOCKER_CONFIG, img.id, len(cfg)),
        [layers[d] for d in img.diff_ids],
    )
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    said = client.put_manifest(path, tag, data, mf.DOCKER_MANIFEST)
    if said and said != digest:
        raise SystemError_(f"registry stored manifest {said}, expected {digest}")
    store.add_digest_ref(f"{ref.name}@{digest}", img.id)
    return digest, len(data)


async def _push_image(
    store: ImageStore,
    client: RegistryClient,
    origins: LayerOrigins,
    ref: Reference,
    tag: str,
    img: Image,
    limit: int,
) -> AsyncIterator[dict[str, Any]]:
    rep = Reporter(asyncio.get_running_loop())
    unique = list(dict.fromkeys(img.diff_ids))
    # dockerd lists layers top-most first
    for d in reversed(unique):
        yield status("Preparing", short_id(d))
    work = store.mkdtemp("push-")
    layers = _LayerPush(store, client, origins, ref, rep, work)
    sem = asyncio.Semaphore(max(1, limit))

    async def run(diff_id: str) -> mf.Descriptor:
        async with sem:
            return await asyncio.to_thread(layers.push, diff_id)

    tasks = {d: asyncio.ensure_future(run(d)) for d in unique}
    try:
        everything = asyncio.ensure_future(asyncio.gather(*tasks.values()))
        async for msg in pump(rep, everything):
            yield msg
        descs = {d: t.result() for d, t in tasks.items()}
        digest, size = await asyncio.to_thread(_put_manifest, store, client, ref, tag, img, descs)
    finally:
        rep.cancelled = True
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        await asyncio.to_thread(shutil.rmtree, work, True)
    yield status(f"{tag}: digest: {digest} size: {size}")
    yield {"progressDetail": {}, "aux": {"Tag": tag, "Digest": digest, "Size": size}}
