"""fdtree: trees walked and copied only through directory fds, links met as links."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from berth.runtime import fdtree


@pytest.fixture
def tree(tmp: Path) -> Path:
    root = tmp / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("container\n")
    (root / "a" / "b").mkdir(parents=True)
    (root / "outside").mkdir()
    (tmp / "outside").mkdir()
    (tmp / "outside" / "secret").write_text("host\n")
    os.symlink("/", root / "rootlink")
    os.symlink("../../../../etc", root / "a" / "b" / "up")
    os.symlink("../../outside", root / "a" / "esc")
    (root / "file").write_text("f\n")
    return root


def test_walk_meets_links_as_links(tree: Path) -> None:
    fd = os.open(tree, os.O_RDONLY | os.O_DIRECTORY)
    try:
        got = {e.path: e for e in fdtree.walk(fd, ".", prune=frozenset({"outside"}))}
    finally:
        os.close(fd)
    assert "" in got and "etc/passwd" in got and "a/b/up" in got
    assert stat.S_ISLNK(got["rootlink"].st.st_mode) and got["rootlink"].fd is None
    assert not any(p.startswith(("rootlink/", "a/esc/", "outside")) for p in got)
    order = list(got)
    assert order.index("a") < order.index("a/b") < order.index("a/b/up")


def test_exists_beneath_follows_nothing(tree: Path) -> None:
    fd = os.open(tree, os.O_PATH | os.O_DIRECTORY)
    try:
        assert fdtree.exists_beneath(fd, "etc/passwd")
        assert fdtree.exists_beneath(fd, "rootlink")
        assert not fdtree.exists_beneath(fd, "rootlink/etc")  # would be the host's /etc
        assert not fdtree.exists_beneath(fd, "a/esc/secret")
        assert not fdtree.exists_beneath(fd, "file/x")
    finally:
        os.close(fd)


def test_copy_tree_keeps_everything_and_stays_in_the_destination(tmp: Path) -> None:
    src, dst = tmp / "src", tmp / "dst"
    (src / "d").mkdir(parents=True)
    (src / "d" / "f").write_text("data")
    os.chmod(src / "d" / "f", 0o751)
    os.link(src / "d" / "f", src / "hard")
    os.symlink("/etc/passwd", src / "lnk")
    os.mkfifo(src / "fifo")
    os.utime(src / "d", (5, 5))
    dst.mkdir()
    s, d = (os.open(p, os.O_RDONLY | os.O_DIRECTORY) for p in (src, dst))
    try:
        fdtree.copy_tree(s, d)
    finally:
        os.close(s)
        os.close(d)
    assert (dst / "d" / "f").read_text() == "data"
    assert stat.S_IMODE(os.stat(dst / "d" / "f").st_mode) == 0o751
    assert os.path.samestat(os.stat(dst / "hard"), os.stat(dst / "d" / "f"))
    assert os.readlink(dst / "lnk") == "/etc/passwd"
    assert stat.S_ISFIFO(os.lstat(dst / "fifo").st_mode)
    assert os.stat(dst / "d").st_mtime == 5
    assert stat.S_IMODE(os.stat(dst).st_mode) == stat.S_IMODE(os.stat(src).st_mode)


def test_copy_tree_never_writes_through_a_link_in_the_destination(tmp: Path) -> None:
    # a container sharing the volume put a link where the copy is about to make a dir
    src, dst, out = tmp / "src", tmp / "dst", tmp / "out"
    (src / "d").mkdir(parents=True)
    (src / "d" / "f").write_text("data")
    dst.mkdir()
    out.mkdir()
    os.symlink(str(out), dst / "d")
    s, d = (os.open(p, os.O_RDONLY | os.O_DIRECTORY) for p in (src, dst))
    try:
        with pytest.raises(FileExistsError):
            fdtree.copy_tree(s, d)
    finally:
        os.close(s)
        os.close(d)
    assert list(out.iterdir()) == []
