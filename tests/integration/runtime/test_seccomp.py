"""Seccomp and session keyrings in real containers (executor.spawn / exec_process): the
default profile is on (Seccomp: 2) and denies what dockerd denies, everyday tools still work,
no_new_privs reaches init and exec, and a key never crosses containers or reaches the host.
Each denial is checked against the same container without a filter, so it can fail."""

from __future__ import annotations

import ctypes
import errno
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from berth.runtime import capabilities
from berth.runtime.seccomp import compiler, profile
from berth.runtime.spec import BindMount
from tests.integration.runtime.conftest import Runner, Starter

pytestmark = pytest.mark.skipif(
    not profile.available(), reason="needs seccomp filters and libseccomp"
)


def _default(*extra_caps: str) -> dict[str, Any]:
    caps = [*capabilities.DOCKER_DEFAULT, *extra_caps]
    return profile.to_oci(profile.default_profile(), caps)


def _status(out: str, key: str) -> str:
    return next(ln.split()[1] for ln in out.splitlines() if ln.startswith(key + ":"))


@pytest.fixture(scope="module")
def escape(static_binary: Callable[[str], Path]) -> BindMount:
    return BindMount(source=str(static_binary("escape")), destination="/escape", readonly=True)


def test_default_profile_is_on_and_everyday_tools_work(run: Runner) -> None:
    script = (
        "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status; ls / >/dev/null && echo ls=ok; "
        "mkdir -p /tmp/a/b && echo mkdir=ok; echo hi > /tmp/a/f && cat /tmp/a/f; "
        "dd if=/dev/zero of=/tmp/a/z bs=1k count=4 2>/dev/null && wc -c < /tmp/a/z; "
        "sleep 0.01 && echo sleep=ok; (true | cat) && echo pipe=ok; id -u"
    )
    res = run("sh", "-c", script, seccomp=_default())
    assert res.code == 0, res.out
    assert res.out.split("\n") == [
        "NoNewPrivs:\t0", "Seccomp:\t2", "ls=ok", "mkdir=ok", "hi", "4096", "sleep=ok",
        "pipe=ok", "0", "",
    ]  # fmt: skip


def test_non_root_user_and_nnp_start_under_the_filter(run: Runner) -> None:
    # non-root: capabilities dropped after the filter is in (it must allow setresuid, capset)
    res = run("sh", "-c", "id; grep Seccomp: /proc/self/status", uid=65534, gid=65534,
              seccomp=_default())  # fmt: skip
    assert res.code == 0, res.out
    assert res.out.split("\n")[:2] == ["uid=65534(nobody) gid=65534(nogroup)", "Seccomp:\t2"]
    res = run("grep", "-E", "^(Seccomp|NoNewPrivs):", "/proc/self/status",
              seccomp=_default(), no_new_privileges=True)  # fmt: skip
    assert res.out.split() == ["NoNewPrivs:", "1", "Seccomp:", "2"], res.out


def test_no_filter_without_a_seccomp_object(run: Runner) -> None:
    res = run("grep", "Seccomp:", "/proc/self/status")
    assert res.out.split() == ["Seccomp:", "0"]


def test_busybox_unshare_user_namespace(run: Runner) -> None:
    cmd = ("sh", "-c", "unshare -U -r id -u; echo rc=$?")
    denied = run(*cmd, seccomp=_default())
    assert "Operation not permitted" in denied.out and "rc=1" in denied.out, denied.out
    allowed = run(*cmd)
    assert allowed.out.split() == ["0", "rc=0"], allowed.out


@pytest.mark.parametrize("attack", ["userns", "userns-mount", "perf", "key-add probe"])
def test_escapes_denied_by_default_and_possible_without(
    run: Runner, escape: BindMount, attack: str
) -> None:
    args = ("/escape", *attack.split())
    assert run(*args, mounts=[escape], seccomp=_default()).out.strip() == "denied EPERM"
    assert run(*args, mounts=[escape]).out.strip() == "ok"


def test_clone3_is_enosys_so_libc_falls_back(run: Runner, escape: BindMount) -> None:
    # glibc tries clone3 first; ENOSYS (not EPERM) makes it use clone, so threads still work
    res = run("sh", "-c", "sleep 0 & wait; echo forked", mounts=[escape], seccomp=_default())
    assert res.out.strip() == "forked"


def test_cap_sys_admin_lifts_the_namespace_rules(run: Runner, escape: BindMount) -> None:
    res = run("/escape", "userns", mounts=[escape], seccomp=_default("CAP_SYS_ADMIN"),
              cap_add=["SYS_ADMIN"])  # fmt: skip
    assert res.out.strip() == "ok"


