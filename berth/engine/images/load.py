"""`docker load`: spool the archive, read every image's config and check it against its
manifest, prepare the layers the store lacks (through the same `LayerPreparer` path as a
pull), then commit all images at once."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import tarfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from berth.engine.errors import InvalidParameter
from berth.engine.images.archive import ArchiveImage, ArchiveReader, read_images
from berth.engine.images.compression import copy_uncompressed, detect, peek
from berth.engine.images.layers import LayerPreparer
from berth.engine.images.model import chain_ids, short_id
from berth.engine.images.reference import familiar
from berth.engine.images.store import ImageStore, NewImage, PreparedLayer, hex_of
from berth.engine.images.streams import ImageEvent


@dataclass(frozen=True)
class _Entry:
    """One image of the archive, its config checked."""

    archived: ArchiveImage
    config: bytes
    image_id: str
    diff_ids: list[str]


async def load(
    store: ImageStore,
    preparer: LayerPreparer,
    body: AsyncIterator[bytes],
    *,
    quiet: bool,
    event: ImageEvent,
) -> AsyncIterator[dict]:
    """Progress messages of a load (errors raised; `streams.streamed` words them)."""
    work = store.mkdtemp("load-")
    tf: tarfile.TarFile | None = None
    try:
        spool = work / "in"
        if await preparer.spool(body, spool) == 0:
            raise InvalidParameter("no archive in request body (empty input)")
        tf = await asyncio.to_thread(_open_tar, spool, work)
        reader = ArchiveReader(tf)
        entries = await asyncio.to_thread(_plan, reader)
        pending: dict[str, PreparedLayer] = {}
        news: list[NewImage] = []
        for e in entries:
            layers = _layers(store, preparer, reader, e, pending, work, quiet)
            async for msg in layers:
                yield msg
            news.append(NewImage(e.image_id, e.config, e.diff_ids, e.archived.tags))
        moved = await asyncio.to_thread(store.commit, news, list(pending.values()))
        for msg in _loaded(moved, news, event):
            yield msg
    finally:
        if tf is not None:
            tf.close()
        await asyncio.to_thread(shutil.rmtree, work, True)


async def _layers(
    store: ImageStore,
    preparer: LayerPreparer,
    reader: ArchiveReader,
    e: _Entry,
    pending: dict[str, PreparedLayer],
    work: Path,
    quiet: bool,
) -> AsyncIterator[dict]:
    """Prepare the layers of `e` that neither the store nor `pending` has, into `pending`."""
    chains = chain_ids(e.diff_ids)
    for i, (member, diff_id) in enumerate(zip(e.archived.layer_members, e.diff_ids, strict=True)):
        if diff_id in pending or store.has_layer(diff_id):
            continue
        ident = short_id(chains[i])
        if not quiet:
            yield {"status": "Loading layer", "progressDetail": {}, "id": ident}
        src = reader.open(member)
        try:
            n = len(pending) + 1
            pl = await asyncio.to_thread(preparer.prepare, src, diff_id, work, n)
        finally:
            src.close()
        pending[diff_id] = pl
        if not quiet:
            done = {"current": pl.tar_size, "total": pl.tar_size}
            yield {"status": "Loading layer", "progressDetail": done, "id": ident}


def _loaded(
    moved: list[tuple[str, str]], news: list[NewImage], event: ImageEvent
) -> Iterator[dict[str, Any]]:
    """The closing messages: tags taken from other images, then what was loaded (each
    image's event just before its message)."""
    for tag, old in moved:
        yield {
            "stream": f"The image {familiar(tag)} already exists, renaming the old one "
            f"with ID {old} to empty string\n"
        }
    for img in news:
        event(img.id, "load", "")
        if img.tags:
            for t in img.tags:
                yield {"stream": f"Loaded image: {familiar(t)}\n"}
        else:
            yield {"stream": f"Loaded image ID: {img.id}\n"}


def _open_tar(spool: Path, work: Path) -> tarfile.TarFile:
    """Open the uploaded archive, first undoing any compression (tar needs random access)."""
    with open(spool, "rb") as f:
        kind = detect(peek(f))
    path = spool
    if kind:
        path = work / "in.tar"
        with open(spool, "rb") as src, open(path, "wb") as dst:
            copy_uncompressed(src, dst)
        spool.unlink()
    try:
        return tarfile.open(path, "r:")
    except tarfile.TarError as exc:
        # Go's archive/tar wording, as dockerd answers a load that is no tar
        raise InvalidParameter("archive/tar: invalid tar header") from exc


def _plan(reader: ArchiveReader) -> list[_Entry]:
    """Read every image's config from the archive and check it against its manifest."""
    try:
        images = read_images(reader)
    except tarfile.TarError as exc:
        raise InvalidParameter(f"invalid tar archive: {exc}") from exc
    return [_entry(reader, ai) for ai in images]


def _entry(reader: ArchiveReader, ai: ArchiveImage) -> _Entry:
    cfg_bytes = reader.read(ai.config_member)
    try:
        cfg = json.loads(cfg_bytes)
    except ValueError as exc:
        raise InvalidParameter(f"invalid image config {ai.config_member}: {exc}") from exc
    if not isinstance(cfg, dict):
        raise InvalidParameter(f"invalid image config {ai.config_member}")
    diff_ids = (cfg.get("rootfs") or {}).get("diff_ids") or []
    try:
        for d in diff_ids:
            hex_of(d)
    except (ValueError, TypeError) as exc:
        raise InvalidParameter(f"invalid image config {ai.config_member}: {exc}") from exc
    if len(diff_ids) != len(ai.layer_members):
        raise InvalidParameter(
            f"invalid manifest, layers length mismatch: expected {len(diff_ids)}, "
            f"got {len(ai.layer_members)}"
        )
    image_id = "sha256:" + hashlib.sha256(cfg_bytes).hexdigest()
    return _Entry(ai, cfg_bytes, image_id, list(diff_ids))
