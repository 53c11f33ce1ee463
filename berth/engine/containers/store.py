"""Containers in the database, with an in-memory index for fast lookups and lists."""

from __future__ import annotations

import json
from typing import Any

from berth.engine import wire
from berth.engine.containers.model import Container
from berth.engine.db import Database, decode_record
from berth.engine.errors import Conflict, InvalidParameter, NotFound

_SCHEMA = """
CREATE TABLE IF NOT EXISTS containers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    data TEXT NOT NULL
);
"""


class ContainerStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.ensure_schema(_SCHEMA)
        self._by_id: dict[str, Container] = {}
        self._by_name: dict[str, str] = {}
        for row in db.query("SELECT data FROM containers"):
            c = _decode(json.loads(row["data"]))
            self._by_id[c.id] = c
            self._by_name[c.name] = c.id

    def all(self) -> list[Container]:
        return list(self._by_id.values())

    def add(self, c: Container) -> None:
        if c.name in self._by_name:
            raise self.name_conflict(c.name)
        self.db.execute(
            "INSERT INTO containers (id, name, data) VALUES (?, ?, ?)",
            (c.id, c.name, json.dumps(wire.storage_dict(c))),
        )
        self._by_id[c.id] = c
        self._by_name[c.name] = c.id

    def save(self, c: Container) -> None:
        """Persist the container's current state (write-through)."""
        self.db.execute(
            "UPDATE containers SET name = ?, data = ? WHERE id = ?",
            (c.name, json.dumps(wire.storage_dict(c)), c.id),
        )

    def rename(self, c: Container, new: str) -> None:
        if new in self._by_name:
            raise self.name_conflict(new)
        old = c.name
        c.name = new
        try:
            self.save(c)
        except Exception:
            c.name = old
            raise
        del self._by_name[old]
        self._by_name[new] = c.id

    def delete(self, c: Container) -> None:
        self.db.execute("DELETE FROM containers WHERE id = ?", (c.id,))
        self._by_id.pop(c.id, None)
        self._by_name.pop(c.name, None)

    def name_conflict(self, name: str) -> Conflict:
        return Conflict(
            f'Conflict. The container name "/{name}" is already in use by container '
            f'"{self._by_name[name]}". You have to remove (or rename) that container to be '
            "able to reuse that name."
        )

    def name_taken(self, name: str) -> bool:
        return name in self._by_name

    def get(self, ref: str) -> Container:
        """By full id, name (with or without "/"), or unique id prefix, as dockerd resolves."""
        if not ref:
            raise NotFound("No such container: ")
        c = self._by_id.get(ref)
        if c is not None:
            return c
        cid = self._by_name.get(ref.lstrip("/"))
        if cid is not None:
            return self._by_id[cid]
        matches = [c for i, c in self._by_id.items() if i.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise InvalidParameter(f"multiple IDs found with provided prefix: {ref}")
        raise NotFound(f"No such container: {ref}")

    def maybe(self, cid: str) -> Container | None:
        return self._by_id.get(cid)


def _decode(d: dict[str, Any]) -> Container:
    """A stored container, read field by field (db.decode_record): a field a newer or an
    older berth stored and this one does not know is left out, one it lacks takes its
    default, instead of the whole container failing to load."""
    from berth.engine.containers.model import (
        ContainerConfig,
        HostConfig,
        LogConfig,
        RestartPolicy,
        State,
    )

    def host_config(raw: dict[str, Any]) -> HostConfig:
        return decode_record(
            HostConfig,
            raw,
            nested={
                "log_config": lambda v: decode_record(LogConfig, v),
                "restart_policy": lambda v: decode_record(RestartPolicy, v),
            },
        )

    return decode_record(
        Container,
        d,
        nested={
            "config": lambda v: decode_record(ContainerConfig, v),
            "host_config": host_config,
            "state": lambda v: decode_record(State, v),
        },
    )
