"""executor: the child's setup order (with fake syscalls) and exec path resolution."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from berth.runtime import capabilities, executor
from berth.runtime.spec import RuntimeSpec, to_oci
from berth.runtime.syscalls import (
    CLONE_NEWCGROUP,
    CLONE_NEWIPC,
    CLONE_NEWNET,
    CLONE_NEWNS,
    CLONE_NEWUTS,
    PR_CAPBSET_DROP,
    PR_SET_KEEPCAPS,
    PR_SET_NO_NEW_PRIVS,
)
from tests.unit.runtime.fake_syscalls import FakeSyscalls


def _config(root: Path, **kw: object) -> dict:
    base: dict = {
        "id": "c1",
        "rootfs": str(root),
        "args": ["sh", "-c", "true"],
        "env": ["PATH=/bin:/usr/bin", "A=1"],
        "hostname": "box",
    }
    base.update(kw)
    return to_oci(RuntimeSpec(**base))


def _run_setup(cfg: dict) -> FakeSyscalls:
    fake = FakeSyscalls()
    executor.setup(executor.plan(cfg), fake, [])
    return fake


def test_plan_namespaces(tmp: Path) -> None:
    p = executor.plan(_config(tmp))
    want = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWCGROUP
    assert p.unshare_flags == want
    assert p.pid_ns == "new" and p.loopback and p.hostname == "box"
    joined = executor.plan(_config(tmp, join_namespaces={"network": "/proc/1/ns/net"}))
    assert not joined.unshare_flags & CLONE_NEWNET and not joined.loopback
    assert joined.joins == [(CLONE_NEWNET, "/proc/1/ns/net")]


def test_plan_rejects_bad_configs(tmp: Path) -> None:
    cfg = _config(tmp)
    cfg["process"]["args"] = []
    with pytest.raises(executor.StartError, match="args"):
        executor.plan(cfg)
    cfg = _config(tmp)
    cfg["linux"]["namespaces"].append({"type": "user"})
    with pytest.raises(executor.StartError, match="user"):
        executor.plan(cfg)


def test_setup_order_root(tmp: Path) -> None:
    fake = _run_setup(_config(tmp, cgroup_path="/berth/c1"))
    names = fake.names()
    # cgroup join precedes the unshare so the cgroup namespace is rooted at it
    assert fake.index("write_file") < fake.index("unshare")
    assert fake.calls[fake.index("write_file")][1][1] == "0"
    unshare = fake.index("unshare")
    assert unshare < fake.index("mount")
    assert fake.index("setsid") < fake.index("pivot_root")
    pivot = fake.index("pivot_root")
    assert pivot < fake.index("sethostname") < fake.index("loopback_up")
    # masks come after the pivot (they name paths inside the container)
    assert fake.index("mount", "/dev/null") > pivot
    # bounding set shrinks while we still hold CAP_SETPCAP, then the user switch, then capset
    first_drop = fake.index("prctl", PR_CAPBSET_DROP)
    keep = fake.index("prctl", PR_SET_KEEPCAPS, 1)
    assert first_drop < keep < fake.index("setgroups") < fake.index("setresgid")
    assert fake.index("setresgid") < fake.index("setresuid") < fake.index("capset")
    assert names[-4:] == ["chdir", "umask", "close_range", "execve"]
    _, (path, args, env) = fake.calls[-1]
    assert (
        path == "/bin/sh" and args == ["sh", "-c", "true"] and env == ["PATH=/bin:/usr/bin", "A=1"]
    )
    eff, prm, inh = fake.calls[fake.index("capset")][1]
    assert eff == prm == 0xA80425FB & capabilities.bounding_mask() and inh == 0
    dropped = {a[1] for n, a in fake.calls if n == "prctl" and a[0] == PR_CAPBSET_DROP}
    kept = {i for i in range(capabilities.last_cap() + 1)} - dropped
    assert kept == {i for i in range(64) if 0xA80425FB >> i & 1}


def test_setup_non_root_user(tmp: Path) -> None:
    fake = _run_setup(_config(tmp, uid=65534, gid=65534, additional_gids=[10, 20]))
    assert fake.calls[fake.index("setgroups")] == ("setgroups", ([10, 20],))
    assert ("setresgid", (65534, 65534, 65534)) in fake.calls
    assert ("setresuid", (65534, 65534, 65534)) in fake.calls
    assert fake.calls[fake.index("capset")][1] == (0, 0, 0)


def test_setup_no_new_privs_and_tty(tmp: Path) -> None:
    fake = _run_setup(_config(tmp, no_new_privileges=True, tty=True))
    assert fake.index("prctl", PR_SET_NO_NEW_PRIVS, 1) < fake.index("execve")
    assert fake.index("setsid") < fake.index("set_controlling_tty")
    src = os.readlink("/proc/self/fd/0")
    if src.startswith("/"):
        assert ("mount", (src, f"{tmp}/dev/console", None, 4096, None)) in fake.calls


def test_exec_errors_read_like_runc(tmp: Path) -> None:
    with pytest.raises(executor.ExecError) as e:
        _run_setup(_config(tmp, args=["no-such-binary-here"]))
    assert str(e.value) == 'exec: "no-such-binary-here": executable file not found in $PATH'
    with pytest.raises(executor.ExecError) as e:
        _run_setup(_config(tmp, args=["/etc"]))
    assert str(e.value) == 'exec: "/etc": permission denied'


def test_look_path(tmp: Path) -> None:
    exe = tmp / "tool"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    noexec = tmp / "data"
    noexec.write_text("")
    assert executor.look_path("tool", f"/nonexistent:{tmp}") == str(exe)
    assert executor.look_path(str(exe), "") == str(exe)
    with pytest.raises(executor.ExecError, match="permission denied"):
        executor.look_path(str(noexec), "")
    with pytest.raises(executor.ExecError, match="executable file not found"):
        executor.look_path("data", str(tmp))
    with pytest.raises(executor.ExecError, match=r"stat /nope/x: no such file or directory"):
        executor.look_path("/nope/x", "")
    assert stat.S_IMODE(os.stat(exe).st_mode) == 0o755


def test_chdir_failure_message(tmp: Path) -> None:
    fake = FakeSyscalls()
    fake.fail["chdir"] = OSError(2, "No such file or directory")
    p = executor.plan(_config(tmp))
    # the first chdir is the pivot's; fail the one for the cwd
    p.fs_before = []
    with pytest.raises(executor.ExecError, match=r'chdir to cwd \("/"\) set in config.json'):
        executor.setup(p, fake, [])
