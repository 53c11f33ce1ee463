"""Shared fixtures: a real berthd on a temporary socket and data root, and the
busybox test image the project builds itself."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.apiclient import Api

REPO = Path(__file__).resolve().parent.parent
IS_ROOT = os.geteuid() == 0
# Each test session puts its containers under a cgroup parent of its own, so that the
# leftover check below sees only what this session made (others may run at once).
CGROUP_PARENT = f"berth-test-{os.getpid()}"
needs_root = pytest.mark.skipif(not IS_ROOT, reason="needs root: namespaces, mounts, cgroups")


_SESSION_ROOTS: list[Path] = []


class Daemon:
    """One berthd process with its own socket, data root, exec root and pid file."""

    def __init__(self, root: Path, extra_args: list[str] | None = None) -> None:
        self.root = root
        _SESSION_ROOTS.append(root)
        self.sock = str(root / "berth.sock")
        self.host = "unix://" + self.sock
        self.data_root = root / "data"
        self.exec_root = root / "run"
        self.pidfile = root / "berthd.pid"
        self.log = root / "berthd.log"
        self.extra_args = extra_args or []
        self.proc: subprocess.Popen[bytes] | None = None
        self.api = Api(self.sock)

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": self.host, "BERTH_HOST": self.host}

    def argv(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "berth.daemon.main",
            "-H",
            self.host,
            "--data-root",
            str(self.data_root),
            "--exec-root",
            str(self.exec_root),
            "--pidfile",
            str(self.pidfile),
            "--config-file",
            str(self.root / "daemon.json"),
            *self.extra_args,
        ]

    def start(self, timeout: float = 15) -> None:
        cfgfile = self.root / "daemon.json"
        if not cfgfile.exists():
            cfgfile.write_text("{}\n")
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            self.argv(), stdout=logf, stderr=logf, stdin=subprocess.DEVNULL, cwd=REPO
        )
        logf.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"berthd exited {self.proc.returncode}:\n{self.log.read_text()}")
            if os.path.exists(self.sock):
                try:
                    if self.api.raw("GET", "/_ping")[0] == 200:
                        return
                except OSError:
                    pass
            time.sleep(0.02)
        raise RuntimeError(f"berthd did not come up:\n{self.log.read_text()}")

    def stop(self, timeout: float = 30) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode
        self.proc = None
        return rc

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def load_image(self, tar: Path) -> None:
        status, _, body = self.api.raw(
            "POST", "/images/load?quiet=1", tar.read_bytes(), {"Content-Type": "application/x-tar"}
        )
        assert status == 200 and b"error" not in body, body

    def remove_all_containers(self) -> None:
        status, items = self.api.call("GET", "/containers/json?all=1")
        if status != 200:
            return
        for c in items:
            self.api.call("DELETE", f"/containers/{c['Id']}?force=1")


_LIVE_DAEMONS: list[Daemon] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):  # type: ignore[no-untyped-def]
    """On a failure, show what the daemons said: a flaky run in CI can be read afterwards."""
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for d in _LIVE_DAEMONS:
            try:
                tail = d.log.read_text(errors="replace")[-4000:]
            except OSError:
                continue
            rep.sections.append((f"berthd log ({d.root})", tail))


def shims_of(d: Daemon) -> list[int]:
    """The processes working in D's exec root: its shims (a shim's cwd is its bundle)."""
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if os.readlink(f"/proc/{p}/cwd").startswith(str(d.exec_root) + "/"):
                    out.append(int(p))
            except OSError:
                pass
    return out


def ids_on_disk(d: Daemon) -> set[str]:
    """Container ids with a directory in D's exec root, overlay dir or containers dir."""
    out: set[str] = set()
    for sub in (d.exec_root, d.data_root / "overlay", d.data_root / "containers"):
        if sub.is_dir():
            out |= {n for n in os.listdir(sub) if len(n) == 64}
    return out


def leftover_mounts(root: Path) -> list[str]:
    with open("/proc/self/mounts") as f:
        return [ln for ln in f if str(root) in ln]


def cleanup_root(root: Path) -> None:
    for ln in reversed(leftover_mounts(root)):
        subprocess.run(["umount", "-l", ln.split()[1]], check=False)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def tmp() -> Iterator[Path]:
    """A scratch directory under /tmp (not pytest's tmp_path: some tests need a short
    path, or one the leftover check sees), removed whatever the test did."""
    d = Path(tempfile.mkdtemp(prefix="bt-", dir="/tmp"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def busybox_tar() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="bt-img-", dir="/tmp"))
    out = d / "busybox.tar"
    subprocess.run(
        [sys.executable, str(REPO / "scripts" / "mkimage-busybox"), "-o", str(out)], check=True
    )
    yield out
    shutil.rmtree(d, ignore_errors=True)


