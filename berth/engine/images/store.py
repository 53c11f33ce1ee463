"""The image store on disk and in the database.

Layout under `root` (<data-root>/image):
  blobs/sha256/<hex>   content blobs: image configs and uncompressed layer tars
                       (a layer tar's digest is its diff_id), later manifests
  layers/<hex>         one extracted copy of each layer, named by its diff_id
  tmp/                 work area: spooled uploads, half-extracted layers

Everything is prepared in tmp/, renamed into place, and the database rows are
written last in one transaction; on failure what was placed is removed again.
`repair` (run at start) clears tmp/ and drops blobs and layers no row refers to,
which is all a crash can leave behind."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from berth.engine import faults
from berth.engine.db import Database
from berth.engine.images.model import Image, ImageConfig, now_rfc3339
from berth.engine.images.reference import familiar

SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    id TEXT PRIMARY KEY,
    config BLOB NOT NULL,
    size INTEGER NOT NULL,
    parent TEXT NOT NULL DEFAULT '',
    last_tag_time TEXT NOT NULL DEFAULT '',
    added REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS image_refs (
    name TEXT PRIMARY KEY,
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    is_digest INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS image_refs_image ON image_refs(image_id);
CREATE TABLE IF NOT EXISTS image_layer_store (
    diff_id TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    tar_size INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS image_layers (
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    diff_id TEXT NOT NULL REFERENCES image_layer_store(diff_id),
    PRIMARY KEY (image_id, idx)
);
CREATE INDEX IF NOT EXISTS image_layers_diff ON image_layers(diff_id);
"""


def hex_of(digest: str) -> str:
    """The hex part of "sha256:<hex>" (refuses anything that is not a sha256 digest)."""
    algo, _, hx = digest.partition(":")
    if algo != "sha256" or len(hx) != 64 or any(c not in "0123456789abcdef" for c in hx):
        raise ValueError(f"not a sha256 digest: {digest!r}")
    return hx


@dataclass
class PreparedLayer:
    """A layer made ready in tmp/: its uncompressed tar and its extracted dir."""

    diff_id: str
    tar_path: Path
    dir_path: Path
    size: int
    tar_size: int


@dataclass
class NewImage:
    """An image to add: config bytes (its digest is the id), layers, tags (full refs)."""

    id: str
    config_bytes: bytes
    diff_ids: list[str]
    tags: list[str] = field(default_factory=list)
    parent: str = ""


