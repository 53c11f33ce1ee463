"""Device access: v1's devices.allow/deny lines, and on v2 (and a hybrid host's unified
hierarchy) a BPF_PROG_TYPE_CGROUP_DEVICE program (devicefilter.py builds it, bpf.py loads
it)."""

from __future__ import annotations

import errno
import os

from berth.runtime import bpf, devicefilter
from berth.runtime.cgroups.layout import Layout
from berth.runtime.spec import DEFAULT_DEVICE_RULES


def with_implicit(devices: list[dict]) -> list[dict]:
    """The container's device rules as enforced: as runc does, the rules every container
    needs (mknod anywhere, ptys, /dev/ptmx) follow the configured ones, so they win."""
    return list(devices) + _IMPLICIT_DEVICES


def device_rules(devices: list[dict]) -> list[tuple[bool, str]]:
    """OCI linux.resources.devices -> (allow?, 'c 1:3 rwm') lines for v1 devices.*
    (with_implicit() rules)."""
    out: list[tuple[bool, str]] = []
    for d in with_implicit(devices):
        typ = d.get("type") or "a"
        major = d.get("major")
        minor = d.get("minor")
        access = d.get("access") or "rwm"
        if typ == "a":
            text = "a"
        else:
            text = (
                f"{typ} {'*' if major is None or major < 0 else major}:"
                f"{'*' if minor is None or minor < 0 else minor} {access}"
            )
        out.append((bool(d.get("allow")), text))
    return out


_IMPLICIT_DEVICES: list[dict] = [
    {"allow": True, "type": "c", "access": "m"},
    {"allow": True, "type": "b", "access": "m"},
    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 7, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 8, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 9, "access": "rwm"},
    {"allow": True, "type": "c", "major": 5, "minor": 0, "access": "rwm"},
    {"allow": True, "type": "c", "major": 5, "minor": 1, "access": "rwm"},
    {"allow": True, "type": "c", "major": 5, "minor": 2, "access": "rwm"},
    {"allow": True, "type": "c", "major": 136, "access": "rwm"},
]


# bpf(2) failing so on a hybrid host means the kernel offers no cgroup device programs
# here (or a sandbox forbids them); the v1 devices controller still guards the container
_NO_BPF = frozenset({errno.ENOSYS, errno.EPERM, errno.EACCES, errno.EOPNOTSUPP, 524})


def _compiled(devices: list[dict]) -> tuple[list[dict], bytes]:
    return devices, devicefilter.program(with_implicit(devices))


# The programs for the rule lists nearly every container has, compiled at import: the
# zygote imports this module, so a shim forked from it finds them ready instead of
# compiling after fork, cold (a few hundred microseconds more per container start).
_PRECOMPILED = (
    _compiled(list(DEFAULT_DEVICE_RULES)),
    _compiled([{"allow": True, "access": "rwm"}]),
)


def device_program(devices: list[dict]) -> bytes:
    """The encoded cgroup device program enforcing with_implicit(devices)."""
    for known, code in _PRECOMPILED:
        if devices == known:
            return code
    return devicefilter.program(with_implicit(devices))


def apply_device_program(lay: Layout, path: str, res: dict) -> None:
    """Attach the program enforcing res["devices"] to the container's cgroup2 dir.

    Called on a fresh cgroup only: a second attach would add a program (ALLOW_MULTI),
    not replace the first, and docker update has no device rules to change."""
    devices = res.get("devices")
    d = lay.v2_dir(path)
    if not devices or d is None:
        return
    try:
        code = device_program(devices)
    except ValueError as e:
        raise OSError(errno.EINVAL, f"device rules: {e}") from None
    try:
        attach_device_program(d, code)
    except OSError as e:
        if lay.v2 or e.errno not in _NO_BPF or lay.controller_dir("devices", path) is None:
            raise


def attach_device_program(cgroup_dir: str, code: bytes) -> None:
    """Load the encoded cgroup device program and attach it to `cgroup_dir` (a cgroup2
    directory). The attachment keeps the program alive until the cgroup goes, so the
    program's fd is closed at once."""
    dfd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        prog = bpf.prog_load_cgroup_device(code)
        try:
            bpf.prog_attach(prog, dfd)
        finally:
            os.close(prog)
    finally:
        os.close(dfd)
