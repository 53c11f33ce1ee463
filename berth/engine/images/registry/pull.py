"""docker pull: resolve the manifest, download layers (a few at once), verify, extract,
and commit the image in one step. Until the commit nothing is in the store: a failure
anywhere leaves it exactly as it was."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from berth.engine.errors import EngineError, InvalidParameter, NotFound
from berth.engine.images.model import short_id
from berth.engine.images.reference import Reference
from berth.engine.images.registry import manifest as mf
from berth.engine.images.registry.auth import Credentials
from berth.engine.images.registry.client import Registries, RegistryClient
from berth.engine.images.registry.meta import LayerOrigins, Origin
from berth.engine.images.registry.progress import Reporter, status
from berth.engine.images.store import NewImage, PreparedLayer

if TYPE_CHECKING:
    from berth.engine.images.service import ImageService


log = logging.getLogger("berth.pull")


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


class _CountingFile(io.RawIOBase):
    """A raw file that reports how far it has been read (for "Extracting" progress)."""

    def __init__(self, path: Path, cb: Any) -> None:
        self.f = open(path, "rb")  # noqa: SIM115 - closed in close()
        self.cb = cb
        self.done = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = self.f.readinto(b)
        self.done += n
        self.cb(self.done)
        return n

    def close(self) -> None:
        self.f.close()
        super().close()


async def _pump(rep: Reporter, task: asyncio.Future[Any]) -> AsyncIterator[dict[str, Any]]:
    """Yield the reporter's messages until `task` is done (then what is left queued)."""
    while not task.done():
        getter = asyncio.ensure_future(rep.queue.get())
        done, _ = await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
        if getter in done:
            yield getter.result()
        else:
            getter.cancel()
    await asyncio.sleep(0)  # let call_soon_threadsafe callbacks land
    while not rep.queue.empty():
        yield rep.queue.get_nowait()


async def pull(
    svc: ImageService,
    hub: Registries,
    origins: LayerOrigins,
    ref: Reference,
    creds: Credentials,
    platform: str | None,
    limit: int = 3,
) -> AsyncIterator[dict[str, Any]]:
    """Progress messages of a pull; errors before the first message are raised as they are.

    A bare name (no tag, no digest: `docker pull --all-tags`) pulls every tag, as dockerd does.
    """
    if ref.name_only:
        tags = await asyncio.to_thread(hub.client(ref.domain, creds).list_tags, ref.path)
        if not tags:
            raise NotFound(f"no tags found for repository {ref.familiar_name}")
        changed: list[bool] = []
        for t in tags:
            async for msg in _pull_one(
                svc, hub, origins, ref.with_tag(t), creds, platform, limit, changed
            ):
                yield msg
        word = "Downloaded newer image" if any(changed) else "Image is up to date"
        yield status(f"Status: {word} for {ref.familiar_name}")
        return
    async for msg in _pull_one(svc, hub, origins, ref, creds, platform, limit, None):
        yield msg


async def _pull_one(
    svc: ImageService,
    hub: Registries,
    origins: LayerOrigins,
    ref: Reference,
    creds: Credentials,
    platform: str | None,
    limit: int,
    changed: list[bool] | None,
) -> AsyncIterator[dict[str, Any]]:
    """One tag or digest. With `changed`, the final "Status:" line is left to the caller
    (one for all tags) and whether this image was new is appended there instead."""
    client, top, doc = await asyncio.to_thread(_endpoint, hub, ref, creds, platform)
    yield {"status": f"Pulling from {ref.path}", "id": ref.digest or ref.tag}

    store = svc.store
    cfg_bytes = await asyncio.to_thread(
        client.get_blob_small, ref.path, doc.config.digest, doc.config.size
    )
    diff_ids = _check_config(cfg_bytes, len(doc.layers), platform, ref)
    image_id = doc.config.digest
    tags = (
        [f"{ref.name}@{ref.digest}"]
        if ref.digest
        else [f"{ref.name}:{ref.tag}", f"{ref.name}@{top}"]
    )
    before = store.ref_target(tags[0])
    exists = bool(store.load_images([image_id])) and all(store.has_layer(d) for d in diff_ids)

    loop = asyncio.get_running_loop()
    rep = Reporter(loop)
    sem = asyncio.Semaphore(max(1, limit))
    work = store.mkdtemp("pull-")
    tasks: dict[str, asyncio.Task[None]] = {}
    try:
        wanted: dict[str, tuple[int, mf.Descriptor]] = {}
        if not exists:
            for i, (desc, diff_id) in enumerate(zip(doc.layers, diff_ids, strict=True)):
                ident = short_id(desc.digest)
                if store.has_layer(diff_id):
                    yield status("Already exists", ident)
                elif diff_id not in wanted:
                    wanted[diff_id] = (i, desc)
                    yield status("Pulling fs layer", ident)

        def download(i: int, desc: mf.Descriptor) -> None:
            ident = short_id(desc.digest)
            with open(work / f"{i}.blob", "wb") as f:
                client.fetch_blob(
                    ref.path,
                    desc.digest,
                    desc.size,
                    f,
                    rep.meter("Downloading", ident, desc.size),
                    lambda: rep.cancelled,
                )
            rep.emit(status("Verifying Checksum", ident))
            rep.emit(status("Download complete", ident))

        async def run(i: int, desc: mf.Descriptor) -> None:
            async with sem:
                if not rep.cancelled:
                    await asyncio.to_thread(download, i, desc)

        for diff_id, (i, desc) in wanted.items():
            tasks[diff_id] = asyncio.create_task(run(i, desc))

        prepared: list[PreparedLayer] = []
        for diff_id, (i, desc) in wanted.items():
            async for msg in _pump(rep, tasks[diff_id]):
                yield msg
            tasks[diff_id].result()
            ident = short_id(desc.digest)

            def prepare(i: int = i, desc: mf.Descriptor = desc, diff_id: str = diff_id) -> Any:
                meter = rep.meter("Extracting", short_id(desc.digest), desc.size)
                src = io.BufferedReader(_CountingFile(work / f"{i}.blob", meter), 1 << 20)
                try:
                    return svc._prepare_layer(src, diff_id, work, i)
                finally:
                    src.close()
                    (work / f"{i}.blob").unlink(missing_ok=True)

            job = asyncio.ensure_future(asyncio.to_thread(prepare))
            async for msg in _pump(rep, job):
                yield msg
            prepared.append(job.result())
            yield status("Pull complete", ident)

        await asyncio.to_thread(
            store.commit,
            [NewImage(image_id, cfg_bytes, diff_ids, tags)],
            prepared,
            fault="pull:commit",
        )
        for desc, diff_id in zip(doc.layers, diff_ids, strict=True):
            origins.add(
                diff_id, Origin(desc.digest, desc.size, desc.media_type, ref.domain, ref.path)
            )
    finally:
        rep.cancelled = True
        if tasks:
            await asyncio.gather(*tasks.values(), return_exceptions=True)
        await asyncio.to_thread(shutil.rmtree, work, True)
    yield status(f"Digest: {top}")
    if changed is not None:
        changed.append(before != image_id)
    elif before == image_id:
        yield status(f"Status: Image is up to date for {ref.familiar}")
    else:
        yield status(f"Status: Downloaded newer image for {ref.familiar}")
