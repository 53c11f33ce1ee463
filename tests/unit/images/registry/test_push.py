"""push.targets: which tags a push sends, read from the store through its named methods."""

from __future__ import annotations

from pathlib import Path

import pytest

from berth.engine.errors import NotFound
from berth.engine.images.reference import parse_normalized
from berth.engine.images.registry.push import compress, targets


class _Store:
    """The two reads targets() makes of an ImageStore."""

    def __init__(self, tags: dict[str, str]) -> None:
        self._tags = tags

    def ref_target(self, name: str) -> str | None:
        return self._tags.get(name)

    def tags(self) -> list[tuple[str, str]]:
        return list(self._tags.items())


STORE = _Store(
    {
        "docker.io/library/app:v2": "sha256:b",
        "docker.io/library/app:v1": "sha256:a",
        "docker.io/library/other:v1": "sha256:c",
        "127.0.0.1:5000/app:v1": "sha256:d",
    }
)


def test_one_tag() -> None:
    ref = parse_normalized("app").with_tag("v1")
    assert targets(STORE, ref) == [("v1", "sha256:a")]  # type: ignore[arg-type]


def test_every_tag_of_the_repository_sorted() -> None:
    ref = parse_normalized("app")
    assert targets(STORE, ref) == [("v1", "sha256:a"), ("v2", "sha256:b")]  # type: ignore[arg-type]


def test_nothing_to_push() -> None:
    with pytest.raises(NotFound, match="An image does not exist locally with the tag: nope"):
        targets(STORE, parse_normalized("nope"))  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        targets(STORE, parse_normalized("app").with_tag("v3"))  # type: ignore[arg-type]


def test_compress_is_reproducible(tmp_path: Path) -> None:
    d = tmp_path
    (d / "layer.tar").write_bytes(b"x" * 10_000)
    one = compress(d / "layer.tar", d / "1.gz")
    two = compress(d / "layer.tar", d / "2.gz")
    assert one == two
    assert one[1] == (d / "1.gz").stat().st_size
