"""`docker save`: the images the names select, written as one tar that is both a
docker-archive (manifest.json, repositories) and an OCI layout (index.json, oci-layout,
blobs/), streamed."""

from __future__ import annotations

import asyncio
import hashlib
import json
import tarfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from berth.engine.images.archive import (
    ANN_IMAGE_NAME,
    ANN_REF_NAME,
    MT_OCI_CONFIG,
    MT_OCI_INDEX,
    MT_OCI_LAYER,
    MT_OCI_MANIFEST,
    blob_member,
)
from berth.engine.images.reference import Reference, familiar, parse_any, parse_normalized
from berth.engine.images.refs import ref_key, resolve_id
from berth.engine.images.store import ImageStore

_BLOCK = 512
_RECORD = 20 * _BLOCK
_READ = 1 << 20


@dataclass
class SaveItem:
    """One image to save: its config blob, layer blobs (bottom first) and familiar tags."""

    image_id: str
    config_bytes: bytes
    layers: list[tuple[str, Path, int]]  # (diff_id, blob path, size)
    tags: list[str]  # full normalised refs


# ---- which images ----------------------------------------------------------
def save_items(store: ImageStore, refs: list[str]) -> list[SaveItem]:
    """The images `refs` name, in the order first named, each with the tags to write
    (a bare repository name selects all its tags). Blocking."""
    order, tags = _select(store, refs)
    items = []
    for img in store.load_images(order):
        cfg = store.blob_path(img.id).read_bytes()
        layers = []
        for d in img.diff_ids:
            p = store.blob_path(d)
            layers.append((d, p, p.stat().st_size))
        items.append(SaveItem(img.id, cfg, layers, tags[img.id]))
    items.sort(key=lambda it: order.index(it.image_id))
    return items


def _select(store: ImageStore, refs: list[str]) -> tuple[list[str], dict[str, list[str]]]:
    """(image ids in order, image id -> tags to write)."""
    order: list[str] = []
    tags: dict[str, list[str]] = {}

    def add(image_id: str, tag: str | None) -> None:
        if image_id not in tags:
            order.append(image_id)
            tags[image_id] = []
        if tag and tag not in tags[image_id]:
            tags[image_id].append(tag)

    for name in refs:
        parsed = parse_any(name)
        if isinstance(parsed, Reference) and parsed.name_only:
            assocs = [
                (r, img.id)
                for img in store.load_images()
                for r in img.repo_tags
                if parse_normalized(r).name == parsed.name
            ]
            for r, image_id in sorted(assocs):
                add(image_id, str(parse_normalized(r)))
            if assocs:
                continue
        image_id = resolve_id(store, name)
        tag = None
        if isinstance(parsed, Reference) and parsed.digest is None:
            key = ref_key(parsed)
            if store.ref_target(key) == image_id:
                tag = key
        add(image_id, tag)
    return order, tags


# ---- the archive -----------------------------------------------------------
async def write_archive(items: list[SaveItem]) -> AsyncIterator[bytes]:
    """Stream a tar with blobs/, index.json, manifest.json, oci-layout and repositories."""
    written = 0
    async for chunk in _members(items):
        written += len(chunk)
        yield chunk
    end = b"\0" * (2 * _BLOCK)
    total = written + len(end)
    yield end + b"\0" * (-total % _RECORD)


async def _members(items: list[SaveItem]) -> AsyncIterator[bytes]:
    yield _header("blobs", 0, tarfile.DIRTYPE)
    yield _header("blobs/sha256", 0, tarfile.DIRTYPE)
    seen: set[str] = set()
    index: list[dict] = []
    manifest: list[dict] = []
    repos: dict[str, dict[str, str]] = {}
    for item in items:
        mbytes = _manifest_bytes(item)
        mdigest = "sha256:" + hashlib.sha256(mbytes).hexdigest()
        async for chunk in _blobs(item, mdigest, mbytes, seen):
            yield chunk
        index += _index_entries(item, mdigest, len(mbytes))
        manifest.append(
            {
                "Config": blob_member(item.image_id),
                "RepoTags": [familiar(t) for t in item.tags] or None,
                "Layers": [blob_member(d) for d, _, _ in item.layers],
            }
        )
        _add_repositories(repos, item)
    files = [
        ("index.json", {"schemaVersion": 2, "mediaType": MT_OCI_INDEX, "manifests": index}),
        ("manifest.json", manifest),
        ("oci-layout", {"imageLayoutVersion": "1.0.0"}),
    ]
    if repos:
        files.append(("repositories", repos))
    for name, obj in files:
        data = json.dumps(obj, separators=(",", ":")).encode() + b"\n"
        yield _header(name, len(data)) + data + _pad(len(data))


async def _blobs(
    item: SaveItem, mdigest: str, mbytes: bytes, seen: set[str]
) -> AsyncIterator[bytes]:
    """The item's layer, config and manifest blobs not yet written (added to `seen`)."""
    for digest, path, size in item.layers:
        if digest in seen:
            continue
        seen.add(digest)
        yield _header(blob_member(digest), size)
        with open(path, "rb") as f:  # noqa: ASYNC230 - reads below go to a thread
            left = size
            while left > 0:
                chunk = await asyncio.to_thread(f.read, min(left, _READ))
                if not chunk:
                    raise OSError(f"layer blob {digest} is shorter than recorded")
                left -= len(chunk)
                yield chunk
        yield _pad(size)
    for digest, data in ((item.image_id, item.config_bytes), (mdigest, mbytes)):
        if digest in seen:
            continue
        seen.add(digest)
        yield _header(blob_member(digest), len(data)) + data + _pad(len(data))


def _index_entries(item: SaveItem, mdigest: str, msize: int) -> list[dict[str, Any]]:
    """index.json's descriptors of the item's manifest: one per tag (annotated)."""
    desc: dict[str, Any] = {"mediaType": MT_OCI_MANIFEST, "digest": mdigest, "size": msize}
    if not item.tags:
        return [desc]
    out = []
    for full in item.tags:
        tag = full.rsplit(":", 1)[1]
        out.append(desc | {"annotations": {ANN_IMAGE_NAME: full, ANN_REF_NAME: tag}})
    return out


def _add_repositories(repos: dict[str, dict[str, str]], item: SaveItem) -> None:
    """The legacy `repositories` file: repo -> tag -> the top layer's hex."""
    if not item.layers:
        return
    top = item.layers[-1][0].split(":", 1)[1]
    for ft in (familiar(t) for t in item.tags):
        repo, tag = ft.rsplit(":", 1)
        repos.setdefault(repo, {})[tag] = top


def _manifest_bytes(item: SaveItem) -> bytes:
    doc = {
        "schemaVersion": 2,
        "mediaType": MT_OCI_MANIFEST,
        "config": {
            "mediaType": MT_OCI_CONFIG,
            "digest": item.image_id,
            "size": len(item.config_bytes),
        },
        "layers": [
            {"mediaType": MT_OCI_LAYER, "digest": d, "size": size} for d, _, size in item.layers
        ],
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def _header(name: str, size: int, kind: bytes = tarfile.REGTYPE) -> bytes:
    ti = tarfile.TarInfo(name)
    ti.size = size if kind == tarfile.REGTYPE else 0
    ti.type = kind
    ti.mode = 0o644 if kind == tarfile.REGTYPE else 0o755
    ti.mtime = 0
    ti.uname = ti.gname = ""
    return ti.tobuf(tarfile.PAX_FORMAT)


def _pad(n: int) -> bytes:
    return b"\0" * (-n % _BLOCK)
