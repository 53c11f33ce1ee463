"""GET /images/json filters."""

from __future__ import annotations

import pytest

from berth.engine.errors import InvalidParameter, NotFound
from berth.engine.images.filters import apply, parse_until, reference_match
from berth.engine.images.model import Image, ImageConfig


def img(n: int, tags: list[str], labels: dict[str, str] | None = None, parent: str = "") -> Image:
    return Image(
        id=f"sha256:{n:064x}",
        repo_tags=tags,
        repo_digests=[],
        created=f"2024-01-0{n}T00:00:00Z",
        config=ImageConfig(labels=labels or {}),
        diff_ids=[],
        size=0,
        architecture="amd64",
        os="linux",
        raw_config={},
        parent=parent,
    )


IMAGES = [
    img(1, ["busybox:latest", "busybox:1.36"], {"tier": "base"}),
    img(2, ["127.0.0.1:5000/app:v1"], {"tier": "app", "team": "x"}),
    img(3, []),  # dangling
    img(4, [], parent=""),
    img(5, ["child:1"], parent=f"sha256:{4:064x}"),
]


def resolve(ref: str) -> Image:
    for i in IMAGES:
        if ref in i.repo_tags or i.id.endswith(ref):
            return i
    raise NotFound(f"No such image: {ref}")


def ids(filters: dict[str, list[str]], all: bool = False) -> list[int]:
    return [int(i.id[7:], 16) for i in apply(IMAGES, filters, all=all, resolve=resolve)]


def test_newest_first_and_intermediate_hidden() -> None:
    assert ids({}) == [5, 3, 2, 1]
    assert ids({}, all=True) == [5, 4, 3, 2, 1]


def test_dangling() -> None:
    assert ids({"dangling": ["true"]}) == [3]
    assert ids({"dangling": ["false"]}) == [5, 2, 1]


def test_reference_filters_tags_too() -> None:
    out = apply(IMAGES, {"reference": ["busybox:1.*"]}, all=False, resolve=resolve)
    assert [i.repo_tags for i in out] == [["busybox:1.36"]]
    assert ids({"reference": ["busybox"]}) == [1]
    assert ids({"reference": ["127.0.0.1:5000/*"]}) == [2]
    assert ids({"reference": ["*"]}) == [5, 1]  # '*' does not cross '/'


def test_labels() -> None:
    assert ids({"label": ["tier"]}) == [2, 1]
    assert ids({"label": ["tier=app"]}) == [2]
    assert ids({"label": ["tier=app", "team=y"]}) == []
    assert ids({"label!": ["tier=app"]}) == [5, 3, 1]


def test_before_since_until() -> None:
    assert ids({"before": ["127.0.0.1:5000/app:v1"]}) == [1]
    assert ids({"since": ["busybox:latest"]}) == [5, 3, 2]
    assert ids({"until": ["2024-01-03T00:00:00Z"]}) == [2, 1]
    with pytest.raises(NotFound):
        ids({"before": ["nosuch"]})


def test_invalid_filters() -> None:
    with pytest.raises(InvalidParameter, match="invalid filter 'color'"):
        ids({"color": ["red"]})
    with pytest.raises(InvalidParameter):
        ids({"dangling": ["maybe"]})


def test_reference_match_uses_familiar_names() -> None:
    assert reference_match("busybox", "busybox:latest")
    assert not reference_match("busy", "busybox:latest")
    assert parse_until("1700000000") == 1700000000.0
    assert parse_until("10m", now=1000.0) == 400.0
