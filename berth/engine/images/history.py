"""GET /images/{name}/history: one entry per history step of the image's config, newest
first, with the layer sizes and the ids and tags of the parents that are here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from berth.engine.errors import NotFound
from berth.engine.images.model import Image, parse_rfc3339
from berth.engine.images.store import ImageStore


def history(store: ImageStore, img: Image, get: Callable[[str], Image]) -> list[dict[str, Any]]:
    """The history entries of `img`; `get` looks up its parents."""
    out = _entries(store, img)
    # An image whose parents are here (a build's steps) names each: the entry that
    # is a parent's last is that parent's, as dockerd shows it.
    cur: Image | None = img
    for _ in range(len(out)):
        if cur is None:
            break
        n = len(cur.raw_config.get("history") or cur.diff_ids)
        if 0 < n <= len(out):
            out[n - 1]["Id"] = cur.id
            out[n - 1]["Tags"] = cur.repo_tags or None
        try:
            cur = get(cur.parent) if cur.parent else None
        except NotFound:
            cur = None
    out.reverse()
    if out:
        out[0]["Id"] = img.id
        out[0]["Tags"] = img.repo_tags or None
    return out


def _entries(store: ImageStore, img: Image) -> list[dict[str, Any]]:
    """The config's history steps, oldest first, each with its layer's size."""
    sizes = store.layer_sizes(img.diff_ids)
    hist = img.raw_config.get("history") or [{} for _ in img.diff_ids]
    out: list[dict[str, Any]] = []
    layer = 0
    for h in hist:
        size = 0
        if not h.get("empty_layer"):
            if layer < len(img.diff_ids):
                size = sizes.get(img.diff_ids[layer], 0)
            layer += 1
        out.append(
            {
                "Id": "<missing>",
                "Created": int(parse_rfc3339(h.get("created") or img.created)),
                "CreatedBy": h.get("created_by") or "",
                "Tags": None,
                "Size": size,
                "Comment": h.get("comment") or "",
            }
        )
    return out
