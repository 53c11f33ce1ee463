"""Volume metadata in the database, mirrored in memory."""

from __future__ import annotations

import dataclasses
import json

from berth.engine.db import Database, decode_record
from berth.engine.volumes.model import Volume

_SCHEMA = """
CREATE TABLE IF NOT EXISTS volumes (
    name TEXT PRIMARY KEY,
    data TEXT NOT NULL
);
"""


class VolumeStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.ensure_schema(_SCHEMA)
        self._by_name: dict[str, Volume] = {}
        for row in db.query("SELECT data FROM volumes"):
            v = decode_record(Volume, json.loads(row["data"]))
            self._by_name[v.name] = v

    def get(self, name: str) -> Volume | None:
        return self._by_name.get(name)

    def all(self) -> list[Volume]:
        return list(self._by_name.values())

    def add(self, v: Volume) -> None:
        self.db.execute(
            "INSERT INTO volumes (name, data) VALUES (?, ?)",
            (v.name, json.dumps(dataclasses.asdict(v))),
        )
        self._by_name[v.name] = v

    def delete(self, name: str) -> None:
        self.db.execute("DELETE FROM volumes WHERE name = ?", (name,))
        self._by_name.pop(name, None)
