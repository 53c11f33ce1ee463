"""Layers made ready for the store: spool, verify, extract.

Every way a layer arrives (docker pull, load, import, commit, a build step) goes through
one `LayerPreparer`: the layer's bytes, compressed or not, are copied uncompressed into
a work dir while they are hashed, the digest is checked against the diff_id the image
config names, and the tar is extracted next to it. The result is a `PreparedLayer` that
`ImageStore.commit` places; nothing here touches the store itself."""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from berth.engine.errors import InvalidParameter
from berth.engine.images.compression import copy_uncompressed
from berth.engine.images.extract import extract_layer
from berth.engine.images.store import PreparedLayer

Progress = Callable[[int], None]
_READ_BUFFER = 1 << 20


@dataclass(frozen=True)
class Spooled:
    """A layer's tar written to the work dir and hashed: its diff_id, file and size."""

    digest: str
    path: Path
    size: int


class CountingReader(io.RawIOBase):
    """A raw file that reports how far it has been read (for "Extracting" progress)."""

    def __init__(self, path: Path, progress: Progress) -> None:
        self.f = open(path, "rb")  # noqa: SIM115 - closed in close()
        self.progress = progress
        self.done = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = self.f.readinto(b)
        self.done += n
        self.progress(self.done)
        return n

    def close(self) -> None:
        self.f.close()
        super().close()


class LayerPreparer:
    """Turns layer bytes into a `PreparedLayer` inside a caller's work dir.

    `spool` runs on the event loop (writes go to a thread); `prepare` and `prepare_file`
    block (run them in a thread). `extract` is the extraction step (the safe extractor;
    a test may replace it)."""

    spool_batch = 1 << 20

    def __init__(self, extract: Callable[[Path, Path], int] = extract_layer) -> None:
        self.extract = extract

    async def spool(self, body: AsyncIterator[bytes], path: Path) -> int:
        """Write a request body to `path`; the number of bytes written."""
        total = 0
        with open(path, "wb") as f:  # noqa: ASYNC230 - writes are batched into a thread
            buf: list[bytes] = []
            size = 0
            async for chunk in body:
                buf.append(chunk)
                size += len(chunk)
                if size >= self.spool_batch:
                    await asyncio.to_thread(f.write, b"".join(buf))
                    total += size
                    buf, size = [], 0
            if buf:
                await asyncio.to_thread(f.write, b"".join(buf))
                total += size
        return total

    def prepare(self, src: IO[bytes], expected: str | None, work: Path, n: int) -> PreparedLayer:
        """Layer number `n` read from `src` (gzip, zstd, ... or plain tar) into work/n.tar,
        checked against the diff_id `expected` (None: whatever it hashes to), extracted
        into work/n.d."""
        return self.unpack(self.uncompress(src, expected, work, n), work, n)

    def uncompress(self, src: IO[bytes], expected: str | None, work: Path, n: int) -> Spooled:
        """The first half of `prepare`: `src` uncompressed into work/n.tar and checked
        against `expected`."""
        tar_path = work / f"{n}.tar"
        with open(tar_path, "wb") as dst:
            digest, tar_size = copy_uncompressed(src, dst)
        if expected is not None and digest != expected:
            raise InvalidParameter(
                f"invalid diffID for layer {n}: expected {expected!r}, got {digest!r}"
            )
        return Spooled(digest, tar_path, tar_size)

    def unpack(self, tar: Spooled, work: Path, n: int) -> PreparedLayer:
        """The second half of `prepare`: the checked tar extracted into work/n.d."""
        dir_path = work / f"{n}.d"
        dir_path.mkdir()
        os.chmod(dir_path, 0o755)
        size = 0 if tar.size == 0 else self.extract(tar.path, dir_path)
        return PreparedLayer(tar.digest, tar.path, dir_path, size, tar.size)

    def prepare_file(
        self,
        path: Path,
        expected: str | None,
        work: Path,
        n: int,
        progress: Progress | None = None,
    ) -> PreparedLayer:
        """`prepare` from the file at `path` (a download, an upload, a written layer);
        `progress(bytes read)` is called as it is read."""
        raw: io.RawIOBase = CountingReader(path, progress or _ignore)
        with io.BufferedReader(raw, _READ_BUFFER) as src:
            return self.prepare(src, expected, work, n)


def _ignore(_n: int) -> None:
    pass
