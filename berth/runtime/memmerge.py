"""Opt-in page merging for the shims (berthd --shim-memory-merge).

Every shim is a fork of one zygote running the same code, so most of the ~3 MiB each one
copies on write end up byte-identical across shims. The kernel's KSM can merge them back
into one page: the zygote marks its private writable mappings MADV_MERGEABLE before it
forks shims, the mark is inherited by every shim, and ksmd (which the operator runs:
/sys/kernel/mm/ksm/run = 1) merges what is identical. Measured here with 50 shims: a
sleeping shim's PSS 3.5 -> 0.65 MiB (bench/shim_ksm.py).

Containers are never merged: a container's process is a fork of its shim that execs
into a new address space, which the mark does not reach (madvise marks mappings, not the
process, unlike prctl(PR_SET_MEMORY_MERGE), which survives execve). What a shim holds of
a container is its output on the way to the log and the clients; a process that could
time the shim's page faults could learn whether another shim holds the same page, which
is why this is the operator's choice and off by default."""

from __future__ import annotations

import ctypes

MADV_MERGEABLE = 12
KSM_RUN = "/sys/kernel/mm/ksm/run"


def ksm_running() -> bool:
    """Whether ksmd merges pages (the host's setting, which berth never changes)."""
    try:
        with open(KSM_RUN) as f:
            return f.read().strip() == "1"
    except OSError:
        return False


def _private_writable(maps: str) -> list[tuple[int, int]]:
    """(start, end) of each private writable mapping in /proc/self/maps text, but the
    kernel's special ones ([vsyscall], [vvar], [vdso]), which madvise refuses."""
    out = []
    for line in maps.splitlines():
        fields = line.split()
        if len(fields) < 5 or fields[1][1] != "w" or fields[1][3] != "p":
            continue
        name = fields[5] if len(fields) > 5 else ""
        if name in ("[vsyscall]", "[vvar]", "[vdso]", "[vvar_vclock]"):
            continue
        start, end = (int(x, 16) for x in fields[0].split("-"))
        out.append((start, end))
    return out


def mark_mergeable() -> int:
    """Mark this process's private writable mappings mergeable; the bytes marked. A
    mapping the kernel refuses (or a kernel without KSM) is skipped: merging only saves
    memory, it never changes what a shim does."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    with open("/proc/self/maps") as f:
        ranges = _private_writable(f.read())
    marked = 0
    for start, end in ranges:
        if libc.madvise(start, end - start, MADV_MERGEABLE) == 0:
            marked += end - start
    return marked


def mergeable_bytes(pid: int | str = "self") -> int:
    """The bytes of `pid`'s mappings that are marked mergeable (VmFlags "mg")."""
    total = 0
    size = 0
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            if line.startswith("Size:"):
                size = int(line.split()[1]) * 1024
            elif line.startswith("VmFlags:") and " mg" in line:
                total += size
    return total
