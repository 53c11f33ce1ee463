"""cgroups: path logic and file writes against a directory tree shaped like cgroupfs."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.runtime import cgroups
from berth.runtime.cgroups import devices as cgroup_devices

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


# ---- paths from requests stay inside each hierarchy ---------------------------------


@pytest.mark.parametrize(
    ("path", "clean", "climbs"),
    [
        ("a/../../b", "b", True),
        ("/../x", "x", True),
        ("../../../../tmp/x", "tmp/x", True),
        ("x/./y", "x/y", False),
        ("//x", "x", False),
        ("///x//y/", "x/y", False),
        ("", "", False),
        ("/", "", False),
        (".", "", False),
        ("a/..", "", False),
        ("a/../b", "b", False),
        ("a/b/../../..", "", True),
        ("berth/c1", "berth/c1", False),
        ("/berth/c1", "berth/c1", False),
        ("..a/b..", "..a/b..", False),  # names that only start or end with dots
    ],
)
def test_clean_path(path: str, clean: str, climbs: bool) -> None:
    assert cgroups.clean_path(path) == clean
    assert cgroups.climbs_out(path) is climbs


@pytest.mark.parametrize("path", ["../../../../tmp/x", "/../x", "a/../../b", "..", "/", ""])
def test_join_never_leaves_the_base(path: str) -> None:
    out = cgroups.join("/sys/fs/cgroup/devices", path)
    assert out == "/sys/fs/cgroup/devices" or out.startswith("/sys/fs/cgroup/devices/")
    assert ".." not in out.split("/")


def test_join_of_random_paths() -> None:
    import random

    rng = random.Random(1)
    parts = ["..", ".", "", "a", "b", "..."]
    for _ in range(2000):
        path = "/".join(rng.choice(parts) for _ in range(rng.randint(0, 8)))
        out = cgroups.join("/base", path)
        assert out == "/base" or out.startswith("/base/"), path
        assert os.path.normpath(out) == out, path


def test_v1_create_with_dotdot_stays_in_each_hierarchy(v1root: str) -> None:
    outside = Path(v1root).parent / f"{Path(v1root).name}-outside"
    cgroups.create(f"../../../../{outside.name}/x", {"devices": [{"allow": False}]}, root=v1root)
    assert not outside.exists()
    for h in V1:
        assert Path(v1root, h, outside.name, "x").is_dir()
    assert Path(v1root, "devices", outside.name, "x", "devices.deny").read_text() == "a"


def test_root_cgroup_is_refused(v1root: str) -> None:
    for path in ("", "/", "..", "a/.."):
        with pytest.raises(OSError):
            cgroups.create(path, {"devices": [{"allow": False}]}, root=v1root)
    assert not Path(v1root, "devices", "devices.deny").exists()
    cgroups.remove("/..", root=v1root)  # never the root either
    assert Path(v1root, "devices").is_dir()


# ---- hybrid: the unified hierarchy joined too, with the device program ---------------


@pytest.fixture
def hybrid(v1root: str) -> str:
    Path(v1root, "unified", "cgroup.controllers").write_text("hugetlb\n")
    Path(v1root, "unified", "cgroup.procs").write_text("")
    return v1root


@pytest.fixture
def attached(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bytes]]:
    calls: list[tuple[str, bytes]] = []
    monkeypatch.setattr(
        cgroup_devices, "attach_device_program", lambda d, code: calls.append((d, code))
    )
    return calls


def test_layout_hybrid(hybrid: str) -> None:
    lay = cgroups.layout(hybrid)
    assert not lay.v2 and lay.unified == f"{hybrid}/unified"
    dirs = lay.dirs("/berth/x")
    assert len(dirs) == len(V1) + 1 and dirs[-1] == f"{hybrid}/unified/berth/x"
    assert lay.v2_dir("/berth/x") == f"{hybrid}/unified/berth/x"
    assert lay.v2_dir("../../x") == f"{hybrid}/unified/x"


def test_hybrid_create_joins_unified_and_attaches_the_program(
    hybrid: str, attached: list[tuple[str, bytes]]
) -> None:
    from berth.runtime import devicefilter

    devices = [{"allow": False, "access": "rwm"}]
    cgroups.create("/berth/h1", {"devices": devices}, root=hybrid)
    assert Path(hybrid, "unified/berth/h1").is_dir()
    assert attached == [
        (f"{hybrid}/unified/berth/h1", devicefilter.program(cgroups.with_implicit(devices)))
    ]
    files = cgroups.procs_files("/berth/h1", root=hybrid)
    assert f"{hybrid}/unified/berth/h1/cgroup.procs" in files
    for d in cgroups.layout(hybrid).dirs("/berth/h1"):
        for f in Path(d).iterdir():
            f.unlink()
    cgroups.remove("/berth/h1", root=hybrid)
    assert not Path(hybrid, "unified/berth/h1").exists()


def test_no_program_without_device_rules(hybrid: str, attached: list[tuple[str, bytes]]) -> None:
    cgroups.create("/berth/h2", {}, root=hybrid)
    cgroups.update("/berth/h2", {"pids": {"limit": 5}}, root=hybrid)
    assert attached == []


def _failing_attach(monkeypatch: pytest.MonkeyPatch, err: int) -> None:
    def attach(d: str, code: bytes) -> None:
        raise OSError(err, "bpf(BPF_PROG_LOAD): refused")

    monkeypatch.setattr(cgroup_devices, "attach_device_program", attach)


def test_hybrid_without_cgroup_bpf_still_starts(
    hybrid: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the v1 devices controller guards the container; the program is the second guard
    _failing_attach(monkeypatch, errno.ENOSYS)
    cgroups.create("/berth/h3", {"devices": [{"allow": False}]}, root=hybrid)
    assert Path(hybrid, "devices/berth/h3/devices.deny").read_text() == "a"


def test_hybrid_refused_program_fails_the_create(
    hybrid: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # EINVAL is the verifier refusing the program: a bug to report, not a missing feature
    _failing_attach(monkeypatch, errno.EINVAL)
    with pytest.raises(OSError):
        cgroups.create("/berth/h4", {"devices": [{"allow": False}]}, root=hybrid)


def _v2_parent(v2root: str) -> None:
    Path(v2root, "berth").mkdir()
    Path(v2root, "berth/cgroup.controllers").write_text("")
    Path(v2root, "berth/cgroup.subtree_control").write_text("")


def test_v2_program_is_required(v2root: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # nothing else controls devices on v2: no program, no container
    _v2_parent(v2root)
    _failing_attach(monkeypatch, errno.ENOSYS)
    with pytest.raises(OSError, match="BPF_PROG_LOAD"):
        cgroups.create("/berth/c9", {"devices": [{"allow": False}]}, root=v2root)


def test_v2_create_attaches_the_program(v2root: str, attached: list[tuple[str, bytes]]) -> None:
    _v2_parent(v2root)
    cgroups.create("/berth/c8", {"devices": [{"allow": True, "access": "rwm"}]}, root=v2root)
    assert [d for d, _ in attached] == [f"{v2root}/berth/c8"]


def test_bad_device_rules_fail_as_oserror(hybrid: str, attached: list[tuple[str, bytes]]) -> None:
    # the executor reports an OSError from create() as a start error
    with pytest.raises(OSError, match="device rules"):
        cgroups.create("/berth/h5", {"devices": [{"allow": True, "type": "x"}]}, root=hybrid)


def test_precompiled_programs_are_the_compiled_ones() -> None:
    from berth.runtime import devicefilter
    from berth.runtime.spec import DEFAULT_DEVICE_RULES

    for devices in (list(DEFAULT_DEVICE_RULES), [{"allow": True, "access": "rwm"}]):
        assert cgroups.device_program(devices) == devicefilter.program(
            cgroups.with_implicit(devices)
        )
    fuse = [*DEFAULT_DEVICE_RULES, {"allow": True, "type": "c", "major": 10, "minor": 229}]
    assert cgroups.device_program(fuse) == devicefilter.program(cgroups.with_implicit(fuse))
