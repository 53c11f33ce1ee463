"""What berthd finds at start is taken from what exists, not only from its database: a
run on record (run.json) is given back, and a container cgroup that nothing on disk knows
any more has its processes killed, while a cgroup in another daemon's care is left."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import IS_ROOT, Daemon, docker_for, own_daemon

pytestmark = [pytest.mark.integration, pytest.mark.skipif(not IS_ROOT, reason="needs root")]

CG = "/sys/fs/cgroup"


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _ppid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _cgroup_dirs(cid: str) -> list[str]:
    """The container's cgroup dirs under berth's default parent, in every hierarchy."""
    bases = [CG] + [e.path for e in os.scandir(CG) if e.is_dir(follow_symlinks=False)]
    return [p for b in bases if os.path.isdir(p := os.path.join(b, "berth", cid))]


def _wait(cond, timeout: float = 15) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return bool(cond())


def _run(d: Daemon, *args: str) -> str:
    r = docker_for(d)("run", "-d", *args)
    assert r.returncode == 0, r.stderr
    return r.stdout.decode().strip()


def test_the_run_record_lives_from_start_to_exit(busybox_tar: Path) -> None:
    with own_daemon(busybox_tar) as d:
        cid = _run(d, "busybox", "sleep", "1000")
        record = d.data_root / "containers" / cid / "run.json"
        rec = json.loads(record.read_text())
        assert rec["phase"] == "running", rec
        assert {"rootfs", "cgroup", "bundle", "network"} <= set(rec["holds"]), rec
        assert rec["cgroup"] == f"/berth/{cid}"
        assert d.api.call("POST", f"/containers/{cid}/kill")[0] == 204
        assert _wait(lambda: not record.exists()), "the record outlived the run"
        assert not (d.exec_root / cid).exists()


def test_a_cgroup_nothing_knows_is_emptied_and_removed(busybox_tar: Path) -> None:
    """The exec root, the data root and the store lost the container (a crash and an
    admin's cleanup, a data root restored from a backup): its process, orphaned by a
    dead shim, ran on under nobody. The next berthd finds it in the cgroup tree."""
    with own_daemon(busybox_tar) as d:
        cid = _run(d, "--network", "none", "busybox", "sleep", "1000")
        pid = d.api.call("GET", f"/containers/{cid}/json")[1]["State"]["Pid"]
        try:
            shim = _ppid(pid)
            d.kill()
            os.kill(shim, signal.SIGKILL)
            assert _wait(lambda: not _alive(shim))
            assert _alive(pid), "the container must outlive its shim for this test"
            # forget it everywhere but in the kernel
            merged = d.data_root / "overlay" / cid / "merged"
            subprocess.run(["umount", "-l", str(merged)], check=False)
            for sub in (
                d.exec_root / cid,
                d.data_root / "overlay" / cid,
                d.data_root / "containers" / cid,
            ):
                subprocess.run(["rm", "-rf", str(sub)], check=True)
            with sqlite3.connect(d.data_root / "berth.db") as db:
                db.execute("DELETE FROM containers WHERE id = ?", (cid,))
            assert _cgroup_dirs(cid), "no cgroup to find"
            d.start()
            assert _wait(lambda: not _alive(pid)), "the unknown container's process runs on"
            assert _wait(lambda: not _cgroup_dirs(cid)), _cgroup_dirs(cid)
            assert "unknown, its shim gone" in d.log.read_text()
            assert d.api.call("GET", f"/containers/{cid}/json")[0] == 404
        finally:  # whatever the test found, the process and its cgroup go
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            _wait(lambda: not _alive(pid), 5)
            for p in _cgroup_dirs(cid):
                with contextlib.suppress(OSError):
                    os.rmdir(p)


def test_a_cgroup_in_another_daemons_care_is_left(busybox_tar: Path) -> None:
    """Two berthds share the cgroup parent: the one that starts must not take the other's
    running containers for leftovers."""
    with own_daemon(busybox_tar) as a, own_daemon(busybox_tar) as b:
        cid = _run(a, "--network", "none", "busybox", "sleep", "1000")
        pid = a.api.call("GET", f"/containers/{cid}/json")[1]["State"]["Pid"]
        b.stop()
        b.start()
        assert _alive(pid), "a berthd killed another daemon's container"
        state = a.api.call("GET", f"/containers/{cid}/json")[1]["State"]
        assert state["Running"] is True, state
