"""What a container's cgroup counted: CPU, memory, pids, block I/O, OOM kills."""

from __future__ import annotations

import os

from berth.runtime.cgroups import v1, v2
from berth.runtime.cgroups.files import USER_HZ, read
from berth.runtime.cgroups.layout import layout
from berth.runtime.cgroups.paths import ROOT


def read_stats(path: str, *, root: str = ROOT) -> dict:
    """The raw counters `docker stats` shows, from v1 or v2 files:
    {"cpu": {total, percpu, user, system, periods, throttled_periods, throttled_time}
     (nanoseconds), "memory": {usage, max_usage, limit, failcnt, stat},
     "pids": {current, limit}, "blkio": {name: [{major, minor, op, value}]}}.
    Missing files give missing keys (None), never an error."""
    lay = layout(root)
    return v2.stats(lay, path) if lay.v2 else v1.stats(lay, path)


def system_cpu_usage() -> int:
    """The host's CPU time in nanoseconds (/proc/stat's first line, as dockerd sums it)."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu "):
                ticks = sum(int(x) for x in line.split()[1:8])
                return ticks * (1_000_000_000 // USER_HZ)
    return 0


def oom_kill_count(path: str, *, root: str = ROOT) -> int:
    """How many times the kernel OOM-killed a task of this cgroup (0 if unknown)."""
    lay = layout(root)
    d = lay.controller_dir("memory", path)
    if d is None:
        return 0
    name = "memory.events" if lay.v2 else "memory.oom_control"
    try:
        text = read(os.path.join(d, name))
    except FileNotFoundError:
        return 0
    for line in text.splitlines():
        k, _, v = line.partition(" ")
        if k == "oom_kill":
            return int(v)
    return 0


def memory_usage(path: str, *, root: str = ROOT) -> int:
    """Current memory charge of the container in bytes (0 if unknown)."""
    lay = layout(root)
    d = lay.controller_dir("memory", path)
    if d is None:
        return 0
    name = "memory.current" if lay.v2 else "memory.usage_in_bytes"
    try:
        return int(read(os.path.join(d, name)))
    except (FileNotFoundError, ValueError):
        return 0