class ImageStore:
    """Blobs, layers and image rows; every method is blocking (run in a thread if slow)."""

    def __init__(self, db: Database, root: Path) -> None:
        self.db = db
        self.root = root
        self.blobs = root / "blobs" / "sha256"
        self.layers = root / "layers"
        self.tmp = root / "tmp"
        for d in (self.blobs, self.layers, self.tmp):
            d.mkdir(parents=True, exist_ok=True)
        db.ensure_schema(SCHEMA)
        # Placing files and committing rows, and deleting them, are one critical
        # section: a layer dir seen while holding it is always a committed one.
        self.lock = threading.Lock()

    # ---- paths ---------------------------------------------------------
    def blob_path(self, digest: str) -> Path:
        return self.blobs / hex_of(digest)

    def layer_path(self, diff_id: str) -> Path:
        return self.layers / hex_of(diff_id)

    def mkdtemp(self, prefix: str) -> Path:
        return Path(tempfile.mkdtemp(prefix=prefix, dir=self.tmp))

    # ---- reads ---------------------------------------------------------
    def has_layer(self, diff_id: str) -> bool:
        return (
            self.db.query_one("SELECT 1 FROM image_layer_store WHERE diff_id=?", (diff_id,))
            is not None
        )

    def layer_sizes(self, diff_ids: Iterable[str]) -> dict[str, int]:
        ids = list(diff_ids)
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.db.query(
            f"SELECT diff_id, size FROM image_layer_store WHERE diff_id IN ({marks})", tuple(ids)
        )
        return {r["diff_id"]: r["size"] for r in rows}

    def image_ids(self) -> list[str]:
        return [r["id"] for r in self.db.query("SELECT id FROM images")]

    def ids_with_prefix(self, hex_prefix: str) -> list[str]:
        lo = "sha256:" + hex_prefix
        rows = self.db.query(
            "SELECT id FROM images WHERE id >= ? AND id < ? LIMIT 2", (lo, lo + "\x7f")
        )
        return [r["id"] for r in rows]

    def ref_target(self, name: str) -> str | None:
        row = self.db.query_one("SELECT image_id FROM image_refs WHERE name=?", (name,))
        return row["image_id"] if row else None

    def tags(self) -> list[tuple[str, str]]:
        """(name:tag, image id) of every tag; digest references are left out."""
        rows = self.db.query("SELECT name, image_id FROM image_refs WHERE is_digest=0")
        return [(r["name"], r["image_id"]) for r in rows]

    def refs_of(self, image_id: str) -> list[tuple[str, bool]]:
        rows = self.db.query("SELECT name, is_digest FROM image_refs WHERE image_id=?", (image_id,))
        return [(r["name"], bool(r["is_digest"])) for r in rows]

    def load_images(self, ids: list[str] | None = None) -> list[Image]:
        """Images (all, or those in `ids`) with their refs and layers."""
        if ids is None:
            rows = self.db.query("SELECT * FROM images ORDER BY added")
            refs = self.db.query("SELECT name, image_id, is_digest FROM image_refs")
        else:
            if not ids:
                return []
            marks = ",".join("?" * len(ids))
            rows = self.db.query(f"SELECT * FROM images WHERE id IN ({marks})", tuple(ids))
            refs = self.db.query(
                f"SELECT name, image_id, is_digest FROM image_refs WHERE image_id IN ({marks})",
                tuple(ids),
            )
        by_id: dict[str, list[sqlite3.Row]] = {}
        for r in refs:
            by_id.setdefault(r["image_id"], []).append(r)
        return [_image_from_row(row, by_id.get(row["id"], [])) for row in rows]

    def children(self, image_id: str) -> list[str]:
        return [r["id"] for r in self.db.query("SELECT id FROM images WHERE parent=?", (image_id,))]

    # ---- writes --------------------------------------------------------
    def commit(
        self, images: list[NewImage], layers: list[PreparedLayer], *, fault: str = ""
    ) -> list[tuple[str, str]]:
        """Place `layers` and add `images` with their tags, all or nothing.

        A tag already on another image moves. Returns (tag, previous image id) for each
        moved tag. `fault` names the test fault point between placing the files and
        writing the rows (`pull:commit`): the one moment a crash leaves files no row
        refers to.

        The fsync policy, explicitly: layer files and tars are not synced (neither does
        dockerd's overlay2); the rows are committed by SQLite (WAL, synchronous=NORMAL).
        A daemon crash loses nothing written, since the page cache outlives the process;
        a power loss within the kernel's write-back delay (vm.dirty_expire_centisecs,
        30 s by default) can leave a committed layer with short files. Syncing the store
        before the rows would make a 200 MB pull wait for the disk (~1 s here)."""
        placed: list[Path] = []
        moved: list[tuple[str, str]] = []
        with self.lock:
            try:
                new_layers: list[PreparedLayer] = []
                for pl in layers:
                    if self.has_layer(pl.diff_id):
                        continue
                    for src, dst in (
                        (pl.dir_path, self.layer_path(pl.diff_id)),
                        (pl.tar_path, self.blob_path(pl.diff_id)),
                    ):
                        if dst.exists() or dst.is_symlink():  # leftover of a crash
                            _remove(dst)
                        os.rename(src, dst)
                        placed.append(dst)
                    new_layers.append(pl)
                for img in images:
                    cfg = self.blob_path(img.id)
                    if not cfg.exists():
                        _atomic_write(cfg, img.config_bytes, self.tmp)
                        placed.append(cfg)
                if fault:
                    faults.point(fault)
                with self.db.tx() as c:
                    for pl in new_layers:
                        c.execute(
                            "INSERT INTO image_layer_store(diff_id, size, tar_size) VALUES (?,?,?)",
                            (pl.diff_id, pl.size, pl.tar_size),
                        )
                    for img in images:
                        moved += self._insert_image(c, img)
            except BaseException:
                for p in reversed(placed):
                    _remove(p)
                raise
        return moved

    def _insert_image(self, c: sqlite3.Connection, img: NewImage) -> list[tuple[str, str]]:
        exists = c.execute("SELECT 1 FROM images WHERE id=?", (img.id,)).fetchone()
        if exists is None:
            sizes = (
                {
                    r[0]: r[1]
                    for r in c.execute(
                        "SELECT diff_id, size FROM image_layer_store WHERE diff_id IN "
                        f"({','.join('?' * len(img.diff_ids))})",
                        tuple(img.diff_ids),
                    )
                }
                if img.diff_ids
                else {}
            )
            c.execute(
                "INSERT INTO images(id, config, size, parent, added) VALUES (?,?,?,?,?)",
                (img.id, img.config_bytes, sum(sizes.values()), img.parent, time.time()),
            )
            c.executemany(
                "INSERT INTO image_layers(image_id, idx, diff_id) VALUES (?,?,?)",
                [(img.id, i, d) for i, d in enumerate(img.diff_ids)],
            )
        moved: list[tuple[str, str]] = []
        if img.tags:
            c.execute("UPDATE images SET last_tag_time=? WHERE id=?", (now_rfc3339(), img.id))
        for tag in img.tags:
            prev = c.execute("SELECT image_id FROM image_refs WHERE name=?", (tag,)).fetchone()
            if prev is not None and prev[0] != img.id:
                moved.append((tag, prev[0]))
            c.execute(
                "INSERT OR REPLACE INTO image_refs(name, image_id, is_digest) VALUES (?,?,?)",
                (tag, img.id, 1 if "@" in tag else 0),
            )
        return moved

    def set_ref(self, name: str, image_id: str, tag_time: str) -> None:
        with self.db.tx() as c:
            c.execute(
                "INSERT OR REPLACE INTO image_refs(name, image_id, is_digest) VALUES (?,?,?)",
                (name, image_id, 1 if "@" in name else 0),
            )
            c.execute("UPDATE images SET last_tag_time=? WHERE id=?", (tag_time, image_id))

    def add_digest_ref(self, name: str, image_id: str) -> None:
        """Record name@digest (a RepoDigest) without touching the image's tag time."""
        with self.db.tx() as c:
            c.execute(
                "INSERT OR REPLACE INTO image_refs(name, image_id, is_digest) VALUES (?,?,1)",
                (name, image_id),
            )

    def delete_ref(self, name: str) -> bool:
        with self.db.tx() as c:
            cur = c.execute("DELETE FROM image_refs WHERE name=?", (name,))
            return cur.rowcount > 0

    def delete_image(self, image_id: str) -> list[str]:
        """Drop the image, its refs, and the layers no other image uses.
        Returns the diff_ids of the layers removed."""
        with self.lock:
            with self.db.tx() as c:
                diff_ids = [
                    r[0]
                    for r in c.execute(
                        "SELECT diff_id FROM image_layers WHERE image_id=? ORDER BY idx",
                        (image_id,),
                    )
                ]
                c.execute("DELETE FROM images WHERE id=?", (image_id,))
                orphans = [
                    d
                    for d in dict.fromkeys(diff_ids)
                    if c.execute(
                        "SELECT 1 FROM image_layers WHERE diff_id=? LIMIT 1", (d,)
                    ).fetchone()
                    is None
                ]
                for d in orphans:
                    c.execute("DELETE FROM image_layer_store WHERE diff_id=?", (d,))
            # Rows are gone first: a crash here leaves only unreferenced files for repair.
            _remove(self.blob_path(image_id))
            for d in orphans:
                self._remove_layer_files(d)
        return orphans

    def _remove_layer_files(self, diff_id: str) -> None:
        # Rename first so a half-deleted tree never sits under a valid name.
        src = self.layer_path(diff_id)
        if src.exists():
            trash = self.mkdtemp("rm-")
            os.rename(src, trash / "d")
            # A big tree takes a while to delete: not on the caller's (event loop) thread.
            threading.Thread(target=shutil.rmtree, args=(trash, True), daemon=True).start()
        _remove(self.blob_path(diff_id))

    def repair(self) -> None:
        """Clear tmp/ and remove blobs and layers that no row refers to (crash leftovers)."""
        with self.lock:
            for p in self.tmp.iterdir():
                _remove(p)
            layer_ids = {
                hex_of(r["diff_id"]) for r in self.db.query("SELECT diff_id FROM image_layer_store")
            }
            image_ids = {hex_of(i) for i in self.image_ids()}
            for p in self.layers.iterdir():
                if p.name not in layer_ids:
                    _remove(p)
            for p in self.blobs.iterdir():
                if p.name not in layer_ids and p.name not in image_ids:
                    _remove(p)


def _image_from_row(row: sqlite3.Row, refs: list[sqlite3.Row]) -> Image:
    raw = json.loads(row["config"])
    tags = sorted(familiar(r["name"]) for r in refs if not r["is_digest"])
    digests = sorted(familiar(r["name"]) for r in refs if r["is_digest"])
    rootfs = raw.get("rootfs") or {}
    return Image(
        id=row["id"],
        repo_tags=tags,
        repo_digests=digests,
        created=raw.get("created") or "",
        config=ImageConfig.from_wire(raw.get("config")),
        diff_ids=list(rootfs.get("diff_ids") or []),
        size=row["size"],
        architecture=raw.get("architecture") or "",
        os=raw.get("os") or "",
        raw_config=raw,
        parent=row["parent"],
        last_tag_time=row["last_tag_time"],
    )


def _atomic_write(path: Path, data: bytes, tmpdir: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=tmpdir)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.rename(tmp, path)
    except BaseException:
        _remove(Path(tmp))
        raise


def _remove(p: Path) -> None:
    try:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()
    except FileNotFoundError:
        pass
