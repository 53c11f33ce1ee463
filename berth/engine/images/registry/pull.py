"""docker pull: resolve the manifest, download layers (a few at once, each uncompressed as
it arrives), verify, extract, and commit the image in one step. Until the commit nothing
is in the store: a failure anywhere leaves it exactly as it was."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from berth.engine.errors import EngineError, InvalidParameter, NotFound, SystemError_
from berth.engine.images.layers import LayerPreparer, Spooled
from berth.engine.images.model import short_id
from berth.engine.images.reference import Reference
from berth.engine.images.registry import manifest as mf
from berth.engine.images.registry.auth import Credentials
from berth.engine.images.registry.client import Registries, RegistryClient
from berth.engine.images.registry.meta import LayerOrigins, Origin
from berth.engine.images.registry.progress import Reporter, pump, status
from berth.engine.images.store import ImageStore, NewImage, PreparedLayer

log = logging.getLogger("berth.pull")
_READ_BUFFER = 1 << 20


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _platform(spec: str | None) -> tuple[str, str, str]:
    if spec:
        return mf.parse_platform(spec)
    from berth.engine.images.archive import host_arch

    arch, variant = mf.normalize_arch(host_arch(), "")
    return "linux", arch, variant


def resolve(
    client: RegistryClient, ref: Reference, platform: str | None
) -> tuple[str, mf.ImageManifest]:
    """(digest of what the reference names, the image manifest for the platform)."""
    tag_or_digest = ref.digest or ref.tag or "latest"
    what = f"manifest for {ref.familiar}"
    client.ping()
    data, ctype, header_digest = client.get_manifest(ref.path, tag_or_digest, what)
    top = _sha(data)
    if ref.digest is not None and top != ref.digest:
        raise InvalidParameter(f"manifest verification failed for digest {ref.digest}")
    if ref.digest is None and header_digest and header_digest != top:
        raise InvalidParameter(
            f"manifest verification failed: registry says {header_digest}, content is {top}"
        )
    doc = mf.parse(data, ctype)
    if isinstance(doc, mf.ManifestList):
        os_, arch, variant = _platform(platform)
        desc = mf.select(doc, os_, arch, variant)
        data, ctype, _ = client.get_manifest(ref.path, desc.digest, what)
        if _sha(data) != desc.digest:
            raise InvalidParameter(f"manifest verification failed for digest {desc.digest}")
        doc = mf.parse(data, ctype)
        if not isinstance(doc, mf.ImageManifest):
            raise InvalidParameter(f"manifest list entry {desc.digest} is not an image manifest")
    for layer in doc.layers:
        if layer.media_type and layer.media_type not in mf.LAYER_TYPES:
            raise InvalidParameter(f"unsupported layer media type {layer.media_type!r}")
    return top, doc


def _endpoint(
    hub: Registries, ref: Reference, creds: Credentials, platform: str | None
) -> tuple[RegistryClient, str, mf.ImageManifest]:
    """The registry to pull from, with the resolved manifest. Docker Hub images are
    tried on each mirror first, in order; the hub is the fallback, as with dockerd."""
    if ref.domain == "docker.io":
        for url in hub.mirrors:
            mirror = hub.mirror_client(url, creds)
            try:
                top, doc = resolve(mirror, ref, platform)
            except EngineError as exc:
                log.info("pull of %s from mirror %s failed, trying next: %s", ref, url, exc)
                continue
            return mirror, top, doc
    client = hub.client(ref.domain, creds)
    top, doc = resolve(client, ref, platform)
    return client, top, doc


def _check_config(cfg_bytes: bytes, n_layers: int, platform: str | None, ref: Reference) -> list:
    try:
        cfg = json.loads(cfg_bytes)
    except ValueError as exc:
        raise InvalidParameter(f"invalid image config: {exc}") from exc
    if not isinstance(cfg, dict):
        raise InvalidParameter("invalid image config")
    diff_ids = (cfg.get("rootfs") or {}).get("diff_ids") or []
    if not isinstance(diff_ids, list) or len(diff_ids) != n_layers:
        raise InvalidParameter(
            f"invalid manifest, layers length mismatch: expected {len(diff_ids)}, got {n_layers}"
        )
    if platform:
        want = mf.parse_platform(platform)
        arch, variant = mf.normalize_arch(
            str(cfg.get("architecture") or ""), str(cfg.get("variant") or "")
        )
        have = (str(cfg.get("os") or ""), arch, variant)
        if have[:2] != want[:2] or (want[2] and have[2] and have[2] != want[2]):
            raise NotFound(
                f"image with reference {ref.familiar} was found but does not match the "
                f"specified platform: wanted {'/'.join(x for x in want if x)}, "
                f"actual: {'/'.join(x for x in have if x)}"
            )
    return [str(d) for d in diff_ids]


@dataclass(frozen=True)
class _Target:
    """The image a reference resolved to, and how the store stands towards it."""

    config: bytes
    diff_ids: list[str]
    image_id: str
    tags: list[str]  # what the pull writes: name:tag and name@digest, or name@digest
    before: str | None  # the image the first tag named before the pull
    complete: bool  # the store already has the image and all its layers


def _target(
    store: ImageStore,
    client: RegistryClient,
    ref: Reference,
    top: str,
    doc: mf.ImageManifest,
    platform: str | None,
) -> _Target:
    cfg_bytes = client.get_blob_small(ref.path, doc.config.digest, doc.config.size)
    diff_ids = _check_config(cfg_bytes, len(doc.layers), platform, ref)
    image_id = doc.config.digest
    tags = (
        [f"{ref.name}@{ref.digest}"]
        if ref.digest
        else [f"{ref.name}:{ref.tag}", f"{ref.name}@{top}"]
    )
    complete = bool(store.load_images([image_id])) and all(store.has_layer(d) for d in diff_ids)
    return _Target(cfg_bytes, diff_ids, image_id, tags, store.ref_target(tags[0]), complete)


class _Layers:
    """The layers of one pull that the store lacks, each in a pipeline: the download is
    uncompressed (and hashed both ways) into work/n.tar as it arrives, a few layers at
    once, and each verified tar is extracted while the next downloads. Nothing read is
    trusted before its digest matched: a failure commits nothing, and the work dir goes."""

    def __init__(
        self,
        client: RegistryClient,
        path: str,
        preparer: LayerPreparer,
        work: Path,
        limit: int,
    ) -> None:
        self.client = client
        self.path = path
        self.preparer = preparer
        self.work = work
        self.rep = Reporter(asyncio.get_running_loop())
        self.sem = asyncio.Semaphore(max(1, limit))
        self.wanted: dict[str, tuple[int, mf.Descriptor]] = {}  # diff_id -> (index, blob)
        self.tasks: dict[str, asyncio.Task[PreparedLayer | None]] = {}

    def plan(
        self, store: ImageStore, doc: mf.ImageManifest, diff_ids: list[str]
    ) -> list[dict[str, Any]]:
        """Choose the layers to fetch; a status message for each layer."""
        msgs = []
        for i, (desc, diff_id) in enumerate(zip(doc.layers, diff_ids, strict=True)):
            ident = short_id(desc.digest)
            if store.has_layer(diff_id):
                msgs.append(status("Already exists", ident))
            elif diff_id not in self.wanted:
                self.wanted[diff_id] = (i, desc)
                msgs.append(status("Pulling fs layer", ident))
        return msgs

    def start(self) -> None:
        for diff_id, (i, desc) in self.wanted.items():
            self.tasks[diff_id] = asyncio.create_task(self._run(i, desc, diff_id))

    async def _run(self, i: int, desc: mf.Descriptor, diff_id: str) -> PreparedLayer | None:
        async with self.sem:
            if self.rep.cancelled:
                return None
            tar = await asyncio.to_thread(self._download, i, desc, diff_id)
        if self.rep.cancelled:
            return None
        return await asyncio.to_thread(self._unpack, i, desc, tar)

    def _download(self, i: int, desc: mf.Descriptor, diff_id: str) -> Spooled:
        ident = short_id(desc.digest)
        meter = self.rep.meter("Downloading", ident, desc.size)
        with self.client.open_blob(
            self.path, desc.digest, desc.size, meter, lambda: self.rep.cancelled
        ) as blob:
            try:
                tar = self.preparer.uncompress(
                    io.BufferedReader(blob, _READ_BUFFER), diff_id, self.work, i
                )
            except InvalidParameter:
                blob.verify()  # a corrupt download is reported as that, not as what it broke
                raise
            blob.verify()
        self.rep.emit(status("Verifying Checksum", ident))
        self.rep.emit(status("Download complete", ident))
        return tar

    def _unpack(self, i: int, desc: mf.Descriptor, tar: Spooled) -> PreparedLayer:
        meter = self.rep.meter("Extracting", short_id(desc.digest), desc.size)
        meter(0)
        prepared = self.preparer.unpack(tar, self.work, i)
        meter(desc.size)
        return prepared

    async def fetch(self, prepared: list[PreparedLayer]) -> AsyncIterator[dict[str, Any]]:
        """Progress of every wanted layer (all of them run at once); each prepared one is
        appended to `prepared`, in the manifest's order."""
        for diff_id in self.wanted:
            task = self.tasks[diff_id]
            async for msg in pump(self.rep, task):
                yield msg
            layer = task.result()
            if layer is None:
                raise SystemError_("download cancelled")
            prepared.append(layer)
            yield status("Pull complete", short_id(self.wanted[diff_id][1].digest))

    async def close(self) -> None:
        """Stop what still runs (after a failure) and wait for it."""
        self.rep.cancelled = True
        if self.tasks:
            await asyncio.gather(*self.tasks.values(), return_exceptions=True)


