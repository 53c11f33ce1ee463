"""Resource limits the kernel enforces, OOM detection, freezing, cleanup."""

from __future__ import annotations

import os
from pathlib import Path

from berth.runtime import cgroups, executor
from berth.runtime.spec import RuntimeSpec, to_oci
from tests.integration.runtime.conftest import Runner, cgroup_exists

# a shell string of ~100 MiB: busybox tr and the shell both hold it in memory
HOG = 'x=$(head -c 100000000 /dev/zero | tr "\\0" a); echo survived'


def test_memory_limit_oom_kills(run: Runner) -> None:
    res = run("sh", "-c", HOG, memory=32 << 20, memory_swap=32 << 20)
    assert res.code == -9, res.out
    assert "survived" not in res.out
    assert res.oom_killed
    assert not cgroup_exists(res.config)


def test_no_oom_without_limit_pressure(run: Runner) -> None:
    res = run("sh", "-c", "head -c 1000000 /dev/zero | wc -c", memory=64 << 20)
    assert (res.code, res.out.strip(), res.oom_killed) == (0, "1000000", False)


def test_memory_limit_visible_in_own_cgroup(run: Runner) -> None:
    res = run("cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes", memory=48 << 20)
    assert res.out.strip() == str(48 << 20)


def test_cgroup_namespace_root(run: Runner) -> None:
    res = run("cat", "/proc/self/cgroup")
    assert all(ln.endswith(":/") for ln in res.out.splitlines()), res.out


def test_pids_limit(run: Runner) -> None:
    res = run("sh", "-c", "for i in $(seq 20); do sleep 5 & done 2>&1; echo end", pids_limit=5)
    assert "can't fork" in res.out


def test_cpu_settings_written(run: Runner) -> None:
    res = run(
        "sh",
        "-c",
        "cat /sys/fs/cgroup/cpu/cpu.shares /sys/fs/cgroup/cpu/cpu.cfs_quota_us",
        cpu_shares=256,
        cpu_quota=20000,
        cpu_period=100000,
    )
    assert res.out.split() == ["256", "20000"]


def test_freeze_and_thaw(rootfs_dir: Path) -> None:
    cfg = to_oci(
        RuntimeSpec(
            id="bt-frz",
            rootfs=str(rootfs_dir),
            args=["sleep", "100"],
            env=["PATH=/bin"],
            cgroup_path="/berth/bt-frz",
        )
    )
    pid = executor.spawn(cfg, (0, 1, 2))
    try:
        cgroups.freeze("/berth/bt-frz")
        assert cgroups.state("/berth/bt-frz") == "FROZEN"
        assert Path(f"/proc/{pid}/stat").read_text().split(") ")[1].split()[0] in ("D", "S")
        cgroups.thaw("/berth/bt-frz")
        assert cgroups.state("/berth/bt-frz") == "THAWED"
        assert pid in cgroups.pids("/berth/bt-frz")
    finally:
        cgroups.thaw("/berth/bt-frz")
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        executor.cleanup(cfg)
    assert not cgroup_exists(cfg)