@contextlib.contextmanager
def own_daemon(
    busybox_tar: Path | None,
    extra: list[str] | None = None,
    *,
    make: Callable[[Path], Daemon] | None = None,
    daemon_json: dict[str, Any] | None = None,
    start: bool = True,
    check_mounts: bool = True,
) -> Iterator[Daemon]:
    """A berthd of its own, with busybox loaded, taken away with all it ran whatever the
    test did. MAKE builds it (a Daemon subclass: a fault armed, another netns); START
    False leaves starting it to the test. A daemon the test left dead (killed, crashed)
    is started once more at the end, so that it removes its containers; with
    CHECK_MOUNTS a test that passed must leave no mount behind."""
    root = Path(tempfile.mkdtemp(prefix="bt-", dir="/tmp"))
    d = make(root) if make is not None else Daemon(root, extra)
    if daemon_json is not None:
        (root / "daemon.json").write_text(json.dumps(daemon_json) + "\n")
    _LIVE_DAEMONS.append(d)
    passed = False
    try:
        if start:
            d.start()
            if busybox_tar is not None:
                d.load_image(busybox_tar)
        yield d
        passed = True
    finally:
        _LIVE_DAEMONS.remove(d)
        try:
            if d.proc is None or d.proc.poll() is not None:
                d.proc = None
                with contextlib.suppress(RuntimeError):
                    d.start()
            if d.proc is not None:
                d.remove_all_containers()
            d.stop()
        finally:
            d.kill()
            left = leftover_mounts(root)
            cleanup_root(root)
    if passed and check_mounts:
        assert left == [], "berthd left mounts behind"


def _make_daemon(busybox_tar: Path, extra: list[str] | None = None) -> Iterator[Daemon]:
    with own_daemon(busybox_tar, extra) as d:
        yield d


@pytest.fixture(scope="session")
def daemon(busybox_tar: Path) -> Iterator[Daemon]:
    """A berthd shared by the tests of a session (each test removes its containers)."""
    if not IS_ROOT:
        pytest.skip("needs root: berthd creates namespaces, mounts and cgroups")
    yield from _make_daemon(busybox_tar)


@pytest.fixture
def fresh_daemon(busybox_tar: Path) -> Iterator[Daemon]:
    """A berthd of the test's own, for restarts and other destructive checks."""
    if not IS_ROOT:
        pytest.skip("needs root: berthd creates namespaces, mounts and cgroups")
    yield from _make_daemon(busybox_tar)


@pytest.fixture
def docker(daemon: Daemon):  # type: ignore[no-untyped-def]
    """Run the real docker CLI against the shared berthd."""
    yield docker_for(daemon)
    daemon.remove_all_containers()


Docker = Callable[..., subprocess.CompletedProcess[bytes]]


def docker_for(d: Daemon) -> Docker:
    """A runner of the real docker CLI against berthd `d` (skips without the CLI)."""
    exe = shutil.which("docker") or "/usr/local/bin/docker"
    if not os.path.exists(exe):
        pytest.skip("the docker CLI is not installed")

    def run(
        *args: str, input: bytes | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [exe, *args], env=d.env, input=input, capture_output=True, timeout=timeout
        )

    return run


def _session_cgroups() -> list[str]:
    """Container cgroups under this session's parent, in every hierarchy."""
    found = []
    for base in ("/sys/fs/cgroup", *[f"/sys/fs/cgroup/{c}" for c in os.listdir("/sys/fs/cgroup")]):
        parent = Path(base) / CGROUP_PARENT
        if parent.is_dir():
            found += [str(p) for p in parent.iterdir() if p.is_dir()]
    return found


def _remove_session_parents() -> None:
    for c in os.listdir("/sys/fs/cgroup"):
        parent = Path("/sys/fs/cgroup", c, CGROUP_PARENT)
        if parent.is_dir():
            with contextlib.suppress(OSError):
                parent.rmdir()


def _processes_under(prefix: str) -> list[int]:
    """Processes whose working directory is below prefix (shims live in their bundle)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            cwd = os.readlink(f"/proc/{d}/cwd")
        except OSError:
            continue
        if cwd.startswith(prefix):
            out.append(int(d))
    return out


@contextlib.contextmanager
def takes_back_default_bridge() -> Iterator[None]:
    """berthd keeps its default bridge when it stops (as dockerd keeps docker0): the suite
    and the benchmarks take away the one their daemons made."""
    had_bridge = os.path.exists("/sys/class/net/berth0")
    try:
        yield
    finally:
        if not had_bridge:
            subprocess.run(["ip", "link", "del", "berth0"], capture_output=True)


@pytest.fixture(scope="session", autouse=True)
def nothing_left_behind() -> Iterator[None]:
    """After the whole suite: no container cgroup, no bt- mount, no shim still running."""
    if not IS_ROOT:
        yield
        return
    with takes_back_default_bridge():
        yield
    # the last containers' cgroups go as their shims finish: wait for that, not a while
    deadline = time.monotonic() + 5
    while (leaked_cg := _session_cgroups()) and time.monotonic() < deadline:
        time.sleep(0.05)
    _remove_session_parents()
    assert not leaked_cg, f"cgroups left behind: {sorted(leaked_cg)[:5]}"
    with open("/proc/self/mounts") as f:
        mounts = [ln for ln in f if any(f" {root}" in ln for root in _SESSION_ROOTS)]
    assert not mounts, f"mounts left behind: {mounts[:5]}"
    shims = [p for root in _SESSION_ROOTS for p in _processes_under(str(root))]
    assert not shims, f"processes still running in test directories: {shims}"
