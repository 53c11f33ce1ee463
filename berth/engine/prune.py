"""Prunes (containers, images) and disk usage (`system df`), with dockerd's rules:
which objects are unused, which filters apply (until, label, label!, dangling), and
how much space went."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from berth.engine.clock import parse_rfc3339
from berth.engine.errors import Conflict, InvalidParameter, NotFound
from berth.engine.events import parse_time
from berth.engine.filters import normalize

_CONTAINER_KEYS = frozenset({"until", "label", "label!"})
_IMAGE_KEYS = frozenset({"until", "label", "label!", "dangling"})
_ACTIVE = ("running", "paused", "restarting")


def _kv_all(specs: list[str], labels: Mapping[str, str]) -> bool:
    for spec in specs:
        k, eq, v = spec.partition("=")
        if k not in labels or (eq and labels[k] != v):
            return False
    return True


def labels_match(flt: Mapping[str, list[str]], labels: Mapping[str, str]) -> bool:
    """dockerd's matchLabels: every `label` matches, and not every `label!` does."""
    if flt.get("label") and not _kv_all(flt["label"], labels):
        return False
    return not (flt.get("label!") and _kv_all(flt["label!"], labels))


def until_seconds(flt: Mapping[str, list[str]]) -> float | None:
    vals = flt.get("until") or []
    if len(vals) > 1:
        raise InvalidParameter("more than one until filter specified")
    if not vals:
        return None
    ns = parse_time(vals[0])
    return None if ns is None else ns / 1e9


def dir_size(path: Path | str) -> int:
    """Bytes in the files under path, each inode once (what `du --apparent-size` adds)."""
    total = 0
    seen: set[tuple[int, int]] = set()
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1:
                if key in seen:
                    continue
                seen.add(key)
            total += st.st_size
    return total


@dataclass
class ContainerPrune:
    deleted: list[str] = field(default_factory=list)
    reclaimed: int = 0


async def prune_containers(eng: Any, raw_filters: object) -> ContainerPrune:
    """POST /containers/prune: remove every stopped container the filters select."""
    flt = normalize(raw_filters, _CONTAINER_KEYS)
    until = until_seconds(flt)
    svc = eng.containers
    rep = ContainerPrune()
    for c in list(svc.all()):
        if c.state.status in _ACTIVE or c.state.status == "removing":
            continue
        if until is not None and parse_rfc3339(c.created) > until:
            continue
        if not labels_match(flt, c.config.labels or {}):
            continue
        size = await asyncio.to_thread(dir_size, svc.overlay_dir / c.id / "upper")
        try:
            await svc.remove(c.id)
        except (Conflict, NotFound):
            continue  # started or removed meanwhile
        rep.deleted.append(c.id)
        rep.reclaimed += size
    eng.events.publish("container", "prune", "", {"reclaimed": str(rep.reclaimed)})
    return rep


@dataclass
class ImagePrune:
    deleted: list[dict[str, str]] = field(default_factory=list)
    reclaimed: int = 0


def _dangling_only(flt: Mapping[str, list[str]]) -> bool:
    vals = flt.get("dangling") or []
    if not vals:
        return True
    v = vals[-1].lower()
    if v in ("true", "1"):
        return True
    if v in ("false", "0"):
        return False
    raise InvalidParameter(f"invalid filter 'dangling={vals[-1]}'")


async def prune_images(eng: Any, raw_filters: object) -> ImagePrune:
    """POST /images/prune: untagged images (all unused ones with dangling=false) that no
    container uses."""
    from berth.engine.images.model import chain_ids

    flt = normalize(raw_filters, _IMAGE_KEYS)
    dangling_only = _dangling_only(flt)
    until = until_seconds(flt)
    images = eng.images
    used = {c.image_id for c in eng.containers.all()}
    rep = ImagePrune()
    for img in images.list(all=True):
        if img.id in used:
            continue
        if dangling_only and (img.repo_tags or img.repo_digests):
            continue
        if until is not None and img.created_unix > until:
            continue
        if not labels_match(flt, img.labels or {}):
            continue
        sizes = images.layer_size(img)
        by_chain = {
            ch: sizes.get(d, 0) for d, ch in zip(img.diff_ids, chain_ids(img.diff_ids), strict=True)
        }
        try:
            records = images.remove(img.id, force=True, prune=True)
        except (Conflict, NotFound):
            continue  # a child image, or gone meanwhile
        for r in records:
            if "Untagged" in r:
                eng.events.image(img.id, "untag", r["Untagged"])
            elif r.get("Deleted") == img.id:
                eng.events.image(img.id, "delete")
            rep.reclaimed += by_chain.get(r.get("Deleted", ""), 0)
        rep.deleted.extend(records)
    eng.events.publish("image", "prune", "", {"reclaimed": str(rep.reclaimed)})
    return rep


# ---- system df ---------------------------------------------------------------------

DF_TYPES = ("container", "image", "volume", "build-cache")


async def disk_usage(eng: Any, types: list[str] | None) -> dict[str, Any]:
    """GET /system/df. `types` limits the answer (API >= 1.42); None means all.
    Containers come as ContainerUsage, for the API to shape."""
    for t in types or []:
        if t not in DF_TYPES:
            raise InvalidParameter(f"unknown object type: {t}")
    want = set(types or DF_TYPES)
    out: dict[str, Any] = {}
    containers = eng.containers.all()
    if "image" in want:
        out.update(_images_usage(eng, containers))
    if "container" in want:
        out["Containers"] = await _containers_usage(eng, containers)
    if "volume" in want:
        vols = getattr(eng, "volumes", None)
        out["Volumes"] = vols.usage() if vols is not None and hasattr(vols, "usage") else []
    if "build-cache" in want:
        out["BuildCache"] = []
    return out


def _images_usage(eng: Any, containers: list[Any]) -> dict[str, Any]:
    images = eng.images.list(all=True)
    sizes: dict[str, int] = {}
    users: dict[str, int] = {}
    for img in images:
        sizes.update(eng.images.layer_size(img))
        for d in set(img.diff_ids):
            users[d] = users.get(d, 0) + 1
    per_image = {c.image_id for c in containers}
    counts = {i: sum(1 for c in containers if c.image_id == i) for i in per_image}
    summaries = []
    for img in images:
        shared = sum(sizes.get(d, 0) for d in set(img.diff_ids) if users.get(d, 0) > 1)
        summaries.append(
            {
                "Containers": counts.get(img.id, 0),
                "Created": img.created_unix,
                "Id": img.id,
                "Labels": img.labels or {},
                "ParentId": img.parent,
                "RepoDigests": img.repo_digests,
                "RepoTags": img.repo_tags,
                "SharedSize": shared,
                "Size": img.size,
            }
        )
    return {"LayersSize": sum(sizes.values()), "Images": summaries}


@dataclass
class ContainerUsage:
    container: Any
    size_rw: int
    size_root_fs: int


async def _containers_usage(eng: Any, containers: list[Any]) -> list[ContainerUsage]:
    image_sizes: dict[str, int] = {}
    out = []
    for c in sorted(containers, key=lambda c: c.created, reverse=True):
        if c.image_id not in image_sizes:
            try:
                image_sizes[c.image_id] = eng.images.get(c.image_id).size
            except NotFound:
                image_sizes[c.image_id] = 0
        rw = await asyncio.to_thread(dir_size, eng.containers.overlay_dir / c.id / "upper")
        out.append(ContainerUsage(c, rw, rw + image_sizes[c.image_id]))
    return out
