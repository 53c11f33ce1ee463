"""seccomp.compiler: OCI linux.seccomp -> BPF through the real libseccomp, and the program
really filtering in a forked child (with no_new_privs, so no root is needed)."""

from __future__ import annotations

import ctypes
import errno
import json
import os
import struct
from collections.abc import Callable
from typing import Any

import pytest

from berth.runtime import capabilities
from berth.runtime.seccomp import compiler, profile
from berth.runtime.syscalls import CLONE_NEWUSER, PR_SET_NO_NEW_PRIVS, sys_

pytestmark = pytest.mark.skipif(
    not compiler.library_available(), reason="needs libseccomp.so.2 (Debian: libseccomp2)"
)

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_SYS_KEYCTL = 250 if os.uname().machine == "x86_64" else 219
_SYS_CLONE3 = 435


def _default_oci(**over: Any) -> dict[str, Any]:
    oci = profile.to_oci(profile.default_profile(), list(capabilities.DOCKER_DEFAULT))
    oci.update(over)
    return oci


def _in_child(prog: bytes, probe: Callable[[], object]) -> object:
    """Run `probe` in a forked child under `prog`; its result (or errno name) comes back."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            sys_.prctl(PR_SET_NO_NEW_PRIVS, 1)
            sys_.seccomp_load(prog)
            try:
                res: object = probe()
            except OSError as e:
                res = errno.errorcode.get(e.errno or 0, str(e))
            os.write(w, json.dumps(res).encode())
        finally:
            os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 4096):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return json.loads(data) if data else None


def _errno_of(ret: int) -> str:
    return "ok" if ret >= 0 else errno.errorcode[ctypes.get_errno()]


def test_default_profile_compiles_to_a_program_that_checks_the_arch_first() -> None:
    prog = compiler.compile_bpf(_default_oci())
    assert prog and len(prog) % 8 == 0 and 100 < len(prog) // 8 < 4096
    code, _, _, k = struct.unpack("=HBBI", prog[:8])
    assert (code, k) == (0x20, 4)  # BPF_LD|BPF_W|BPF_ABS of seccomp_data.arch


def test_cache_hits_on_equal_objects_however_ordered() -> None:
    oci = {"defaultAction": "SCMP_ACT_ALLOW",
           "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5}]}  # fmt: skip
    first = compiler.compile_bpf(oci)
    before = dict(compiler.stats)
    reordered = json.loads(json.dumps(oci, sort_keys=True))
    assert compiler.compile_bpf(reordered) is first
    assert compiler.stats["compiled"] == before["compiled"]
    assert compiler.stats["hits"] == before["hits"] + 1
    other = compiler.compile_bpf({**oci, "defaultAction": "SCMP_ACT_LOG"})
    assert other != first and compiler.stats["compiled"] == before["compiled"] + 1


def test_unknown_syscall_names_are_skipped() -> None:
    base = {"defaultAction": "SCMP_ACT_ALLOW"}
    known = compiler._compile(
        {**base, "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}
    )
    with_unknown = compiler._compile(
        {**base, "syscalls": [{"names": ["no_such_call", "mkdir"], "action": "SCMP_ACT_ERRNO"}]}
    )
    assert known == with_unknown


def test_bad_objects_raise() -> None:
    with pytest.raises(compiler.SeccompError, match="not a valid action"):
        compiler.compile_bpf({"defaultAction": "SCMP_ACT_NOTIFY"})
    with pytest.raises(compiler.SeccompError, match="unknown arch SCMP_ARCH_VAX"):
        compiler.compile_bpf(
            {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_VAX"]}
        )
    with pytest.raises(compiler.SeccompError, match="not a valid operator"):
        compiler.compile_bpf({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "op": "X"}]}]})  # fmt: skip
    assert compiler.filter_flags({"flags": ["SECCOMP_FILTER_FLAG_LOG"]}) == 2


def test_a_tiny_profile_filters_in_a_child(tmp_path: Any) -> None:
    prog = compiler.compile_bpf({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EACCES},
            {"names": ["getpgid"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]},
        ],
    })  # fmt: skip
    d = str(tmp_path / "d")
    os.mkdir(d)

    def probe() -> object:
        out = []
        for call in (lambda: os.mkdir(d + "/x"), lambda: os.rmdir(d), lambda: os.getpgid(1),
                     lambda: os.getpgid(0), os.getpid, lambda: os.listdir(d)):  # fmt: skip
            try:
                call()
                out.append("ok")
            except OSError as e:
                out.append(errno.errorcode[e.errno or 0])
        return out

    # ERRNO without errnoRet is EPERM (as runc); args narrow a rule to its arguments
    assert _in_child(prog, probe) == ["EPERM", "EACCES", "EPERM", "ok", "ok", "ok"]
    assert os.path.isdir(d) and not os.path.exists(d + "/x")


def test_the_default_profile_denies_escapes_and_allows_the_rest(tmp_path: Any) -> None:
    prog = compiler.compile_bpf(_default_oci())

    def probe() -> object:
        os.mkdir(str(tmp_path / "ok"))
        os.rmdir(str(tmp_path / "ok"))
        return [
            _errno_of(_libc.unshare(CLONE_NEWUSER)),
            # keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0)
            _errno_of(_libc.syscall(_SYS_KEYCTL, 0, ctypes.c_int(-3), 0)),
            _errno_of(_libc.syscall(_SYS_CLONE3, None, 0)),  # ENOSYS: glibc falls back to clone
            _errno_of(os.getpid()),
        ]

    assert _in_child(prog, probe) == ["EPERM", "EPERM", "ENOSYS", "ok"]
    # and the same calls without a filter: the denials are the filter's
    assert _libc.syscall(_SYS_KEYCTL, 0, ctypes.c_int(-3), 0) >= 0


def test_default_errno_ret_is_what_unlisted_calls_get() -> None:
    prog = compiler.compile_bpf(_default_oci(defaultErrnoRet=errno.ENOSYS))
    assert _in_child(prog, lambda: _errno_of(_libc.unshare(CLONE_NEWUSER))) == "ENOSYS"


def test_prepare_warms_what_the_engine_asks_for() -> None:
    """The zygote's warm-up must hit for the object a default container's config.json holds:
    the default profile resolved for Docker's default capabilities (as --cap-add/--cap-drop
    leave them), after a JSON round trip."""
    from berth.runtime import seccomp

    compiler._cache.clear()
    seccomp.prepare()
    before = dict(compiler.stats)
    engine = profile.to_oci(profile.default_profile(), capabilities.tweak([], []))
    compiler.compile_bpf(json.loads(json.dumps(engine)))
    assert compiler.stats["compiled"] == before["compiled"]
    assert compiler.stats["hits"] == before["hits"] + 1


def test_disk_cache_serves_the_next_process(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A shim forked after another compiled a profile reads the program from the exec
    root's cache instead of compiling it again; a torn file is recompiled, not loaded."""
    from berth.runtime.seccomp import compiler

    oci = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}],
    }
    monkeypatch.setattr(compiler, "disk_cache_dir", str(tmp_path / "cache"))
    monkeypatch.setattr(compiler, "_cache", type(compiler._cache)())
    first = compiler.compile_bpf(oci)
    files = list((tmp_path / "cache").iterdir())
    assert len(files) == 1 and files[0].read_bytes() == first
    assert oct(files[0].stat().st_mode & 0o777) == "0o600"
    # a fresh process: empty memory cache, the compiler must not run
    monkeypatch.setattr(compiler, "_cache", type(compiler._cache)())
    monkeypatch.setattr(compiler, "_compile", lambda _oci: (_ for _ in ()).throw(AssertionError))
    assert compiler.compile_bpf(oci) == first
    # a torn file (not a whole number of sock_filter entries) is not trusted
    files[0].write_bytes(first[:-3])
    monkeypatch.setattr(compiler, "_cache", type(compiler._cache)())
    monkeypatch.setattr(compiler, "_compile", lambda _oci: first)
    assert compiler.compile_bpf(oci) == first
