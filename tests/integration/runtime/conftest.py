"""Fixtures for the executor's root tests: a busybox rootfs, a runner that starts a
container through executor.spawn with pipes and always cleans up, and `start` for a
container that keeps running while the test execs into it."""

from __future__ import annotations

import os
import select
import shutil
import signal
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from berth.runtime import cgroups, executor
from berth.runtime.spec import RuntimeSpec, to_oci

# the static C helpers of the escape battery, built once per session (defined there only)
from tests.integration.security.conftest import static_binary  # noqa: F401

BUSYBOX = "/bin/busybox"
APPLETS = (
    "sh echo cat hostname id true false sleep ls grep head tr dd wc mount touch mkdir "
    "seq tty stat readlink env pwd unshare stty"
).split()


def _require_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: namespaces, mounts and cgroups")
    if not os.path.exists(BUSYBOX):
        pytest.skip("needs a static busybox at /bin/busybox")


def make_rootfs(root: Path) -> None:
    """A minimal busybox root: /bin with applet links, /etc/passwd with root and nobody."""
    for d in ("bin", "etc", "proc", "sys", "dev", "tmp", "root"):
        (root / d).mkdir(parents=True, exist_ok=True)
    shutil.copy2(BUSYBOX, root / "bin" / "busybox")
    for a in APPLETS:
        (root / "bin" / a).symlink_to("busybox")
    (root / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
    )
    (root / "etc" / "group").write_text("root:x:0:\nnogroup:x:65534:\n")


@pytest.fixture(scope="session")
def rootfs_dir() -> Iterator[Path]:
    _require_root()
    d = Path(tempfile.mkdtemp(prefix="bt-rt-", dir="/tmp"))
    try:
        make_rootfs(d / "rootfs")
        yield d / "rootfs"
    finally:
        shutil.rmtree(d, ignore_errors=True)


@dataclass
class Result:
    code: int
    out: str
    config: dict
    oom_killed: bool
    pid: int


Runner = Callable[..., Result]


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        b = os.read(fd, 65536)
        if not b:
            return b"".join(chunks)
        chunks.append(b)


def _config(rootfs: Path, args: list[str], kw: dict) -> dict:
    cid = "bt-" + uuid.uuid4().hex[:12]
    fields: dict = {
        "id": cid,
        "rootfs": str(rootfs),
        "args": args,
        "env": ["PATH=/bin", "HOME=/root"],
        "hostname": "ctr",
        "cgroup_path": f"/berth/{cid}",
    }
    fields.update(kw)
    return to_oci(RuntimeSpec(**fields))


@pytest.fixture
def run(rootfs_dir: Path) -> Iterator[Runner]:
    """run(*args, **RuntimeSpec fields) -> Result; stdout and stderr are merged."""
    started: list[tuple[int, dict]] = []

    def _run(*args: str, rootfs: Path | None = None, **kw: object) -> Result:
        cfg = _config(rootfs or rootfs_dir, list(args), kw)
        r, w = os.pipe2(os.O_CLOEXEC)
        devnull = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
        try:
            pid = executor.spawn(cfg, (devnull, w, w))
        finally:
            os.close(w)
            os.close(devnull)
        started.append((pid, cfg))
        out = _read_all(r)
        os.close(r)
        _, status = os.waitpid(pid, 0)
        started.remove((pid, cfg))
        oom = executor.oom_killed(cfg)
        executor.cleanup(cfg)
        return Result(os.waitstatus_to_exitcode(status), out.decode(), cfg, oom, pid)

    try:
        yield _run
    finally:
        for pid, cfg in started:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
            except ProcessLookupError:
                pass
            executor.cleanup(cfg)


def cgroup_dirs(path: str) -> list[str]:
    """The directories of cgroup PATH that exist, in every hierarchy under /sys/fs/cgroup."""
    root = "/sys/fs/cgroup"
    dirs = (os.path.join(root, c, path.strip("/")) for c in sorted(os.listdir(root)))
    return [d for d in dirs if os.path.isdir(d)]


def cgroup_exists(cfg: dict) -> bool:
    """Whether any hierarchy still has the container's cgroup dir."""
    return any(os.path.exists(d) for d in cgroups.layout().dirs(cfg["linux"]["cgroupsPath"]))


@dataclass
class Running:
    """A started container: its init's pid, config, and the read end of its output."""

    pid: int
    config: dict
    out: int

    def read_line(self, timeout: float = 10.0) -> str:
        """The next line of output, waiting for it (no fixed sleeps)."""
        data = b""
        while not data.endswith(b"\n"):
            ready, _, _ = select.select([self.out], [], [], timeout)
            if not ready:
                raise TimeoutError(f"no output line in {timeout}s (got {data!r})")
            b = os.read(self.out, 1)
            if not b:
                break
            data += b
        return data.decode()

    def exec(self, *args: str, **process: object) -> tuple[int, str]:
        """docker exec: run `args` in the container (as the shim does: the container's process
        with the exec's fields over it); returns (exit code, merged output)."""
        proc = dict(self.config["process"])
        proc.update({"args": list(args), "terminal": False}, **process)
        r, w = os.pipe2(os.O_CLOEXEC)
        devnull = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
        try:
            pid = executor.exec_process(self.config, proc, self.pid, (devnull, w, w))
        finally:
            os.close(w)
            os.close(devnull)
        out = _read_all(r)
        os.close(r)
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status), out.decode()


Starter = Callable[..., Running]


@pytest.fixture
def start(rootfs_dir: Path) -> Iterator[Starter]:
    """start(*args, **RuntimeSpec fields) -> Running; killed and cleaned up at the end."""
    started: list[Running] = []

    def _start(*args: str, rootfs: Path | None = None, **kw: object) -> Running:
        cfg = _config(rootfs or rootfs_dir, list(args), kw)
        r, w = os.pipe2(os.O_CLOEXEC)
        devnull = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
        try:
            pid = executor.spawn(cfg, (devnull, w, w))
        except BaseException:
            os.close(r)
            raise
        finally:
            os.close(w)
            os.close(devnull)
        c = Running(pid, cfg, r)
        started.append(c)
        return c

    try:
        yield _start
    finally:
        for c in started:
            try:
                os.kill(c.pid, signal.SIGKILL)
                os.waitpid(c.pid, 0)
            except (ChildProcessError, ProcessLookupError):
                pass
            os.close(c.out)
            executor.cleanup(c.config)
