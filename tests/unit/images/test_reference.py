"""Reference parsing and normalisation, checked against docker's own behaviour."""

from __future__ import annotations

import pytest

from berth.engine.errors import InvalidParameter
from berth.engine.images.reference import parse_any, parse_normalized, parse_tagged

NORMALISED = [
    # input, full (with implied :latest), familiar
    ("busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
    ("library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("docker.io/library/busybox:latest", "docker.io/library/busybox:latest", "busybox:latest"),
    ("index.docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("user/app", "docker.io/user/app:latest", "user/app:latest"),
    ("docker.io/library/a/b", "docker.io/library/a/b:latest", "library/a/b:latest"),
    ("127.0.0.1:5000/busybox", "127.0.0.1:5000/busybox:latest", "127.0.0.1:5000/busybox:latest"),
    ("127.0.0.1:5000/x:1", "127.0.0.1:5000/x:1", "127.0.0.1:5000/x:1"),
    ("localhost/app:v1", "localhost/app:v1", "localhost/app:v1"),
    ("localhost:5000/a/b", "localhost:5000/a/b:latest", "localhost:5000/a/b:latest"),
    ("quay.io/org/app", "quay.io/org/app:latest", "quay.io/org/app:latest"),
    ("[::1]:5000/app", "[::1]:5000/app:latest", "[::1]:5000/app:latest"),
    ("a__b/e", "docker.io/a__b/e:latest", "a__b/e:latest"),
    ("Example.com/app", "Example.com/app:latest", "Example.com/app:latest"),
]


@pytest.mark.parametrize(("ref", "full", "familiar"), NORMALISED)
def test_normalisation(ref: str, full: str, familiar: str) -> None:
    r = parse_tagged(ref)
    assert str(r) == full
    assert r.familiar == familiar


def test_bare_name_has_no_tag_until_asked() -> None:
    r = parse_normalized("busybox")
    assert r.tag is None and r.name_only
    assert r.tag_name_only().tag == "latest"


def test_digest_reference() -> None:
    d = "sha256:" + "a" * 64
    r = parse_normalized(f"busybox@{d}")
    assert r.digest == d and r.tag is None
    assert r.familiar == f"busybox@{d}"


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("", "invalid reference format"),
        (
            "Busybox",
            "invalid reference format: repository name (library/Busybox) must be lowercase",
        ),
        ("busybox:", "invalid reference format"),
        ("busy box", "invalid reference format"),
        ("-busybox", "invalid reference format"),
        ("busybox:tag with space", "invalid reference format"),
        ("busybox::x", "invalid reference format"),
        ("a/../b", "invalid reference format"),
        ("busybox:" + "t" * 129, "invalid reference format"),
        ("a" * 64, "cannot specify 64-byte hexadecimal strings"),
    ],
)
def test_invalid(ref: str, message: str) -> None:
    with pytest.raises(InvalidParameter) as ei:
        parse_normalized(ref)
    assert message in ei.value.message


def test_too_long_name() -> None:
    with pytest.raises(InvalidParameter, match="255"):
        parse_normalized("a" * 256)


def test_parse_any_ids_and_digests() -> None:
    hx = "0123456789abcdef" * 4
    assert parse_any(hx) == "sha256:" + hx
    assert parse_any("sha256:" + hx) == "sha256:" + hx
    # A short id is only a name to the parser; the service then searches ids by prefix.
    r = parse_any("0123ab")
    assert not isinstance(r, str) and str(r.tag_name_only()) == "docker.io/library/0123ab:latest"
