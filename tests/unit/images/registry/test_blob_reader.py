"""The registry blob reader: what a pull decompresses while it downloads is only trusted
once the whole blob matched its manifest's size and digest."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import pytest

from berth.engine.errors import InvalidParameter, SystemError_
from berth.engine.images.registry.client import BlobReader


class _Body:
    """A response body served in small pieces, as a socket would."""

    def __init__(self, data: bytes) -> None:
        self.src = io.BytesIO(data)
        self.closed = False

    def read(self, n: int = -1) -> bytes:
        return self.src.read(min(n, 7))

    def close(self) -> None:
        self.closed = True


def _reader(data: bytes, digest: bytes, size: int, **kw: Any) -> tuple[BlobReader, _Body]:
    body = _Body(data)
    dig = "sha256:" + hashlib.sha256(digest).hexdigest()
    seen: list[int] = kw.pop("seen", [])
    return BlobReader(body, dig, size, seen.append, lambda: kw.get("cancel", False)), body  # type: ignore[arg-type]


def test_a_blob_read_in_part_is_drained_and_verified() -> None:
    data = b"layer bytes " * 100
    seen: list[int] = []
    r, body = _reader(data, data, len(data), seen=seen)
    with r:
        assert io.BufferedReader(r, 64).read(10) == data[:10]
        r.verify()
    assert seen[-1] == len(data) and body.closed


@pytest.mark.parametrize(
    ("data", "size"),
    [
        (b"abc" * 50, 150 - 1),  # longer than the manifest says
        (b"abc" * 50, 150 + 1),  # shorter
    ],
)
def test_a_blob_of_the_wrong_size_fails_verification(data: bytes, size: int) -> None:
    r, _ = _reader(data, data, size)
    with r:
        got = r.read(1000) or b""
        assert len(got) <= size  # never more than the manifest's size is handed on
        with pytest.raises(InvalidParameter, match="verification failed"):
            r.verify()


def test_a_blob_with_other_bytes_fails_verification() -> None:
    r, _ = _reader(b"evil" * 10, b"good" * 10, 40)
    with r, pytest.raises(InvalidParameter, match="verification failed for digest sha256:"):
        r.verify()


def test_a_cancelled_download_stops_reading() -> None:
    r, _ = _reader(b"x" * 100, b"x" * 100, 100, cancel=True)
    with r, pytest.raises(SystemError_, match="cancelled"):
        r.read(10)