def test_custom_profile_denies_only_what_it_lists(run: Runner) -> None:
    prof = profile.parse_profile(
        '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"],'
        ' "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}'
    )
    res = run("sh", "-c", "mkdir /tmp/x; echo rc=$?; unshare -U -r true; echo u=$?",
              seccomp=profile.to_oci(prof, list(capabilities.DOCKER_DEFAULT)))  # fmt: skip
    assert "Permission denied" in res.out and "rc=1" in res.out and "u=0" in res.out, res.out


def test_exec_gets_the_filter_and_nnp(start: Starter) -> None:
    c = start("sleep", "60", seccomp=_default(), no_new_privileges=True)
    code, out = c.exec("grep", "-E", "^(Seccomp|NoNewPrivs):", "/proc/self/status")
    assert code == 0 and out.split() == ["NoNewPrivs:", "1", "Seccomp:", "2"], out
    # the exec's process object saying false does not lift the container's no_new_privs
    code, out = c.exec("grep", "NoNewPrivs:", "/proc/self/status", noNewPrivileges=False)
    assert out.split() == ["NoNewPrivs:", "1"], out
    # an exec with every capability still has the container's filter
    every = capabilities.all_caps()
    caps = {"bounding": every, "effective": every, "permitted": every}
    code, out = c.exec("sh", "-c", "grep Seccomp: /proc/self/status; unshare -U true; echo $?",
                       capabilities=caps)  # fmt: skip
    assert out.split("\n")[0] == "Seccomp:\t2" and out.strip().endswith("1"), out


def test_exec_in_unconfined_container_has_no_filter(start: Starter) -> None:
    c = start("sleep", "60")
    code, out = c.exec("grep", "-E", "^(Seccomp|NoNewPrivs):", "/proc/self/status")
    assert out.split() == ["NoNewPrivs:", "0", "Seccomp:", "0"], out


_KEYCTL_SEARCH = 10
_KEY_SPEC_SESSION_KEYRING = -3


def _keyctl(*args: object) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    nr = 250 if os.uname().machine == "x86_64" else 219
    ret = libc.syscall(nr, *args)
    return int(ret) if ret >= 0 else -ctypes.get_errno()


@pytest.fixture
def host_session_keyring() -> None:
    """Give this test process a session keyring, as a daemon started from a login session
    has: a container that did not join its own would share it (a process without one
    would get a private keyring on its first add_key, which hides the leak)."""
    assert _keyctl(1, None) > 0  # KEYCTL_JOIN_SESSION_KEYRING, NULL


def _host_finds(name: str) -> int:
    """The host's (this test's) session keyring searched for a user key `name`: its serial,
    or -errno."""
    return _keyctl(_KEYCTL_SEARCH, ctypes.c_int(_KEY_SPEC_SESSION_KEYRING), b"user",
                   name.encode(), 0)  # fmt: skip


def _unlink_from_host(serial: int) -> None:
    _keyctl(9, ctypes.c_int(serial), ctypes.c_int(_KEY_SPEC_SESSION_KEYRING))  # KEYCTL_UNLINK


@pytest.mark.usefixtures("host_session_keyring")
def test_keys_stay_in_their_container(start: Starter, run: Runner, escape: BindMount) -> None:
    """Unconfined, so keyctl itself is allowed: the session keyring is what keeps keys apart.
    Without it, the key lands in the keyring this test process, every container and the
    daemon share (and the host search below finds it)."""
    name = "bt-key-" + uuid.uuid4().hex[:8]
    a = start("sh", "-c", f"/escape key-add {name}; /escape key-find {name}; sleep 60",
              mounts=[escape])  # fmt: skip
    try:
        assert a.read_line().strip() == "ok"
        assert a.read_line().strip() == "ok"  # A's own processes share A's keyring
        other = run("/escape", "key-find", name, mounts=[escape])
        assert other.out.strip() == "denied ENOKEY"
        assert _host_finds(name) == -errno.ENOKEY
        # each exec joins a session keyring of its own, as with runc
        code, out = a.exec("/escape", "key-find", name)
        assert out.strip() == "denied ENOKEY", out
    finally:
        found = _host_finds(name)
        if found > 0:  # a failed run must not leave the key in our session keyring
            _unlink_from_host(found)


def test_the_default_program_is_compiled_once(run: Runner) -> None:
    run("true", seccomp=_default())
    before = compiler.stats["compiled"]
    run("true", seccomp=_default())
    assert compiler.stats["compiled"] == before
