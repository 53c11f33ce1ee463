"""Where each layer came from or went to: diff_id -> (blob digest, registry, repository).

dockerd keeps the same ("v2 metadata"): a push can then skip a layer the registry has,
or mount it from another repository, instead of compressing and uploading it again, and
a pushed-back image keeps the blob digests (so the manifest digest) it was pulled with."""

from __future__ import annotations

from dataclasses import dataclass

from berth.engine.db import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS registry_layers (
    diff_id TEXT NOT NULL,
    digest TEXT NOT NULL,
    size INTEGER NOT NULL,
    media_type TEXT NOT NULL,
    domain TEXT NOT NULL,
    path TEXT NOT NULL,
    PRIMARY KEY (diff_id, digest, domain, path)
);
"""


@dataclass(frozen=True)
class Origin:
    digest: str
    size: int
    media_type: str
    domain: str
    path: str


class LayerOrigins:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.ensure_schema(SCHEMA)

    def add(self, diff_id: str, o: Origin) -> None:
        with self.db.tx() as c:
            c.execute(
                "INSERT OR REPLACE INTO registry_layers"
                "(diff_id, digest, size, media_type, domain, path) VALUES (?,?,?,?,?,?)",
                (diff_id, o.digest, o.size, o.media_type, o.domain, o.path),
            )

    def forget(self, diff_id: str, digest: str, domain: str) -> None:
        with self.db.tx() as c:
            c.execute(
                "DELETE FROM registry_layers WHERE diff_id=? AND digest=? AND domain=?",
                (diff_id, digest, domain),
            )

    def lookup(self, diff_id: str, domain: str) -> list[Origin]:
        rows = self.db.query(
            "SELECT digest, size, media_type, domain, path FROM registry_layers "
            "WHERE diff_id=? AND domain=?",
            (diff_id, domain),
        )
        return [
            Origin(r["digest"], r["size"], r["media_type"], r["domain"], r["path"]) for r in rows
        ]
