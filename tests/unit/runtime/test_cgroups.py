"""cgroups: path logic and file writes against a directory tree shaped like cgroupfs."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.runtime import cgroups

V1 = ("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids")


@pytest.fixture
def v1root() -> Iterator[str]:
    d = Path(tempfile.mkdtemp(prefix="bt-cg-", dir="/tmp"))
    try:
        for h in V1:
            (d / h).mkdir()
            (d / h / "cgroup.procs").write_text("")
        (d / "cpuset" / "cpuset.cpus").write_text("0-1\n")
        (d / "cpuset" / "cpuset.mems").write_text("0\n")
        (d / "unified").mkdir()  # hybrid: ignored
        (d / "cpu,cpuacct").symlink_to("cpu")  # a symlink: ignored
        yield str(d)
    finally:
        cgroups.layout.cache_clear()
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def v2root() -> Iterator[str]:
    d = Path(tempfile.mkdtemp(prefix="bt-cg-", dir="/tmp"))
    try:
        (d / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
        (d / "cgroup.subtree_control").write_text("")
        yield str(d)
    finally:
        cgroups.layout.cache_clear()
        shutil.rmtree(d, ignore_errors=True)


def _touch_v1_files(root: str, path: str) -> None:
    """The kernel creates these on mkdir; the test tree has to."""
    files = {
        "memory": ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"],
        "cpu": ["cpu.shares", "cpu.cfs_period_us", "cpu.cfs_quota_us"],
        "pids": ["pids.max"],
        "devices": ["devices.allow", "devices.deny"],
        "freezer": ["freezer.state"],
    }
    for h, names in files.items():
        d = Path(root, h, path.strip("/"))
        d.mkdir(parents=True, exist_ok=True)
        for n in names:
            (d / n).write_text("")


def test_layout_v1(v1root: str) -> None:
    lay = cgroups.layout(v1root)
    assert not lay.v2
    assert [c for c, _ in lay.v1] == sorted(V1)
    assert lay.controller_dir("memory", "/berth/x") == f"{v1root}/memory/berth/x"
    assert len(lay.dirs("/berth/x")) == len(V1)


def test_layout_v2(v2root: str) -> None:
    lay = cgroups.layout(v2root)
    assert lay.v2
    assert lay.dirs("/berth/x") == [f"{v2root}/berth/x"]


def test_v1_create_writes_resources(v1root: str) -> None:
    _touch_v1_files(v1root, "/berth/c1")
    res = {
        "memory": {"limit": 33554432, "swap": 67108864},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000},
        "pids": {"limit": 20},
        "devices": [
            {"allow": False, "access": "rwm"},
            {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
        ],
    }
    cgroups.create("/berth/c1", res, root=v1root)
    r = Path(v1root)
    assert (r / "memory/berth/c1/memory.limit_in_bytes").read_text() == "33554432"
    assert (r / "memory/berth/c1/memory.memsw.limit_in_bytes").read_text() == "67108864"
    assert (r / "cpu/berth/c1/cpu.shares").read_text() == "512"
    assert (r / "cpu/berth/c1/cpu.cfs_quota_us").read_text() == "50000"
    assert (r / "cpu/berth/c1/cpu.cfs_period_us").read_text() == "100000"
    assert (r / "pids/berth/c1/pids.max").read_text() == "20"
    # each open+write replaces the test file: the last rule of each kind remains
    assert (r / "devices/berth/c1/devices.deny").read_text() == "a"
    assert (r / "devices/berth/c1/devices.allow").read_text() == "c 136:* rwm"
    for h in V1:
        assert (r / h / "berth/c1").is_dir()


def test_v1_cpuset_copies_parent_at_each_new_level(v1root: str) -> None:
    cgroups.create("/berth/c2", {}, root=v1root)
    r = Path(v1root, "cpuset")
    for d in (r / "berth", r / "berth/c2"):
        assert (d / "cpuset.cpus").read_text() == "0-1"
        assert (d / "cpuset.mems").read_text() == "0"


def test_device_rules_text() -> None:
    rules = cgroups.device_rules(
        [
            {"allow": False, "access": "rwm"},
            {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
            {"allow": False, "type": "c", "major": 10, "minor": 229, "access": "rwm"},
        ]
    )
    assert rules[:3] == [(False, "a"), (True, "c 1:5 rwm"), (False, "c 10:229 rwm")]
    assert (True, "c *:* m") in rules and (True, "b *:* m") in rules
    assert (True, "c 136:* rwm") in rules


def test_v2_create_writes_resources(v2root: str) -> None:
    d = Path(v2root, "berth")
    d.mkdir()
    (d / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (d / "cgroup.subtree_control").write_text("")
    c = d / "c1"
    c.mkdir()
    for n in ("memory.max", "memory.swap.max", "cpu.max", "cpu.weight", "pids.max"):
        (c / n).write_text("")
    res = {
        "memory": {"limit": 1000, "swap": 3000},
        "cpu": {"shares": 1024, "quota": 50000, "period": 100000},
        "pids": {"limit": -1},
    }
    cgroups.create("/berth/c1", res, root=v2root)
    assert (c / "memory.max").read_text() == "1000"
    assert (c / "memory.swap.max").read_text() == "2000"
    assert (c / "cpu.max").read_text() == "50000 100000"
    assert (c / "cpu.weight").read_text() == "39"
    assert (c / "pids.max").read_text() == "max"
    assert Path(v2root, "cgroup.subtree_control").read_text() == "+cpuset +cpu +io +memory +pids"


def test_remove_is_idempotent(v1root: str) -> None:
    cgroups.create("/berth/c3", {}, root=v1root)
    for h in V1:
        # the test tree has files the kernel would not; leave only dirs
        for f in Path(v1root, h, "berth/c3").iterdir():
            f.unlink()
    cgroups.remove("/berth/c3", root=v1root)
    assert not any(Path(v1root, h, "berth/c3").exists() for h in V1)
    cgroups.remove("/berth/c3", root=v1root)  # again: no error


def test_remove_raises_when_busy_past_timeout(v1root: str) -> None:
    cgroups.create("/berth/c4", {}, root=v1root)
    Path(v1root, "blkio/berth/c4/sub").mkdir()  # rmdir -> ENOTEMPTY, not EBUSY
    with pytest.raises(OSError):
        cgroups.remove("/berth/c4", root=v1root, timeout=0)


def test_oom_kill_count(v1root: str, v2root: str) -> None:
    m = Path(v1root, "memory/berth/c5")
    m.mkdir(parents=True)
    (m / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    assert cgroups.oom_kill_count("/berth/c5", root=v1root) == 2
    assert cgroups.oom_kill_count("/berth/none", root=v1root) == 0
    e = Path(v2root, "berth/c5")
    e.mkdir(parents=True)
    (e / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert cgroups.oom_kill_count("/berth/c5", root=v2root) == 1


def test_v1_freeze_state(v1root: str) -> None:
    _touch_v1_files(v1root, "/berth/c6")
    # a plain file echoes what was written, like a freezer that freezes at once
    cgroups.freeze("/berth/c6", root=v1root, timeout=0.5)
    assert cgroups.state("/berth/c6", root=v1root) == "FROZEN"
    cgroups.thaw("/berth/c6", root=v1root, timeout=0.5)
    assert cgroups.state("/berth/c6", root=v1root) == "THAWED"


def test_procs_files_and_add_process(v1root: str) -> None:
    cgroups.create("/berth/c7", {}, root=v1root)
    files = cgroups.procs_files("/berth/c7", root=v1root)
    assert len(files) == len(V1) and all(f.endswith("/berth/c7/cgroup.procs") for f in files)
    for f in files:
        Path(f).write_text("")
    cgroups.add_process("/berth/c7", 1234, root=v1root)
    assert all(Path(f).read_text() == "1234" for f in files)
