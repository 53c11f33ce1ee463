"""LayerPreparer: a layer's bytes (compressed or not) become a verified, extracted
PreparedLayer; a wrong diff_id is refused before anything is extracted."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import os
import shutil
import tarfile
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from berth.engine.errors import InvalidParameter
from berth.engine.images.layers import LayerPreparer


@pytest.fixture
def work() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="bt-", dir="/tmp"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mode = 0o644
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class _RecordingExtract:
    def __init__(self) -> None:
        self.calls: list[tuple[Path, Path]] = []

    def __call__(self, tar_path: Path, dest: Path) -> int:
        self.calls.append((tar_path, dest))
        return 42


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: the extractor chowns to 0:0")
def test_gzip_layer_is_stored_uncompressed_and_extracted(work: Path) -> None:
    raw = _tar({"hello": b"world"})
    pl = LayerPreparer().prepare(io.BytesIO(gzip.compress(raw)), _digest(raw), work, 3)
    assert pl.diff_id == _digest(raw)
    assert pl.tar_path == work / "3.tar" and pl.tar_path.read_bytes() == raw
    assert pl.tar_size == len(raw)
    assert pl.dir_path == work / "3.d"
    assert (pl.dir_path / "hello").read_bytes() == b"world"
    assert pl.size == len(b"world")


def test_wrong_diff_id_is_refused_before_extracting(work: Path) -> None:
    fake = _RecordingExtract()
    raw = _tar({"a": b"1"})
    wrong = "sha256:" + "0" * 64
    with pytest.raises(InvalidParameter, match="invalid diffID for layer 1"):
        LayerPreparer(fake).prepare(io.BytesIO(raw), wrong, work, 1)
    assert fake.calls == []
    assert not (work / "1.d").exists()


def test_without_expected_digest_any_layer_is_taken(work: Path) -> None:
    fake = _RecordingExtract()
    raw = _tar({"a": b"1"})
    pl = LayerPreparer(fake).prepare(io.BytesIO(raw), None, work, 0)
    assert pl.diff_id == _digest(raw)
    assert fake.calls == [(work / "0.tar", work / "0.d")]
    assert pl.size == 42


def test_empty_layer_is_not_extracted(work: Path) -> None:
    fake = _RecordingExtract()
    pl = LayerPreparer(fake).prepare(io.BytesIO(b""), None, work, 0)
    assert fake.calls == []
    assert (pl.size, pl.tar_size) == (0, 0)
    assert pl.diff_id == _digest(b"")


def test_prepare_file_reports_how_far_it_has_read(work: Path) -> None:
    raw = _tar({"big": b"x" * 200_000})
    blob = work / "in.gz"
    blob.write_bytes(gzip.compress(raw))
    seen: list[int] = []
    pl = LayerPreparer(_RecordingExtract()).prepare_file(blob, _digest(raw), work, 0, seen.append)
    assert pl.diff_id == _digest(raw)
    assert seen and seen == sorted(seen)
    assert seen[-1] == blob.stat().st_size


def test_spool_writes_the_whole_body(work: Path) -> None:
    prep = LayerPreparer()
    prep.spool_batch = 10  # several batches
    chunks = [b"abcdefg", b"hij", b"", b"klmnopqrstu", b"vwxyz"]

    async def body() -> AsyncIterator[bytes]:
        for c in chunks:
            yield c

    n = asyncio.run(prep.spool(body(), work / "spooled"))
    assert n == 26
    assert (work / "spooled").read_bytes() == b"".join(chunks)
