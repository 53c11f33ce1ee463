"""Linux capability names, masks, and Docker's rules for --cap-add/--cap-drop."""

from __future__ import annotations

import functools

# Index in this list is the capability number (linux/capability.h).
CAPS: tuple[str, ...] = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
)
CAP_NUMBER: dict[str, int] = {name: i for i, name in enumerate(CAPS)}

# moby's caps.DefaultCapabilities(), in its order.
DOCKER_DEFAULT: tuple[str, ...] = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
)


@functools.cache
def last_cap() -> int:
    """Highest capability number the running kernel knows."""
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except OSError:
        return len(CAPS) - 1


@functools.cache
def bounding_mask() -> int:
    """This process's bounding set: a container can never hold more than it."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapBnd:"):
                return int(line.split()[1], 16)
    return (1 << (last_cap() + 1)) - 1


def all_caps() -> list[str]:
    """Every capability the kernel knows and this process may hand out."""
    bnd = bounding_mask()
    return [c for i, c in enumerate(CAPS[: last_cap() + 1]) if bnd >> i & 1]


def normalize(name: str) -> str:
    """'net_admin' -> 'CAP_NET_ADMIN'; 'all' -> 'ALL'. Raises ValueError if unknown."""
    n = name.strip().upper()
    if n == "ALL":
        return n
    if not n.startswith("CAP_"):
        n = "CAP_" + n
    if n not in CAP_NUMBER:
        raise ValueError(f"unknown capability: {name!r}")
    return n


def tweak(cap_add: list[str], cap_drop: list[str], privileged: bool = False) -> list[str]:
    """Docker's TweakCapabilities: the defaults with drops then adds; ALL in either."""
    if privileged:
        return all_caps()
    add = [normalize(c) for c in cap_add]
    drop = [normalize(c) for c in cap_drop]
    if "ALL" in add:
        return [c for c in all_caps() if c not in drop]
    if "ALL" in drop:
        base: list[str] = []
    else:
        base = [c for c in DOCKER_DEFAULT if c not in drop]
    for c in add:
        if c not in base:
            base.append(c)
    return base


def mask(names: list[str]) -> int:
    """Bit mask of capability names; names the kernel does not know are ignored."""
    limit = last_cap()
    m = 0
    for n in names:
        i = CAP_NUMBER.get(n)
        if i is not None and i <= limit:
            m |= 1 << i
    return m
