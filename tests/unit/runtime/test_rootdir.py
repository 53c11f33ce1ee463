"""rootdir: container paths resolved on the host only relative to the root's fd, by
openat2(RESOLVE_IN_ROOT) and by the walk by hand used without it; every test runs both."""

from __future__ import annotations

import ctypes
import errno
import os
import stat
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from berth.runtime import fdtree, rootdir


@pytest.fixture(params=["openat2", "fallback"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "openat2" and not rootdir.openat2_available():
        pytest.skip("the kernel has no openat2")
    monkeypatch.setattr(rootdir, "resolve_mode", request.param)
    return str(request.param)


@pytest.fixture
def tree(tmp: Path) -> Path:
    """tmp/root, a container root with links that point out of it in every way, and
    tmp/outside/secret, what a string resolution of them would reach."""
    root = tmp / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("container\n")
    (root / "a" / "b").mkdir(parents=True)
    (tmp / "outside").mkdir()
    (tmp / "outside" / "secret").write_text("host\n")
    (root / "outside").mkdir()
    (root / "outside" / "secret").write_text("inside\n")
    os.symlink("/", root / "rootlink")
    os.symlink("/etc/passwd", root / "abs")
    os.symlink("../../../../etc", root / "a" / "b" / "up")
    os.symlink("../../outside", root / "a" / "esc")  # tmp/outside from a string join
    os.symlink("loop2", root / "loop1")
    os.symlink("loop1", root / "loop2")
    os.symlink("self", root / "self")
    (root / "file").write_text("f\n")
    return root


def read(root: rootdir.Root, path: str) -> str:
    fd = root.open(path)
    with os.fdopen(fd) as f:
        return f.read()


def test_links_out_of_the_root_stay_inside(tree: Path, mode: str) -> None:
    with rootdir.Root(str(tree)) as r:
        assert read(r, "/rootlink/etc/passwd") == "container\n"
        assert read(r, "/abs") == "container\n"
        assert read(r, "/a/b/up/passwd") == "container\n"
        assert read(r, "/../../../etc/passwd") == "container\n"
        assert read(r, "a/esc/secret") == "inside\n"
        assert read(r, "/rootlink/rootlink/a/../abs") == "container\n"


def test_loops_and_dead_ends(tree: Path, mode: str) -> None:
    with rootdir.Root(str(tree)) as r:
        for p in ("/loop1", "/self/x", "/loop2/etc"):
            with pytest.raises(OSError) as exc:
                r.open(p)
            assert exc.value.errno == errno.ELOOP, p
        with pytest.raises(FileNotFoundError):
            r.open("/nope/passwd")
        with pytest.raises(NotADirectoryError):
            r.open("/file/x")
        with pytest.raises(NotADirectoryError):
            r.open("/file", os.O_RDONLY | os.O_DIRECTORY)


def test_o_nofollow_and_o_path_on_the_last_link(tree: Path, mode: str) -> None:
    with rootdir.Root(str(tree)) as r:
        with pytest.raises(OSError) as exc:
            r.open("/abs", os.O_RDONLY | os.O_NOFOLLOW)
        assert exc.value.errno == errno.ELOOP
        fd = r.open("/abs", os.O_PATH | os.O_NOFOLLOW)
        try:
            assert stat.S_ISLNK(os.fstat(fd).st_mode)
        finally:
            os.close(fd)
        fd = r.open("/rootlink", os.O_PATH)
        try:
            assert os.path.samestat(os.fstat(fd), os.stat(tree))
        finally:
            os.close(fd)


def test_magic_links_are_refused(mode: str) -> None:
    # procfs magic links jump anywhere: refused even though they are "inside" the root
    with rootdir.Root(f"/proc/{os.getpid()}") as r:
        for p in ("root/etc/passwd", "cwd", f"fd/{r.fd}"):
            with pytest.raises(OSError) as exc:
                r.open(p)
            assert exc.value.errno == errno.ELOOP, p


def test_open_parent_and_resolve_path(tree: Path, mode: str) -> None:
    with rootdir.Root(str(tree)) as r:
        fd, name = r.open_parent("/rootlink/a/b/up")
        try:
            assert name == "up" and stat.S_ISLNK(rootdir.lstat_at(fd, name).st_mode)
            assert os.path.samestat(os.fstat(fd), os.stat(tree / "a" / "b"))
        finally:
            os.close(fd)
        assert r.resolve_path("/a/b/up") == "/etc"
        assert r.resolve_path("/rootlink/../abs") == "/etc/passwd"
        assert r.resolve_path("/a/esc/missing/x") == "/outside/missing/x"
        assert r.resolve_path("/nope/../abs") == "/etc/passwd"  # back out of a missing dir
        assert r.resolve_path("/file/x") == "/file/x"
        assert r.resolve_path("/") == "/"
        with pytest.raises(ValueError):
            r.open_parent("/")


def test_mkdir_all_through_links(tree: Path, tmp: Path, mode: str) -> None:
    with rootdir.Root(str(tree)) as r:
        fd = r.mkdir_all("/a/esc/new/deeper")
        os.close(fd)
        assert (tree / "outside" / "new" / "deeper").is_dir()
        assert not (tmp / "outside" / "new").exists()
        os.close(r.mkdir_all("/rootlink/made"))
        assert (tree / "made").is_dir()
        with pytest.raises(NotADirectoryError):
            r.mkdir_all("/file/sub")


def test_the_fallback_is_used_when_openat2_is_missing(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: Counter[str] = Counter()

    def enosys(dirfd: int, path: str, flags: int) -> int:
        calls["openat2"] += 1
        raise OSError(errno.ENOSYS, "no openat2")

    monkeypatch.setattr(rootdir, "_openat2", enosys)
    monkeypatch.setattr(rootdir, "_have_openat2", None)
    monkeypatch.setattr(rootdir, "resolve_mode", "auto")
    with rootdir.Root(str(tree)) as r:
        assert read(r, "/rootlink/abs") == "container\n"
        assert read(r, "/a/b/up/passwd") == "container\n"
    assert calls["openat2"] == 1  # probed once, then never again


def test_openat2_retries_then_walks_when_the_host_keeps_renaming(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not rootdir.openat2_available():
        pytest.skip("the kernel has no openat2")
    calls: Counter[str] = Counter()

    def eagain(dirfd: int, path: str, flags: int) -> int:
        calls["openat2"] += 1
        raise OSError(errno.EAGAIN, "renamed meanwhile")

    monkeypatch.setattr(rootdir, "_openat2", eagain)
    monkeypatch.setattr(rootdir, "resolve_mode", "openat2")
    with rootdir.Root(str(tree)) as r:
        assert read(r, "/a/b/up/passwd") == "container\n"
    assert calls["openat2"] == rootdir._OPENAT2_TRIES


def test_modes_are_what_they_say(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: Counter[str] = Counter()
    real = rootdir._openat2

    def counting(dirfd: int, path: str, flags: int) -> int:
        calls["openat2"] += 1
        return real(dirfd, path, flags)

    monkeypatch.setattr(rootdir, "_openat2", counting)
    monkeypatch.setattr(rootdir, "resolve_mode", "fallback")
    with rootdir.Root(str(tree)) as r:
        read(r, "/abs")
        assert calls["openat2"] == 0
        if rootdir.openat2_available():
            monkeypatch.setattr(rootdir, "resolve_mode", "openat2")
            read(r, "/abs")
            assert calls["openat2"] == 1
    # berthd takes the mode from its environment
    code = "from berth.runtime import rootdir; print(rootdir.resolve_mode, rootdir._use_openat2())"
    env = {**os.environ, rootdir.MODE_ENV: "fallback"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.split() == ["fallback", "False"], out.stderr


# ---- the *_at helpers ---------------------------------------------------------
def test_at_helpers_never_follow_the_name(tree: Path, tmp: Path) -> None:
    outside = tmp / "outside" / "secret"
    os.chmod(outside, 0o600)
    os.symlink(str(outside), tree / "out")
    with rootdir.Root(str(tree)) as r:
        fd = r.open("/", os.O_PATH | os.O_DIRECTORY)
        try:
            rootdir.lchmod_at(fd, "out", 0o777)  # a link: left alone, target untouched
            assert stat.S_IMODE(os.stat(outside).st_mode) == 0o600
            rootdir.lchmod_at(fd, "file", 0o640)
            assert stat.S_IMODE(os.stat(tree / "file").st_mode) == 0o640
            with pytest.raises(FileExistsError):
                rootdir.create_at(fd, "out")
            with pytest.raises(OSError) as exc:
                rootdir.open_at(fd, "out")
            assert exc.value.errno == errno.ELOOP
            with pytest.raises(OSError):
                rootdir.open_dir_at(fd, "rootlink")
            rootdir.lutime_at(fd, "out", (1_000_000_000, 1_000_000_000))
            assert os.lstat(tree / "out").st_mtime == 1 and os.stat(outside).st_mtime != 1
            if os.geteuid() == 0:
                rootdir.lchown_at(fd, "out", 1234, 1234)
                assert os.lstat(tree / "out").st_uid == 1234
                assert os.stat(outside).st_uid == 0
            rootdir.link_at(fd, "out", fd, "hard")  # the link itself, not its target
            assert os.path.samestat(os.lstat(tree / "hard"), os.lstat(tree / "out"))
            rootdir.symlink_at("/x", fd, "new")
            assert rootdir.readlink_at(fd, "new") == "/x"
            rootdir.mkfifo_at(fd, "fifo")
            assert stat.S_ISFIFO(rootdir.lstat_at(fd, "fifo").st_mode)
            for bad in ("..", "a/b", ""):
                with pytest.raises(ValueError):
                    rootdir.lstat_at(fd, bad)
        finally:
            os.close(fd)


def test_rmtree_at_removes_links_never_their_targets(tree: Path, tmp: Path) -> None:
    os.symlink(str(tmp / "outside"), tree / "a" / "b" / "hostdir")
    with rootdir.Root(str(tree)) as r:
        fd = r.open("/", os.O_PATH | os.O_DIRECTORY)
        try:
            rootdir.rmtree_at(fd, "a")
            rootdir.rmtree_at(fd, "rootlink")
        finally:
            os.close(fd)
    assert not (tree / "a").exists() and not (tree / "rootlink").is_symlink()
    assert (tmp / "outside" / "secret").read_text() == "host\n"
    assert (tree / "etc" / "passwd").exists()


# ---- the race itself ---------------------------------------------------------------
_RENAME_EXCHANGE = 2
_SYS_RENAMEAT2 = {"x86_64": 316, "aarch64": 276}.get(os.uname().machine)


def test_a_swapping_tree_never_leads_out(tree: Path, tmp: Path, mode: str) -> None:
    """A child exchanges root/w/d (a directory) and root/w/l (a link that a string
    resolution follows to tmp/outside) in a loop; everything resolved meanwhile stays
    in the root. Both sides of the exchange must be seen, or the test proves nothing."""
    if _SYS_RENAMEAT2 is None:
        pytest.skip("renameat2's number is not known here")
    (tree / "w" / "d").mkdir(parents=True)
    (tree / "w" / "d" / "secret").write_text("in-dir\n")
    os.symlink("../../outside", tree / "w" / "l")  # ../.. from root/w is tmp
    (tree / "outside" / "secret").write_text("in-root\n")
    libc = ctypes.CDLL(None, use_errno=True)
    a, b = str(tree / "w" / "d").encode(), str(tree / "w" / "l").encode()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child only swaps
        while True:
            libc.syscall(_SYS_RENAMEAT2, -100, a, -100, b, _RENAME_EXCHANGE)
    seen: Counter[str] = Counter()
    try:
        with rootdir.Root(str(tree)) as r:
            deadline = time.monotonic() + 1.0
            i = 0
            while time.monotonic() < deadline:
                try:
                    seen[read(r, "/w/d/secret").strip()] += 1
                except FileNotFoundError:
                    seen["missing"] += 1
                fd = r.mkdir_all(f"/w/d/m{i}")
                try:
                    os.close(rootdir.create_at(fd, "f"))
                finally:
                    os.close(fd)
                i += 1
            host = os.stat(tmp / "outside" / "secret")
            top = os.open(tree, os.O_RDONLY | os.O_DIRECTORY)
            try:
                for _ in range(10):
                    for e in fdtree.walk(top, "."):
                        assert not os.path.samestat(e.st, host), e.path
                        seen["walked"] += 1
            finally:
                os.close(top)
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    assert "host" not in seen and not list((tmp / "outside").glob("m*")), seen
    assert (tmp / "outside" / "secret").read_text() == "host\n"
    assert seen["in-dir"] > 0 and seen["in-root"] > 0, seen