@dataclass(frozen=True)
class _Deps:
    """What a pull works with (the store, the preparer, the registry side)."""

    store: ImageStore
    preparer: LayerPreparer
    hub: Registries
    origins: LayerOrigins
    limit: int


async def pull(
    ref: Reference,
    creds: Credentials,
    platform: str | None,
    *,
    store: ImageStore,
    preparer: LayerPreparer,
    hub: Registries,
    origins: LayerOrigins,
    limit: int = 3,
) -> AsyncIterator[dict[str, Any]]:
    """Progress messages of a pull; errors before the first message are raised as they are.

    A bare name (no tag, no digest: `docker pull --all-tags`) pulls every tag, as dockerd does.
    `limit` is how many layers download at once."""
    deps = _Deps(store, preparer, hub, origins, limit)
    if ref.name_only:
        tags = await asyncio.to_thread(hub.client(ref.domain, creds).list_tags, ref.path)
        if not tags:
            raise NotFound(f"no tags found for repository {ref.familiar_name}")
        changed: list[bool] = []
        for t in tags:
            async for msg in _pull_one(deps, ref.with_tag(t), creds, platform, changed):
                yield msg
        word = "Downloaded newer image" if any(changed) else "Image is up to date"
        yield status(f"Status: {word} for {ref.familiar_name}")
        return
    async for msg in _pull_one(deps, ref, creds, platform, None):
        yield msg


