"""Networks in SQLite (one JSON document per network). Endpoints live on the containers
(Container.networks), so a lease can never outlive its container."""

from __future__ import annotations

import dataclasses
import json

from berth.engine.db import Database, decode_record
from berth.engine.network.model import Network

_DDL = """
CREATE TABLE IF NOT EXISTS networks (
    id TEXT PRIMARY KEY,
    name TEXT UNIQUE NOT NULL,
    doc TEXT NOT NULL
);
"""


class NetworkStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.ensure_schema(_DDL)
        self._by_id: dict[str, Network] = {}
        for row in db.query("SELECT doc FROM networks"):
            n = decode_record(Network, json.loads(row["doc"]))
            self._by_id[n.id] = n

    def all(self) -> list[Network]:
        return sorted(self._by_id.values(), key=lambda n: n.created)

    def find(self, ref: str) -> Network | None:
        """By full id, name, or unique id prefix (dockerd's order)."""
        if ref in self._by_id:
            return self._by_id[ref]
        for n in self._by_id.values():
            if n.name == ref:
                return n
        hits = [n for n in self._by_id.values() if n.id.startswith(ref)] if ref else []
        return hits[0] if len(hits) == 1 else None

    def add(self, n: Network) -> None:
        self.db.execute(
            "INSERT INTO networks (id, name, doc) VALUES (?, ?, ?)",
            (n.id, n.name, json.dumps(dataclasses.asdict(n))),
        )
        self._by_id[n.id] = n

    def save(self, n: Network) -> None:
        self.db.execute(
            "UPDATE networks SET doc = ? WHERE id = ?", (json.dumps(dataclasses.asdict(n)), n.id)
        )

    def remove(self, nid: str) -> None:
        self.db.execute("DELETE FROM networks WHERE id = ?", (nid,))
        self._by_id.pop(nid, None)
