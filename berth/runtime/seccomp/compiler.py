"""OCI linux.seccomp -> a classic BPF program, through libseccomp (ctypes, libseccomp.so.2).

The program is compiled in the shim before it forks the container process, which then only
hands the bytes to seccomp(2): the child makes no library calls once it is a container.
Rules are added as runc adds them (runc's matchCall), so a profile filters the same under
berth, runc and crun: unknown syscall names are skipped, a rule whose action is the default
is dropped, and several conditions on one argument become one rule each.

Programs are cached in-process by a digest of the canonical JSON of their object, so a shim
forked from a warm zygote (executor.prepare) starts the default profile without compiling.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import hashlib
import json
import os
from collections import OrderedDict
from typing import Any

_LIBRARY = "libseccomp.so.2"

# seccomp.h: actions (SCMP_ACT_*) and the data an ERRNO or TRACE action carries
_ACT = {
    "SCMP_ACT_KILL": 0x00000000,  # runc: KILL is KILL_THREAD
    "SCMP_ACT_KILL_THREAD": 0x00000000,
    "SCMP_ACT_KILL_PROCESS": 0x80000000,
    "SCMP_ACT_TRAP": 0x00030000,
    "SCMP_ACT_ERRNO": 0x00050000,
    "SCMP_ACT_TRACE": 0x7FF00000,
    "SCMP_ACT_LOG": 0x7FFC0000,
    "SCMP_ACT_ALLOW": 0x7FFF0000,
}
_WITH_DATA = ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE")
_CMP = {
    "SCMP_CMP_NE": 1,
    "SCMP_CMP_LT": 2,
    "SCMP_CMP_LE": 3,
    "SCMP_CMP_EQ": 4,
    "SCMP_CMP_GE": 5,
    "SCMP_CMP_GT": 6,
    "SCMP_CMP_MASKED_EQ": 7,
}
_FLTATR_CTL_OPTIMIZE = 8
_NR_SCMP_ERROR = -1
# seccomp(2) filter flags the OCI object may name (TSYNC is meaningless for our one thread)
_FILTER_FLAGS = {
    "SECCOMP_FILTER_FLAG_TSYNC": 0,
    "SECCOMP_FILTER_FLAG_LOG": 1 << 1,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 1 << 2,
}
_CACHE_SIZE = 32


class SeccompError(Exception):
    """The seccomp object cannot be turned into a filter (message reads like runc's)."""


class _ArgCmp(ctypes.Structure):
    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


@functools.cache
def _lib() -> ctypes.CDLL:
    lib = ctypes.CDLL(_LIBRARY, use_errno=True)
    ctx, u32, c_int = ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int
    lib.seccomp_init.argtypes = [u32]
    lib.seccomp_init.restype = ctx
    lib.seccomp_release.argtypes = [ctx]
    lib.seccomp_release.restype = None
    lib.seccomp_attr_set.argtypes = [ctx, c_int, u32]
    lib.seccomp_arch_add.argtypes = [ctx, u32]
    lib.seccomp_arch_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_arch_resolve_name.restype = u32
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_syscall_resolve_name.restype = c_int
    lib.seccomp_rule_add_array.argtypes = [ctx, u32, c_int, ctypes.c_uint, ctypes.POINTER(_ArgCmp)]
    lib.seccomp_export_bpf.argtypes = [ctx, c_int]
    return lib


def library_available() -> bool:
    """Whether libseccomp can be loaded here."""
    try:
        _lib()
    except OSError:
        return False
    return True


def _action(name: str, ret: int | None) -> int:
    act = _ACT.get(name)
    if act is None:
        raise SeccompError(f"string {name} is not a valid action for seccomp")
    if name in _WITH_DATA:
        act |= (errno.EPERM if ret is None else int(ret)) & 0xFFFF
    return act


def filter_flags(oci: dict[str, Any]) -> int:
    """The seccomp(2) flags the object's `flags` ask for."""
    out = 0
    for flag in oci.get("flags") or []:
        if flag not in _FILTER_FLAGS:
            raise SeccompError(f"seccomp flag {flag} is not known to berth")
        out |= _FILTER_FLAGS[flag]
    return out


_cache: OrderedDict[bytes, bytes] = OrderedDict()
stats = {"compiled": 0, "hits": 0}


def digest(oci: dict[str, Any]) -> bytes:
    """The cache key of a seccomp object: equal objects, however ordered, share it."""
    canon = json.dumps(oci, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canon.encode()).digest()


# Programs compiled by one shim, for the next: each shim is a fresh fork of the zygote, so
# a profile other than the default (a --cap-add changes it) would otherwise be compiled
# (10-15 ms) at every start. Set by the shim to a directory under the exec root, which is
# root's alone; None keeps the cache in memory only.
disk_cache_dir: str | None = None
_DISK_FORMAT = "v1"  # part of the file name: a new encoding never reads an old file
_SOCK_FILTER = 8  # sizeof(struct sock_filter)


def _cache_path(key: bytes) -> str | None:
    if disk_cache_dir is None:
        return None
    return os.path.join(disk_cache_dir, f"{_DISK_FORMAT}-{key.hex()}.bpf")


def _load_cached(key: bytes) -> bytes | None:
    path = _cache_path(key)
    if path is None:
        return None
    try:
        with open(path, "rb") as f:
            prog = f.read()
    except OSError:
        return None
    # a torn or foreign file is recompiled, never loaded
    if not prog or len(prog) % _SOCK_FILTER:
        return None
    stats["disk_hits"] = stats.get("disk_hits", 0) + 1
    return prog


def _store_cached(key: bytes, prog: bytes) -> None:
    path = _cache_path(key)
    if path is None:
        return
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            view = memoryview(prog)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(tmp, path)  # whole or absent: concurrent shims race harmlessly
    except OSError:
        pass  # only a cache


def compile_bpf(oci_seccomp: dict[str, Any]) -> bytes:
    """The raw struct sock_filter[] for an OCI linux.seccomp object (cached).
    Raises SeccompError, or OSError if libseccomp is missing."""
    key = digest(oci_seccomp)
    prog = _cache.get(key)
    if prog is not None:
        _cache.move_to_end(key)
        stats["hits"] += 1
        return prog
    prog = _load_cached(key)
    if prog is None:
        prog = _compile(oci_seccomp)
        stats["compiled"] += 1
        _store_cached(key, prog)
    _cache[key] = prog
    while len(_cache) > _CACHE_SIZE:
        _cache.popitem(last=False)
    return prog


def _compile(oci: dict[str, Any]) -> bytes:
    lib = _lib()
    default = _action(oci.get("defaultAction") or "", oci.get("defaultErrnoRet"))
    ctx = lib.seccomp_init(default)
    if not ctx:
        raise SeccompError("error creating filter: seccomp_init failed")
    try:
        for arch in oci.get("architectures") or []:
            token = lib.seccomp_arch_resolve_name(_arch_name(arch).encode())
            if token == 0:
                raise SeccompError(f"error validating Seccomp architecture: unknown arch {arch}")
            rc = lib.seccomp_arch_add(ctx, token)
            if rc < 0 and rc != -errno.EEXIST:  # the native arch is in from seccomp_init
                raise SeccompError(
                    f"error adding architecture {arch} to seccomp filter: {os.strerror(-rc)}"
                )
        rules = oci.get("syscalls") or []
        if sum(len(r.get("names") or ()) for r in rules) > 32:
            # libseccomp's binary tree: fewer instructions run per syscall on long rulesets
            # (runc does the same, counting names; 2.5.4 misbehaves with none, hence the bar)
            lib.seccomp_attr_set(ctx, _FLTATR_CTL_OPTIMIZE, 2)
        for rule in rules:
            _add_rule(lib, ctx, rule, default)
        return _export(lib, ctx)
    finally:
        lib.seccomp_release(ctx)


def _arch_name(arch: str) -> str:
    # libseccomp's own names are the lower-case SCMP_ARCH_ suffix (x86_64, aarch64, ...)
    return arch.removeprefix("SCMP_ARCH_").lower()


def _add_rule(lib: ctypes.CDLL, ctx: int, rule: dict[str, Any], default: int) -> None:
    act = _action(rule.get("action") or "", rule.get("errnoRet"))
    if act == default:
        return  # redundant, and libseccomp refuses it
    args = rule.get("args") or []
    conds = []
    for a in args:
        op = _CMP.get(a.get("op", ""))
        if op is None:
            raise SeccompError(f"string {a.get('op')} is not a valid operator for seccomp")
        conds.append(
            (int(a.get("index", 0)), op, int(a.get("value", 0)), int(a.get("valueTwo", 0)))
        )
    indexes = [c[0] for c in conds]
    # one rule ANDs its conditions, and libseccomp allows one per argument: like runc, split
    # a rule that tests an argument twice into one rule per condition
    groups = [[c] for c in conds] if len(set(indexes)) < len(indexes) else [conds]
    for name in rule.get("names") or []:
        nr = lib.seccomp_syscall_resolve_name(name.encode())
        if nr == _NR_SCMP_ERROR:
            continue  # not a syscall this libseccomp knows: skipped, as runc does
        for group in groups:
            arr = (_ArgCmp * max(len(group), 1))(*[_ArgCmp(*c) for c in group])
            rc = lib.seccomp_rule_add_array(ctx, act, nr, len(group), arr)
            if rc < 0:
                raise SeccompError(
                    f"error adding seccomp filter rule for syscall {name}: {os.strerror(-rc)}"
                )


def _export(lib: ctypes.CDLL, ctx: int) -> bytes:
    fd = os.memfd_create("berth-seccomp", os.MFD_CLOEXEC)
    try:
        rc = lib.seccomp_export_bpf(ctx, fd)
        if rc < 0:
            raise SeccompError(f"error exporting seccomp filter: {os.strerror(-rc)}")
        size = os.fstat(fd).st_size
        prog = os.pread(fd, size, 0)
    finally:
        os.close(fd)
    if not prog or len(prog) % 8:
        raise SeccompError(f"libseccomp exported a malformed program ({len(prog)} bytes)")
    return prog