async def _pull_one(
    deps: _Deps,
    ref: Reference,
    creds: Credentials,
    platform: str | None,
    changed: list[bool] | None,
) -> AsyncIterator[dict[str, Any]]:
    """One tag or digest. With `changed`, the final "Status:" line is left to the caller
    (one for all tags) and whether this image was new is appended there instead."""
    store = deps.store
    client, top, doc = await asyncio.to_thread(_endpoint, deps.hub, ref, creds, platform)
    yield {"status": f"Pulling from {ref.path}", "id": ref.digest or ref.tag}
    target = await asyncio.to_thread(_target, store, client, ref, top, doc, platform)
    work = store.mkdtemp("pull-")
    layers = _Layers(client, ref.path, deps.preparer, work, deps.limit)
    try:
        if not target.complete:
            for msg in layers.plan(store, doc, target.diff_ids):
                yield msg
        layers.start()
        prepared: list[PreparedLayer] = []
        async for msg in layers.fetch(prepared):
            yield msg
        image = NewImage(target.image_id, target.config, target.diff_ids, target.tags)
        await asyncio.to_thread(store.commit, [image], prepared, fault="pull:commit")
        for desc, diff_id in zip(doc.layers, target.diff_ids, strict=True):
            deps.origins.add(
                diff_id, Origin(desc.digest, desc.size, desc.media_type, ref.domain, ref.path)
            )
    finally:
        await layers.close()
        await asyncio.to_thread(shutil.rmtree, work, True)
    yield status(f"Digest: {top}")
    if changed is not None:
        changed.append(target.before != target.image_id)
    elif target.before == target.image_id:
        yield status(f"Status: Image is up to date for {ref.familiar}")
    else:
        yield status(f"Status: Downloaded newer image for {ref.familiar}")
