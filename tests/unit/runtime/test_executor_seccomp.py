"""executor: where the session keyring is joined and the seccomp filter loaded, in a
container's init and in an exec (fake syscalls; the program is compiled for real)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from berth.runtime import capabilities, executor
from berth.runtime.seccomp import compiler, profile
from berth.runtime.spec import RuntimeSpec, to_oci
from berth.runtime.syscalls import (
    KEY_USR_SEARCH,
    PR_CAPBSET_DROP,
    PR_SET_KEEPCAPS,
    PR_SET_NO_NEW_PRIVS,
)
from tests.unit.runtime.fake_syscalls import FakeSyscalls

pytestmark = pytest.mark.skipif(not compiler.library_available(), reason="needs libseccomp")


def _seccomp() -> dict:
    return profile.to_oci(profile.default_profile(), list(capabilities.DOCKER_DEFAULT))


def _config(root: Path, **kw: object) -> dict:
    base: dict = {
        "id": "c1",
        "rootfs": str(root),
        "args": ["sh", "-c", "true"],
        "env": ["PATH=/bin:/usr/bin"],
        "hostname": "box",
        "seccomp": _seccomp(),
    }
    base.update(kw)
    return to_oci(RuntimeSpec(**base))


def _setup(p: executor.Plan) -> FakeSyscalls:
    fake = FakeSyscalls()
    executor.setup(p, fake, [])
    return fake


def test_spec_puts_the_object_in_linux_seccomp(tmp: Path) -> None:
    cfg = _config(tmp)
    assert cfg["linux"]["seccomp"] == _seccomp()
    assert "seccomp" not in _config(tmp, seccomp=None)["linux"]
    assert "seccomp" not in _config(tmp, seccomp={})["linux"]  # a profile filtering nothing


def test_plan_compiles_in_the_parent(tmp: Path) -> None:
    p = executor.plan(_config(tmp))
    assert p.seccomp == compiler.compile_bpf(_seccomp()) and p.seccomp_flags == 0
    assert executor.plan(_config(tmp, seccomp=None)).seccomp == b""


def test_bad_object_fails_the_plan_not_the_child(tmp: Path) -> None:
    cfg = _config(tmp)
    cfg["linux"]["seccomp"] = {"syscalls": []}
    with pytest.raises(executor.StartError, match="unable to init seccomp: invalid default"):
        executor.plan(cfg)
    cfg["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_NOTIFY"}
    with pytest.raises(executor.StartError, match="unable to init seccomp: .*not a valid action"):
        executor.plan(cfg)


def test_without_nnp_the_filter_goes_in_before_the_capability_drop(tmp: Path) -> None:
    p = executor.plan(_config(tmp))
    fake = _setup(p)
    load = fake.index("seccomp_load")
    assert fake.calls[load][1] == (p.seccomp, 0)
    # after the mounts and the hostname (the filter denies them), ...
    assert fake.index("pivot_root") < load and fake.index("sethostname") < load
    # ... before the bounding set, the user switch and capset (it still needs CAP_SYS_ADMIN)
    assert load < fake.index("prctl", PR_CAPBSET_DROP) < fake.index("prctl", PR_SET_KEEPCAPS, 1)
    assert load < fake.index("setresuid") < fake.index("capset")
    assert fake.names().count("seccomp_load") == 1


def test_with_nnp_the_filter_goes_in_last(tmp: Path) -> None:
    fake = _setup(executor.plan(_config(tmp, no_new_privileges=True)))
    names = fake.names()
    assert fake.index("prctl", PR_SET_NO_NEW_PRIVS, 1) < fake.index("capset")
    assert names[-5:] == ["chdir", "umask", "close_range", "seccomp_load", "execve"]
    assert names.count("seccomp_load") == 1


def test_keyring_is_joined_early_and_made_searchable(tmp: Path) -> None:
    fake = _setup(executor.plan(_config(tmp)))
    join = fake.index("join_session_keyring")
    # before the filter (which denies keyctl) and before the rootfs is set up, as runc
    assert fake.index("setsid") < join < fake.index("mount") < fake.index("seccomp_load")
    assert fake.calls[join + 1] == ("describe_key", (0x1234,))
    assert fake.calls[join + 2] == ("set_key_perm", (0x1234, 0x3F030000 | KEY_USR_SEARCH))


def test_keyring_unsupported_is_not_fatal_but_other_errors_are(tmp: Path) -> None:
    p = executor.plan(_config(tmp, seccomp=None))
    fake = FakeSyscalls()
    fake.fail["join_session_keyring"] = OSError(38, "keyctl: Function not implemented")
    executor.setup(p, fake, [])
    assert fake.names()[-1] == "execve" and "set_key_perm" not in fake.names()
    fake = FakeSyscalls()
    fake.fail["join_session_keyring"] = OSError(13, "keyctl: Permission denied")
    with pytest.raises(OSError, match="unable to join session keyring"):
        executor.setup(p, fake, [])
    assert "execve" not in fake.names()


def _exec_config(root: Path, **kw: object) -> dict:
    return _config(root, args=["sleep", "1000"], cgroup_path="/berth/c1", **kw)


def _exec_process(**kw: object) -> dict:
    return {"args": ["sh", "-c", "true"], "env": ["PATH=/bin:/usr/bin"], "cwd": "/", **kw}


def test_exec_gets_the_containers_filter_and_keyring(tmp: Path) -> None:
    cfg = _exec_config(tmp)
    p = executor.plan_exec(cfg, _exec_process(), os.getpid())
    assert p.seccomp == compiler.compile_bpf(cfg["linux"]["seccomp"]) and not p.no_new_privs
    fake = _setup(p)
    assert fake.index("join_session_keyring") < fake.index("seccomp_load")
    assert fake.index("seccomp_load") < fake.index("prctl", PR_CAPBSET_DROP)
    # an exec --privileged has every capability but still the container's filter
    every = capabilities.all_caps()
    priv = _exec_process(capabilities={"bounding": every, "effective": every, "permitted": every})
    assert executor.plan_exec(cfg, priv, os.getpid()).seccomp == p.seccomp


def test_exec_no_new_privs_from_the_container_or_the_exec(tmp: Path) -> None:
    nnp_container = _exec_config(tmp, no_new_privileges=True)
    # the exec's own process object says false (or nothing): the container's true wins
    for proc in (_exec_process(), _exec_process(noNewPrivileges=False)):
        p = executor.plan_exec(nnp_container, proc, os.getpid())
        assert p.no_new_privs
        fake = _setup(p)
        assert fake.names()[-2:] == ["seccomp_load", "execve"]
        assert ("prctl", (PR_SET_NO_NEW_PRIVS, 1, 0)) in fake.calls
    p = executor.plan_exec(_exec_config(tmp), _exec_process(noNewPrivileges=True), os.getpid())
    assert p.no_new_privs
    plain = executor.plan_exec(_exec_config(tmp), _exec_process(), os.getpid())
    assert not plain.no_new_privs


def test_unconfined_exec_has_no_filter(tmp: Path) -> None:
    p = executor.plan_exec(_exec_config(tmp, seccomp=None), _exec_process(), os.getpid())
    fake = _setup(p)
    assert "seccomp_load" not in fake.names() and "join_session_keyring" in fake.names()


def test_the_start_gate_is_waited_at_as_root_before_the_filter_and_identity(tmp: Path) -> None:
    for nnp in (False, True):
        p = executor.plan(_config(tmp, uid=65534, gid=65534, no_new_privileges=nnp))
        p.gate = 7
        fake = FakeSyscalls()
        executor.setup(p, fake, [])
        gate = fake.index("wait_gate")
        assert fake.calls[gate] == ("wait_gate", (7,))
        # the whole root is set up first (that is what the wait overlaps with) ...
        assert fake.index("pivot_root") < gate
        # ... and nothing of the process's own identity, nor its filter, comes before it
        assert gate < fake.index("setresuid") and gate < fake.index("capset")
        assert gate < fake.index("seccomp_load")
    assert "wait_gate" not in _setup(executor.plan(_config(tmp))).names()  # no gate: no wait
