"""Images made on this host: `docker import` (one layer from a rootfs tar), `docker
commit` and a build step (a parent's layers plus at most one new one). Each prepares its
layer through the `LayerPreparer` and commits the image in one step."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import IO

from berth.engine.images.importer import apply_changes, import_config, parse_platform
from berth.engine.images.layers import LayerPreparer
from berth.engine.images.model import ImageConfig
from berth.engine.images.refs import target_tags
from berth.engine.images.store import ImageStore, NewImage, PreparedLayer

# make_config(the new layer's diff_id, or None without one) -> the image's config JSON
MakeConfig = Callable[[str | None], bytes]


def add_image(
    store: ImageStore,
    preparer: LayerPreparer,
    work: Path,
    layer: Path | None,
    make_config: MakeConfig,
    *,
    below: list[str],
    tags: list[str],
    parent: str,
) -> str:
    """Commit the image whose layers are `below` plus the uncompressed layer tar at
    `layer` (None: no new layer), prepared in `work`; its id. Blocking."""
    layers: list[PreparedLayer] = []
    diff_ids = list(below)
    if layer is not None:
        layers.append(preparer.prepare_file(layer, None, work, 0))
        diff_ids.append(layers[0].diff_id)
    cfg = make_config(layers[0].diff_id if layers else None)
    image_id = "sha256:" + hashlib.sha256(cfg).hexdigest()
    store.commit([NewImage(image_id, cfg, diff_ids, tags, parent=parent)], layers)
    return image_id


async def import_rootfs(
    store: ImageStore,
    preparer: LayerPreparer,
    body: AsyncIterator[bytes],
    *,
    repo: str | None,
    tag: str | None,
    changes: list[str],
    message: str,
    platform: str | None,
) -> tuple[str, list[str]]:
    """`docker import`: a one-layer image from a rootfs tar (maybe gzip/xz/bzip2);
    (its id, the tags it got)."""
    from berth.engine.images.archive import host_arch

    config = apply_changes(ImageConfig(), changes)
    os_, arch, variant = parse_platform(platform, host_arch())
    tags = target_tags(repo, tag, "import")

    def make_config(diff_id: str | None) -> bytes:
        assert diff_id is not None  # an import always has its layer
        return import_config(diff_id, config, message or "Imported from -", os_, arch, variant)

    work = store.mkdtemp("import-")
    try:
        spool = work / "in"
        await preparer.spool(body, spool)
        image_id = await asyncio.to_thread(
            add_image, store, preparer, work, spool, make_config, below=[], tags=tags, parent=""
        )
    finally:
        await asyncio.to_thread(shutil.rmtree, work, True)
    return image_id, tags


def commit_layer(
    store: ImageStore,
    preparer: LayerPreparer,
    write_layer: Callable[[IO[bytes]], int],
    make_config: MakeConfig,
    *,
    below: list[str],
    tags: list[str],
    parent: str,
) -> str:
    """`docker commit`: write_layer(file) writes the layer tar and returns its entry count
    (an empty layer is not added, as in dockerd); the new image's id. Blocking."""
    work = store.mkdtemp("commit-")
    try:
        raw = work / "layer.tar"
        with open(raw, "wb") as f:
            entries = write_layer(f)
        layer = raw if entries else None
        return add_image(
            store, preparer, work, layer, make_config, below=below, tags=tags, parent=parent
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def add_step_image(
    store: ImageStore,
    preparer: LayerPreparer,
    layer_tar: Path | None,
    make_config: MakeConfig,
    *,
    below: list[str],
    parent: str,
    existing_layer: str | None,
) -> str:
    """A build step: `below` plus LAYER_TAR or EXISTING_LAYER (a layer the store has);
    the new image's id. Blocking."""
    work = store.mkdtemp("step-")
    try:
        if layer_tar is None and existing_layer is not None:
            below = [*below, existing_layer]
            known: str = existing_layer

            def reuse(_none: str | None) -> bytes:
                return make_config(known)

            return add_image(
                store, preparer, work, None, reuse, below=below, tags=[], parent=parent
            )
        return add_image(
            store, preparer, work, layer_tar, make_config, below=below, tags=[], parent=parent
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
