"""The build cache: which image a step made from a given parent and container config.

The classic builder finds a cached step among the parent's children whose container
config equals the step's; the same key is kept here in a table of its own (the parent's
id and a digest of the config), so that a lookup is one query. An entry whose image is
gone is ignored (and dropped); `docker builder prune` removes the images the cache alone
holds."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from berth.engine.db import Database

_SCHEMA = """
CREATE TABLE IF NOT EXISTS build_cache (
    key TEXT PRIMARY KEY,
    parent TEXT NOT NULL,
    image_id TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS build_cache_image ON build_cache(image_id);
"""


def key(parent_id: str, container_config: dict[str, Any]) -> str:
    """The cache key of a step: its parent and its container config (the Cmd carries the
    instruction, the build args in scope and the copied files' digest)."""
    cc = {k: v for k, v in container_config.items() if k not in ("Hostname", "Image")}
    raw = json.dumps({"parent": parent_id, "config": cc}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


class BuildCache:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.ensure_schema(_SCHEMA)

    def get(self, k: str) -> str | None:
        row = self.db.query_one("SELECT image_id FROM build_cache WHERE key=?", (k,))
        return row["image_id"] if row is not None else None

    def put(self, k: str, parent_id: str, image_id: str) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO build_cache(key, parent, image_id, created) VALUES (?,?,?,?)",
            (k, parent_id, image_id, time.time()),
        )

    def forget(self, k: str) -> None:
        self.db.execute("DELETE FROM build_cache WHERE key=?", (k,))

    def image_ids(self) -> list[str]:
        return [r["image_id"] for r in self.db.query("SELECT DISTINCT image_id FROM build_cache")]

    def forget_image(self, image_id: str) -> None:
        self.db.execute("DELETE FROM build_cache WHERE image_id=?", (image_id,))
