"""The metadata database: one SQLite file in WAL mode under the data root.

Each store (containers, images, ...) declares its own tables with
`CREATE TABLE IF NOT EXISTS` and calls `ensure_schema` when it starts.

The schema carries a version (`PRAGMA user_version`): a berth that finds an older one
runs the migrations in between, each in one transaction with the version it reaches, so
that a crash leaves the database at one version or the next; a newer one than it knows
stops it rather than have it misread (and then rewrite) what a newer berth stored. Records
are JSON documents decoded with `decode_record`, which keeps what the dataclass knows,
takes defaults for what is missing and renamed fields under their new names."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from berth.engine.errors import SystemError_

log = logging.getLogger("berth.db")

# 1: the tables as berth 0.1 made them (a database without a version is one of these)
SCHEMA_VERSION = 1
# the step that brings the schema to each version from the one before
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: lambda conn: None}

T = TypeVar("T")


class SchemaTooNew(SystemError_):
    """The database was written by a newer berth (berthd stops with the message)."""


# the database file and the ones SQLite keeps beside it
_SIDE_FILES = ("", "-wal", "-shm", "-journal")


def _make_private(path: Path) -> None:
    """Every container's Env (passwords, tokens) is in the database: it and its side files
    are root's alone. SQLite gives the -wal and -shm it creates the database file's own
    mode (whatever the umask), so the file is made 0600 before SQLite first opens it; the
    files an older berth left (0644) are chmod-ed, on every start."""
    os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))
    for suffix in _SIDE_FILES:
        with contextlib.suppress(FileNotFoundError):
            os.chmod(f"{path}{suffix}", 0o600)


class Database:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        _make_private(path)
        # One connection used from the event loop thread (and, under the lock,
        # from worker threads for long imports).
        self.conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.conn.row_factory = sqlite3.Row
        self.lock = threading.RLock()
        self.path = path
        # before anything writes to it: a newer berth's database is left as it is
        self._check_version()
        self.conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable across an application crash in WAL mode; only a power
        # loss can drop the last transactions, never corrupt the file.
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    def _version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def _check_version(self) -> None:
        version = self._version()
        if version > SCHEMA_VERSION:
            self.conn.close()
            raise SchemaTooNew(
                f"the database {self.path} was written by a newer berth (schema version "
                f"{version}; this berth knows up to {SCHEMA_VERSION}): refusing to start "
                "rather than misread it"
            )

    def _migrate(self) -> None:
        version = self._version()
        for target in range(version + 1, SCHEMA_VERSION + 1):
            with self.tx() as c:
                MIGRATIONS[target](c)
                # PRAGMA takes no parameters; the value is an int of ours
                c.execute(f"PRAGMA user_version = {int(target)}")
            if version:
                log.info("database %s: schema version %d -> %d", self.path, target - 1, target)

    def ensure_schema(self, ddl: str) -> None:
        with self.lock:
            self.conn.executescript(ddl)

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: all or nothing."""
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def query(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        with self.lock:
            return self.conn.execute(sql, args).fetchall()

    def query_one(self, sql: str, args: tuple = ()) -> sqlite3.Row | None:
        with self.lock:
            return self.conn.execute(sql, args).fetchone()

    def execute(self, sql: str, args: tuple = ()) -> None:
        with self.lock:
            self.conn.execute(sql, args)

    def close(self) -> None:
        with self.lock:
            self.conn.close()


_warned_fields: set[tuple[str, str]] = set()


def decode_record(
    cls: type[T],
    data: dict[str, Any],
    *,
    renamed: dict[str, str] | None = None,
    nested: dict[str, Callable[[Any], Any]] | None = None,
) -> T:
    """The dataclass CLS from a stored document: fields it does not know are left out
    (logged once: a newer berth's, or one an older berth had), RENAMED old names are read
    as their new ones, NESTED fields decoded by their own function, missing ones take the
    dataclass's default."""
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        key = (renamed or {}).get(key, key)
        if key not in known:
            if (cls.__name__, key) not in _warned_fields:
                _warned_fields.add((cls.__name__, key))
                log.warning(
                    "stored %s: field %r is not one this berth knows; left out", cls.__name__, key
                )
            continue
        if nested and key in nested and value is not None:
            value = nested[key](value)
        kwargs[key] = value
    return cls(**kwargs)
