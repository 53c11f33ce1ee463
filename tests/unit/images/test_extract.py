"""Layer extraction: metadata kept, whiteouts converted, hostile entries refused."""

from __future__ import annotations

import io
import os
import shutil
import stat
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.engine.errors import InvalidParameter
from berth.engine.images.extract import OPAQUE_XATTR, UnsafeLayer, extract_layer

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: chown, mknod, trusted.*")


@pytest.fixture
def work() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="bt-", dir="/tmp"))
    try:
        (d / "layer").mkdir()
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def make_tar(path: Path, entries: list[tarfile.TarInfo | tuple[tarfile.TarInfo, bytes]]) -> Path:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tf:
        for e in entries:
            if isinstance(e, tuple):
                ti, data = e
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
            else:
                tf.addfile(e)
    return path


def entry(name: str, kind: bytes = tarfile.REGTYPE, **kw: object) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    ti.mtime = 1_600_000_000
    for k, v in kw.items():
        setattr(ti, k, v)
    return ti


@needs_root
def test_metadata_is_preserved(work: Path) -> None:
    tar = make_tar(
        work / "l.tar",
        [
            entry("etc", tarfile.DIRTYPE, mode=0o750, uid=12, gid=34),
            (entry("etc/file", mode=0o4755, uid=1000, gid=1000), b"hello"),
            entry("etc/link", tarfile.SYMTYPE, linkname="file", uid=5, gid=6),
            entry("etc/hard", tarfile.LNKTYPE, linkname="etc/file"),
            entry("dev", tarfile.DIRTYPE),
            entry("dev/null", tarfile.CHRTYPE, devmajor=1, devminor=3, mode=0o666),
            entry("fifo", tarfile.FIFOTYPE),
            (entry("xa", pax_headers={"SCHILY.xattr.trusted.berth": "v1"}), b""),
        ],
    )
    dest = work / "layer"
    size = extract_layer(tar, dest)
    st = os.lstat(dest / "etc/file")
    assert (st.st_uid, st.st_gid) == (1000, 1000)
    assert stat.S_IMODE(st.st_mode) == 0o4755, "setuid bit survives the chown"
    assert st.st_mtime == 1_600_000_000
    assert (dest / "etc/file").read_bytes() == b"hello"
    d = os.lstat(dest / "etc")
    assert (stat.S_IMODE(d.st_mode), d.st_uid, d.st_gid) == (0o750, 12, 34)
    assert d.st_mtime == 1_600_000_000, "dir mtime is set after its contents"
    assert os.readlink(dest / "etc/link") == "file"
    assert os.lstat(dest / "etc/link").st_uid == 5
    assert os.lstat(dest / "etc/hard").st_ino == st.st_ino
    dn = os.lstat(dest / "dev/null")
    assert stat.S_ISCHR(dn.st_mode) and os.major(dn.st_rdev) == 1 and os.minor(dn.st_rdev) == 3
    assert stat.S_ISFIFO(os.lstat(dest / "fifo").st_mode)
    assert os.getxattr(dest / "xa", "trusted.berth") == b"v1"
    assert size == len(b"hello") + len(b"file")


@needs_root
def test_whiteouts_become_overlay_whiteouts(work: Path) -> None:
    tar = make_tar(
        work / "l.tar",
        [
            entry("a", tarfile.DIRTYPE),
            (entry("a/.wh.gone", uid=0, gid=0), b""),
            entry("b", tarfile.DIRTYPE),
            (entry("b/.wh..wh..opq"), b""),
            (entry("b/kept"), b"x"),
            (entry(".wh..wh.plnk"), b""),
        ],
    )
    dest = work / "layer"
    extract_layer(tar, dest)
    wh = os.lstat(dest / "a/gone")
    assert stat.S_ISCHR(wh.st_mode) and wh.st_rdev == os.makedev(0, 0)
    assert not (dest / "a/.wh.gone").exists()
    assert os.getxattr(dest / "b", OPAQUE_XATTR) == b"y"
    assert (dest / "b/kept").read_bytes() == b"x"
    assert not (dest / "b/.wh..wh..opq").exists()
    assert not (dest / ".wh..wh.plnk").exists()


@needs_root
def test_later_entry_replaces_earlier(work: Path) -> None:
    tar = make_tar(
        work / "l.tar",
        [(entry("f"), b"old"), entry("f", tarfile.SYMTYPE, linkname="/x"), (entry("f"), b"new")],
    )
    extract_layer(tar, work / "layer")
    assert (work / "layer/f").read_bytes() == b"new"


def test_symlink_parent_inside_is_followed(work: Path) -> None:
    tar = make_tar(
        work / "l.tar",
        [
            entry("real", tarfile.DIRTYPE),
            entry("alias", tarfile.SYMTYPE, linkname="real"),
            (entry("alias/f", uid=os.getuid(), gid=os.getgid()), b"in"),
        ],
    )
    extract_layer(tar, work / "layer")
    assert (work / "layer/real/f").read_bytes() == b"in"


HOSTILE = {
    "dotdot": [(entry("../escape"), b"x")],
    "dotdot-inner": [(entry("a/../../escape"), b"x")],
    "absolute": [(entry("/tmp/escape"), b"x")],
    "symlink-parent-relative-out": [
        entry("evil", tarfile.SYMTYPE, linkname="../.."),
        (entry("evil/escape"), b"x"),
    ],
    "symlink-parent-absolute": [
        entry("evil", tarfile.SYMTYPE, linkname="/tmp"),
        (entry("evil/escape"), b"x"),
    ],
    "symlink-chain-out": [
        entry("d", tarfile.DIRTYPE),
        entry("d/up", tarfile.SYMTYPE, linkname=".."),
        entry("d/upup", tarfile.SYMTYPE, linkname="up/.."),
        (entry("d/upup/escape"), b"x"),
    ],
    "hardlink-out": [entry("h", tarfile.LNKTYPE, linkname="../../etc/passwd")],
    "hardlink-absolute": [entry("h", tarfile.LNKTYPE, linkname="/etc/passwd")],
    "hardlink-through-symlink": [
        entry("evil", tarfile.SYMTYPE, linkname="/etc"),
        entry("h", tarfile.LNKTYPE, linkname="evil/passwd"),
    ],
    "whiteout-through-symlink": [
        entry("evil", tarfile.SYMTYPE, linkname="/tmp"),
        (entry("evil/.wh.x"), b""),
    ],
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_entries_are_refused(work: Path, case: str) -> None:
    outside = work / "escape"
    tar = make_tar(work / "l.tar", HOSTILE[case])  # type: ignore[arg-type]
    with pytest.raises(UnsafeLayer) as ei:
        extract_layer(tar, work / "layer")
    assert "refusing" in ei.value.message
    assert not outside.exists()
    assert not Path("/tmp/escape").exists()


def test_not_a_tar(work: Path) -> None:
    p = work / "junk.tar"
    p.write_bytes(b"this is not a tar archive" * 50)
    with pytest.raises(InvalidParameter, match="invalid layer tar"):
        extract_layer(p, work / "layer")


def test_truncated_tar(work: Path) -> None:
    tar = make_tar(work / "l.tar", [(entry("big"), b"y" * 100_000)])
    data = tar.read_bytes()
    tar.write_bytes(data[:5000])
    with pytest.raises(InvalidParameter):
        extract_layer(tar, work / "layer")
