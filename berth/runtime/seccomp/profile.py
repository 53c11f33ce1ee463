"""Seccomp profiles in dockerd's JSON format, and their resolution into an OCI linux.seccomp.

A dockerd profile is an OCI seccomp object plus conditions: `archMap` (the architectures
to add for the host's native one) and, per rule, `includes`/`excludes` on the container's
capabilities, the host's architecture and its kernel version. `to_oci` resolves them the way
moby's profiles/seccomp does, so the runtime (and crun) only ever sees plain rules.

`parse_profile` decodes a profile like Go's encoding/json decodes it into moby's types (keys
match case-insensitively, unknown keys are ignored, a wrong type fails with Go's wording) and
then refuses what no runtime could load, before a container is ever created with it.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import platform
import re
from importlib import resources
from typing import Any

ACTIONS = frozenset(
    {
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_TRAP",
        "SCMP_ACT_ERRNO",
        "SCMP_ACT_TRACE",
        "SCMP_ACT_ALLOW",
        "SCMP_ACT_LOG",
        "SCMP_ACT_NOTIFY",
    }
)
OPERATORS = frozenset(
    {
        "SCMP_CMP_NE",
        "SCMP_CMP_LT",
        "SCMP_CMP_LE",
        "SCMP_CMP_EQ",
        "SCMP_CMP_GE",
        "SCMP_CMP_GT",
        "SCMP_CMP_MASKED_EQ",
    }
)
ARCHES = frozenset(
    "SCMP_ARCH_" + a
    for a in (
        "X86 X86_64 X32 ARM AARCH64 MIPS MIPS64 MIPS64N32 MIPSEL MIPSEL64 MIPSEL64N32 "
        "PPC PPC64 PPC64LE RISCV64 S390 S390X LOONGARCH64"
    ).split()
)
# TSYNC is accepted and ignored, as by runc: the child that loads the filter has one thread
FLAGS = frozenset(
    {"SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"}
)

# uname -m -> the native names moby's rules use in `arches` (its GOARCH -> libseccomp table)
_MACHINE_TO_NATIVE = {
    "x86_64": "amd64",
    "i386": "x86",
    "i486": "x86",
    "i586": "x86",
    "i686": "x86",
    "aarch64": "arm64",
    "armv6l": "arm",
    "armv7l": "arm",
    "armv8l": "arm",
    "mips64el": "mipsel64",
    "mipsel": "mipsle",
    "loongarch64": "loong64",
}
_NATIVE_TO_SCMP = {
    "x86": "SCMP_ARCH_X86",
    "amd64": "SCMP_ARCH_X86_64",
    "arm": "SCMP_ARCH_ARM",
    "arm64": "SCMP_ARCH_AARCH64",
    "loong64": "SCMP_ARCH_LOONGARCH64",
    "mips64": "SCMP_ARCH_MIPS64",
    "mips64n32": "SCMP_ARCH_MIPS64N32",
    "mipsel64": "SCMP_ARCH_MIPSEL64",
    "mips3l64n32": "SCMP_ARCH_MIPSEL64N32",
    "mipsle": "SCMP_ARCH_MIPSEL",
    "ppc": "SCMP_ARCH_PPC",
    "ppc64": "SCMP_ARCH_PPC64",
    "ppc64le": "SCMP_ARCH_PPC64LE",
    "riscv64": "SCMP_ARCH_RISCV64",
    "s390": "SCMP_ARCH_S390",
    "s390x": "SCMP_ARCH_S390X",
}

_DECODE = "Decoding seccomp profile failed: "
_INVALID = "invalid seccomp profile: "


class ProfileError(ValueError):
    """A profile that dockerd would refuse, or that no runtime could load."""


# ---- decoding, as encoding/json into moby's seccomp.Seccomp -----------------------------------


class _Obj(list):  # type: ignore[type-arg]
    """A JSON object as its (key, value) pairs, in order: Go matches keys case-insensitively
    and the last of two spellings wins, which a plain dict would not let us see."""


class _Num(str):
    """A JSON number that is not an integer, kept as written (Go quotes the literal)."""


def _reject_constant(name: str) -> Any:
    raise ProfileError(f"{_DECODE}invalid character '{name[0]}' looking for beginning of value")


# Schemas: ("str", gotype) | ("uint", gotype) | ("kernel",) | ("list", gotype, elem)
# | ("struct", gotype, name, {key: schema})
_ARCH: Any = ("str", "specs.Arch")
_FILTER: Any = (
    "struct",
    "seccomp.Filter",
    "Filter",
    {
        "caps": ("list", "[]string", ("str", "string")),
        "arches": ("list", "[]string", ("str", "string")),
        "minKernel": ("kernel",),
    },
)
_ARG: Any = (
    "struct",
    "specs.LinuxSeccompArg",
    "LinuxSeccompArg",
    {
        "index": ("uint", "uint"),
        "value": ("uint", "uint64"),
        "valueTwo": ("uint", "uint64"),
        "op": ("str", "specs.LinuxSeccompOperator"),
    },
)
_SYSCALL: Any = (
    "struct",
    "seccomp.Syscall",
    "Syscall",
    {
        "names": ("list", "[]string", ("str", "string")),
        "action": ("str", "specs.LinuxSeccompAction"),
        "errnoRet": ("uint", "uint"),
        "args": ("list", "[]specs.LinuxSeccompArg", _ARG),
        "name": ("str", "string"),
        "comment": ("str", "string"),
        "includes": _FILTER,
        "excludes": _FILTER,
    },
)
_SECCOMP: Any = (
    "struct",
    "seccomp.Seccomp",
    "Seccomp",
    {
        "defaultAction": ("str", "specs.LinuxSeccompAction"),
        "defaultErrnoRet": ("uint", "uint"),
        "architectures": ("list", "[]specs.Arch", _ARCH),
        "flags": ("list", "[]specs.LinuxSeccompFlag", ("str", "specs.LinuxSeccompFlag")),
        "listenerPath": ("str", "string"),
        "listenerMetadata": ("str", "string"),
        "archMap": (
            "list",
            "[]seccomp.Architecture",
            (
                "struct",
                "seccomp.Architecture",
                "Architecture",
                {
                    "architecture": _ARCH,
                    "subArchitectures": ("list", "[]specs.Arch", _ARCH),
                },
            ),
        ),
        "syscalls": ("list", "[]*seccomp.Syscall", _SYSCALL),
    },
)


def _kind(v: Any) -> str:
    if isinstance(v, _Obj):
        return "object"
    if isinstance(v, list):
        return "array"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, _Num | int):
        return "number"
    return "string"


def _type_error(v: Any, gotype: str, where: tuple[str, str]) -> ProfileError:
    kind = _kind(v)
    if kind == "number" and gotype.startswith("uint"):
        kind = f"number {v}"
    struct, path = where
    if not path:
        return ProfileError(
            f"{_DECODE}json: cannot unmarshal {kind} into Go value of type {gotype}"
        )
    return ProfileError(
        f"{_DECODE}json: cannot unmarshal {kind} into Go struct field {struct}.{path} "
        f"of type {gotype}"
    )


def _decode(v: Any, schema: Any, where: tuple[str, str]) -> Any:
    """The value `v` decoded into `schema`; None stands for JSON null (Go's zero value)."""
    if v is None:
        return None
    tag = schema[0]
    if tag == "str":
        if not isinstance(v, str) or isinstance(v, _Num):
            raise _type_error(v, schema[1], where)
        return v
    if tag == "uint":
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 1 << 64:
            raise _type_error(v, schema[1], where)
        return v
    if tag == "kernel":
        return _kernel_field(v)
    if tag == "list":
        if not isinstance(v, list) or isinstance(v, _Obj):
            raise _type_error(v, schema[1], where)
        items = [_decode(item, schema[2], where) for item in v]
        return [_zero(schema[2]) if item is None else item for item in items]
    _, gotype, name, fields = schema
    if not isinstance(v, _Obj):
        raise _type_error(v, gotype, where)
    lower = {k.lower(): k for k in fields}
    out: dict[str, Any] = {}
    for key, value in v:
        canon = key if key in fields else lower.get(key.lower())
        if canon is None:
            continue  # Go ignores fields it does not know
        path = f"{where[1]}.{canon}" if where[1] else canon
        decoded = _decode(value, fields[canon], (name, path))
        if decoded is None:
            out.pop(canon, None)
        else:
            out[canon] = decoded
    return out


def _zero(schema: Any) -> Any:
    """Go's zero value for a JSON null inside an array."""
    return {"str": "", "uint": 0, "list": [], "struct": {}}.get(schema[0])


def _kernel_field(v: Any) -> str | None:
    # moby's KernelVersion.UnmarshalJSON, with its messages
    shown = json.dumps(v) if not isinstance(v, _Obj | _Num) else str(v)
    expect = f'invalid kernel version: {shown}, expected "<kernel>.<major>"'
    if not isinstance(v, str) or isinstance(v, _Num):
        raise ProfileError(f"{_DECODE}{expect}: json: cannot unmarshal {_kind(v)} into string")
    if v == "":
        return None
    parts = v.split(".", 2)
    if len(parts) != 2:
        raise ProfileError(f"{_DECODE}{expect}")
    nums = [int(p) for p in parts if re.fullmatch(r"[0-9]+", p)]
    if len(nums) != 2 or any(n > 255 for n in nums):
        raise ProfileError(f"{_DECODE}{expect}: invalid number")
    if nums == [0, 0]:
        raise ProfileError(f"{_DECODE}{expect}: version cannot be 0.0")
    return f"{nums[0]}.{nums[1]}"


def _validate(prof: dict[str, Any]) -> None:
    """What the runtime would refuse at start, refused now."""
    if prof.get("architectures") and prof.get("archMap"):
        raise ProfileError(
            "both 'architectures' and 'archMap' are specified in the seccomp profile, "
            "use either 'architectures' or 'archMap'"
        )
    if prof.get("listenerPath") or prof.get("listenerMetadata"):
        raise ProfileError(
            f"{_INVALID}listenerPath is not supported: berth has no seccomp agent to notify"
        )
    _check_action(prof.get("defaultAction") or "", "defaultAction")
    if not prof.get("defaultAction") and prof.get("syscalls"):
        raise ProfileError(f"{_INVALID}defaultAction must be set when syscalls are listed")
    for flag in prof.get("flags") or []:
        if flag not in FLAGS:
            raise ProfileError(f"{_INVALID}seccomp flag {flag} is not known to berth")
    arches = list(prof.get("architectures") or [])
    for entry in prof.get("archMap") or []:
        arches.append(entry.get("architecture") or "")
        arches.extend(entry.get("subArchitectures") or [])
    for arch in arches:
        if arch not in ARCHES:
            raise ProfileError(f"{_INVALID}string {arch} is not a valid arch for seccomp")
    for call in prof.get("syscalls") or []:
        if call.get("name") and call.get("names"):
            raise ProfileError(
                "both 'name' and 'names' are specified in the seccomp profile, "
                "use either 'name' or 'names'"
            )
        names = call.get("names") or ([call["name"]] if call.get("name") else [])
        label = ",".join(names) or "(no names)"
        if "" in names:
            raise ProfileError(f"{_INVALID}empty string is not a valid syscall")
        _check_action(call.get("action") or "", f"the rule for {label}")
        for arg in call.get("args") or []:
            if arg.get("op") not in OPERATORS:
                raise ProfileError(
                    f"{_INVALID}string {arg.get('op', '')} is not a valid operator for seccomp "
                    f"(in the rule for {label})"
                )
            if arg.get("index", 0) > 5:
                raise ProfileError(
                    f"{_INVALID}argument index {arg['index']} is out of range 0-5 "
                    f"(in the rule for {label})"
                )


def _check_action(action: str, where: str) -> None:
    if action == "SCMP_ACT_NOTIFY":
        raise ProfileError(
            f"{_INVALID}SCMP_ACT_NOTIFY ({where}) is not supported: "
            "berth has no seccomp agent to notify"
        )
    if action and action not in ACTIONS:
        raise ProfileError(f"{_INVALID}string {action} is not a valid action for seccomp")
    if not action and where != "defaultAction":
        raise ProfileError(f"{_INVALID}{where} has no action")


def parse_profile(text: str) -> dict[str, Any]:
    """Decode and check a profile in dockerd's JSON format; the result has the canonical
    keys only (JSON nulls and unknown keys dropped). Raises ProfileError."""
    try:
        raw = json.loads(
            text, object_pairs_hook=_Obj, parse_float=_Num, parse_constant=_reject_constant
        )
    except json.JSONDecodeError as exc:
        raise ProfileError(f"{_DECODE}{exc}") from None
    except RecursionError:
        raise ProfileError(f"{_DECODE}exceeded max depth") from None
    prof = _decode(raw, _SECCOMP, ("", ""))
    if prof is None:  # the text `null`: Go leaves the profile empty
        prof = {}
    _validate(prof)
    return dict(prof)


@functools.cache
def _default() -> dict[str, Any]:
    text = resources.files("berth.runtime.seccomp").joinpath("default.json").read_text()
    return parse_profile(text)


def default_profile() -> dict[str, Any]:
    """berth's default profile (dockerd's), parsed once; each call gets its own copy."""
    return copy.deepcopy(_default())


def available() -> bool:
    """Whether containers can have seccomp filters here: the kernel filters (as dockerd's
    sysinfo checks it) and libseccomp can be loaded to compile them."""
    if not os.path.exists("/proc/sys/kernel/seccomp/actions_avail"):
        return False
    from berth.runtime.seccomp import compiler

    return compiler.library_available()


# ---- resolution into OCI ------------------------------------------------------------------------


def native_arch(machine: str | None = None) -> str:
    """moby's name for the architecture `machine` (uname -m, or already moby's name, e.g.
    "x86_64" or "amd64"); the host's when None."""
    m = machine or platform.machine()
    return _MACHINE_TO_NATIVE.get(m, m)


@functools.cache
def _host_kernel() -> tuple[int, int]:
    return _kernel_version(os.uname().release)


def _kernel_version(release: str) -> tuple[int, int]:
    # like moby's parseRelease: "3.12.25-gentoo" and "3.12-1-amd64" are both 3.12
    m = re.match(r"\s*(\d+)\.(\d+)", release)
    if m is None:
        raise ProfileError(f"failed to parse kernel version {release!r}")
    return int(m.group(1)), int(m.group(2))


def _cap_name(c: str) -> str:
    c = c.strip().upper()
    return c if c.startswith("CAP_") else "CAP_" + c


def to_oci(
    profile: dict[str, Any],
    capabilities: list[str],
    arch: str | None = None,
    *,
    kernel: str | None = None,
) -> dict[str, Any]:
    """The OCI linux.seccomp object for a container with the bounding set `capabilities`
    ("CAP_SYS_ADMIN" or "SYS_ADMIN") on architecture `arch` (uname -m or moby's name; the
    host's by default) and kernel release `kernel` (the host's by default), resolving the
    profile's archMap and includes/excludes exactly as moby's setupSeccomp does.

    A profile with neither a defaultAction nor syscalls means no filter (as in dockerd):
    the result is then {}, which spec.to_oci leaves out."""
    if not profile.get("defaultAction") and not profile.get("syscalls"):
        return {}
    native = native_arch(arch)
    kv = _kernel_version(kernel) if kernel is not None else _host_kernel()
    caps = {_cap_name(c) for c in capabilities}
    out: dict[str, Any] = {"defaultAction": profile["defaultAction"]}
    if profile.get("defaultErrnoRet") is not None:
        out["defaultErrnoRet"] = profile["defaultErrnoRet"]
    arches = list(profile.get("architectures") or [])
    scmp = _NATIVE_TO_SCMP.get(native)
    for entry in profile.get("archMap") or []:
        if scmp is not None and entry.get("architecture") == scmp:
            arches.append(scmp)
            arches.extend(entry.get("subArchitectures") or [])
            break
    if arches:
        out["architectures"] = arches
    if profile.get("flags"):
        out["flags"] = list(profile["flags"])
    rules: list[dict[str, Any]] = []
    for call in profile.get("syscalls") or []:
        if _applies(call, caps, native, kv):
            rule = _rule(call)
            if rule["names"]:  # a rule without names matches nothing; OCI requires names
                rules.append(rule)
    out["syscalls"] = rules
    return out


def _applies(call: dict[str, Any], caps: set[str], native: str, kv: tuple[int, int]) -> bool:
    exc = call.get("excludes") or {}
    if native in (exc.get("arches") or []):
        return False
    if any(_cap_name(c) in caps for c in exc.get("caps") or []):
        return False
    if exc.get("minKernel") and kv >= _kernel_version(exc["minKernel"]):
        return False
    inc = call.get("includes") or {}
    if inc.get("arches") and native not in inc["arches"]:
        return False
    if any(_cap_name(c) not in caps for c in inc.get("caps") or []):
        return False
    if inc.get("minKernel") and kv < _kernel_version(inc["minKernel"]):
        return False
    return True


def _rule(call: dict[str, Any]) -> dict[str, Any]:
    names = [call["name"]] if call.get("name") else list(call.get("names") or [])
    rule: dict[str, Any] = {"names": names, "action": call["action"]}
    if call.get("errnoRet") is not None:
        rule["errnoRet"] = call["errnoRet"]
    args = []
    for a in call.get("args") or []:
        arg = {"index": a.get("index", 0), "value": a.get("value", 0), "op": a["op"]}
        if a.get("valueTwo"):
            arg["valueTwo"] = a["valueTwo"]
        args.append(arg)
    if args:
        rule["args"] = args
    return rule
