"""cgroup v1: one hierarchy per controller, each with its own files."""

from __future__ import annotations

import os

from berth.runtime.cgroups.devices import device_rules
from berth.runtime.cgroups.files import USER_HZ, read, read_int, read_kv, write
from berth.runtime.cgroups.layout import Layout
from berth.runtime.cgroups.paths import join


def mkdir_cpuset(mnt: str, path: str) -> None:
    """mkdir -p for a v1 cpuset dir below the hierarchy `mnt`: each new level inherits
    cpus/mems from its parent, or the kernel refuses to attach tasks to it."""
    if path == mnt:
        return
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        mkdir_cpuset(mnt, parent)
    try:
        os.mkdir(path, 0o755)
    except FileExistsError:
        return
    for f in ("cpuset.cpus", "cpuset.mems"):
        src = os.path.join(parent, f)
        if os.path.exists(src):
            val = read(src).strip()
            if val:
                write(os.path.join(path, f), val)


def make_dirs(lay: Layout, path: str) -> None:
    """The container's dir in every v1 hierarchy (and a hybrid host's unified one)."""
    for c, mnt in lay.v1:
        d = join(mnt, path)
        if c == "cpuset":
            mkdir_cpuset(mnt, d)
        else:
            os.makedirs(d, exist_ok=True)
    if lay.unified:
        os.makedirs(join(lay.unified, path), exist_ok=True)


def apply(lay: Layout, path: str, res: dict) -> None:
    mem = res.get("memory") or {}
    d = lay.controller_dir("memory", path)
    if d and mem:
        if mem.get("limit") is not None:
            write(os.path.join(d, "memory.limit_in_bytes"), str(mem["limit"]))
        swap = mem.get("swap")
        memsw = os.path.join(d, "memory.memsw.limit_in_bytes")
        if swap is not None and swap != 0 and os.path.exists(memsw):
            write(memsw, str(swap))
        if mem.get("reservation") is not None:
            write(os.path.join(d, "memory.soft_limit_in_bytes"), str(mem["reservation"]))
        if mem.get("swappiness") is not None:
            write(os.path.join(d, "memory.swappiness"), str(mem["swappiness"]))
        if mem.get("oom_kill_disable"):
            write(os.path.join(d, "memory.oom_control"), "1")
    cpu = res.get("cpu") or {}
    d = lay.controller_dir("cpu", path)
    if d and cpu:
        if cpu.get("shares"):
            write(os.path.join(d, "cpu.shares"), str(cpu["shares"]))
        # the period first: the kernel checks quota against the current period
        if cpu.get("period"):
            write(os.path.join(d, "cpu.cfs_period_us"), str(cpu["period"]))
        if cpu.get("quota"):
            write(os.path.join(d, "cpu.cfs_quota_us"), str(cpu["quota"]))
    d = lay.controller_dir("cpuset", path)
    if d:
        if cpu.get("cpus"):
            write(os.path.join(d, "cpuset.cpus"), cpu["cpus"])
        if cpu.get("mems"):
            write(os.path.join(d, "cpuset.mems"), cpu["mems"])
    pids = res.get("pids") or {}
    d = lay.controller_dir("pids", path)
    if d and pids.get("limit") is not None:
        lim = pids["limit"]
        write(os.path.join(d, "pids.max"), "max" if lim <= 0 else str(lim))
    d = lay.controller_dir("devices", path)
    if d and res.get("devices"):
        for rule in device_rules(res["devices"]):
            allow, text = rule
            write(os.path.join(d, "devices.allow" if allow else "devices.deny"), text)


def before_update(lay: Layout, path: str, res: dict) -> dict:
    """Write what docker update must write in an order of its own, and return what is left
    for apply(). The kernel refuses memory.limit_in_bytes above memory.memsw.limit_in_bytes,
    so when the limit grows the swap limit is written first; a quota of 0 clears it."""
    mem = dict(res.get("memory") or {})
    d = lay.controller_dir("memory", path)
    if d and mem.get("limit") is not None:
        memsw = os.path.join(d, "memory.memsw.limit_in_bytes")
        swap = mem.get("swap")
        if swap and os.path.exists(memsw):
            cur = read_int(os.path.join(d, "memory.limit_in_bytes"))
            if cur is not None and (swap < 0 or mem["limit"] > cur):
                write(memsw, str(swap))
                write(os.path.join(d, "memory.limit_in_bytes"), str(mem["limit"]))
                mem.pop("swap")
                mem.pop("limit")
        res["memory"] = mem
    cpu = res.get("cpu") or {}
    cd = lay.controller_dir("cpu", path)
    if cd and cpu.get("quota") is not None and cpu["quota"] <= 0:
        # the kernel's "no limit" is -1
        write(os.path.join(cd, "cpu.cfs_quota_us"), "-1")
    return res


def stats(lay: Layout, path: str) -> dict:
    out: dict = {"cpu": {}, "memory": {}, "pids": {}, "blkio": {}}
    d = lay.controller_dir("cpuacct", path)
    if d:
        cpu = out["cpu"]
        cpu["total"] = read_int(os.path.join(d, "cpuacct.usage"))
        try:
            cpu["percpu"] = [int(x) for x in read(os.path.join(d, "cpuacct.usage_percpu")).split()]
        except (OSError, ValueError):
            cpu["percpu"] = None
        ticks = read_kv(os.path.join(d, "cpuacct.stat"))
        tick_ns = 1_000_000_000 // USER_HZ
        cpu["user"] = ticks.get("user", 0) * tick_ns
        cpu["system"] = ticks.get("system", 0) * tick_ns
    d = lay.controller_dir("cpu", path)
    if d:
        st = read_kv(os.path.join(d, "cpu.stat"))
        out["cpu"]["periods"] = st.get("nr_periods", 0)
        out["cpu"]["throttled_periods"] = st.get("nr_throttled", 0)
        out["cpu"]["throttled_time"] = st.get("throttled_time", 0)
    d = lay.controller_dir("memory", path)
    if d:
        out["memory"] = {
            "usage": read_int(os.path.join(d, "memory.usage_in_bytes")),
            "max_usage": read_int(os.path.join(d, "memory.max_usage_in_bytes")),
            "limit": read_int(os.path.join(d, "memory.limit_in_bytes")),
            "failcnt": read_int(os.path.join(d, "memory.failcnt")),
            "stat": read_kv(os.path.join(d, "memory.stat")),
        }
    d = lay.controller_dir("pids", path)
    if d:
        out["pids"] = {
            "current": read_int(os.path.join(d, "pids.current")),
            "limit": read_int(os.path.join(d, "pids.max")),
        }
    d = lay.controller_dir("blkio", path)
    if d:
        for name in ("io_service_bytes_recursive", "io_serviced_recursive"):
            # runc's order: the CFQ scheduler's counters, then BFQ's, then the throttle
            # layer's (which every blk-mq kernel keeps)
            for prefix in ("blkio.", "blkio.bfq.", "blkio.throttle."):
                entries = _blkio(os.path.join(d, prefix + name))
                if entries:
                    break
            out["blkio"][name] = entries
    return out


def _blkio(path: str) -> list[dict]:
    entries: list[dict] = []
    try:
        text = read(path)
    except (FileNotFoundError, OSError):
        return entries
    for line in text.splitlines():
        f = line.split()
        if len(f) != 3 or ":" not in f[0]:
            continue  # the "Total N" line
        major, _, minor = f[0].partition(":")
        entries.append({"major": int(major), "minor": int(minor), "op": f[1], "value": int(f[2])})
    return entries
