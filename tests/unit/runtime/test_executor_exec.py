"""executor.plan_exec: an exec joins the container's cgroup and namespaces (mnt last), then
replays the same process steps as a container's init."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from berth.runtime import cgroups, executor, syscalls
from berth.runtime.executor import launch, planning
from berth.runtime.spec import RuntimeSpec, to_oci
from berth.runtime.syscalls import (
    CLONE_NEWCGROUP,
    CLONE_NEWIPC,
    CLONE_NEWNET,
    CLONE_NEWNS,
    CLONE_NEWUTS,
)
from tests.unit.runtime.fake_syscalls import FakeSyscalls


def _config(root: Path) -> dict:
    spec = RuntimeSpec(
        id="c1",
        rootfs=str(root),
        args=["sleep", "1000"],
        env=["PATH=/bin"],
        cgroup_path="/berth/c1",
        oom_score_adj=0,
    )
    return to_oci(spec)


def _process(**kw: object) -> dict:
    return {"args": ["sh", "-c", "true"], "env": ["PATH=/bin:/usr/bin"], "cwd": "/tmp", **kw}


def test_plan_exec_joins_what_differs(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(planning, "_same_ns", lambda name, pid: name in ("net", "pid"))
    p = executor.plan_exec(_config(tmp), _process(), 4242)
    assert p.joins == [
        (CLONE_NEWCGROUP, "/proc/4242/ns/cgroup"),
        (CLONE_NEWIPC, "/proc/4242/ns/ipc"),
        (CLONE_NEWUTS, "/proc/4242/ns/uts"),
        (CLONE_NEWNS, "/proc/4242/ns/mnt"),
    ]
    assert p.pid_ns is None and p.unshare_flags == 0
    assert p.fs_before == [] and p.fs_after == [] and not p.hostname and not p.loopback
    # the exec joins the container's cgroups as its init does (cgroups.entry)
    assert (p.procs_files, p.cgroup2_dir) == cgroups.entry("berth/c1")
    assert all(f.endswith("/berth/c1/tasks") for f in p.procs_files)
    assert p.args == ["sh", "-c", "true"] and p.path == "/bin:/usr/bin" and p.cwd == "/tmp"


def test_plan_exec_same_namespaces_joins_nothing(tmp: Path) -> None:
    p = executor.plan_exec(_config(tmp), _process(), os.getpid())
    assert p.joins == [] and p.pid_ns is None


def test_exec_setup_order(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(planning, "_same_ns", lambda name, pid: False)
    proc = _process(
        terminal=True,
        user={"uid": 65534, "gid": 65534},
        capabilities={"bounding": ["CAP_KILL"]},
    )
    p = executor.plan_exec(_config(tmp), proc, 4242)
    assert p.pid_ns == "/proc/4242/ns/pid"
    fake = FakeSyscalls()
    fds = [(flag, 100 + i) for i, (flag, _) in enumerate(p.joins)]
    executor.setup(p, fake, fds)
    names = fake.names()
    # the cgroup first, then the namespaces in runc's order with the mount namespace last
    assert fake.index("write_file") < fake.index("setns")
    setns = [a for n, a in fake.calls if n == "setns"]
    assert [flag for _, flag in setns] == [
        CLONE_NEWCGROUP,
        CLONE_NEWIPC,
        CLONE_NEWUTS,
        CLONE_NEWNET,
        CLONE_NEWNS,
    ]
    assert "unshare" not in names and "mount" not in names and "pivot_root" not in names
    assert fake.index("setns", 104) < fake.index("setsid") < fake.index("set_controlling_tty")
    assert fake.index("setresuid") < fake.index("capset")
    assert ("setresuid", (65534, 65534, 65534)) in fake.calls
    assert names[-4:] == ["chdir", "umask", "close_range", "execve"]


def test_exec_process_args_required(tmp: Path) -> None:
    with pytest.raises(executor.StartError, match="args must not be empty"):
        executor.plan_exec(_config(tmp), {"args": []}, os.getpid())


def test_a_child_not_forked_into_its_cgroup_migrates_itself(
    tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # one thread, but no clone3 (the fake says ENOSYS): fork, and cgroup.procs in the plan
    fake = FakeSyscalls()
    monkeypatch.setattr(syscalls, "sys_", fake)
    monkeypatch.setattr(launch, "_single_threaded", lambda: True)
    monkeypatch.setattr(launch.os, "fork", lambda: 4242)
    p = planning.Plan(procs_files=["/v1/berth/c1/tasks"], cgroup2_dir=str(tmp))
    pid, child = launch._fork_in_cgroup(p)
    assert pid == 4242 and fake.names() == ["fork_into_cgroup"]
    assert child.procs_files == ["/v1/berth/c1/tasks", f"{tmp}/cgroup.procs"]
    # several threads: no clone3 at all (glibc's fork handlers must run)
    fake.calls.clear()
    monkeypatch.setattr(launch, "_single_threaded", lambda: False)
    pid, child = launch._fork_in_cgroup(p)
    assert pid == 4242 and fake.names() == []
    assert child.procs_files[-1] == f"{tmp}/cgroup.procs"
    assert p.procs_files == ["/v1/berth/c1/tasks"]  # the caller's plan is left as it was
