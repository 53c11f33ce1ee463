"""cgroup v2: the unified hierarchy, controllers enabled level by level."""

from __future__ import annotations

import os

from berth.runtime.cgroups.files import read, read_int, read_kv, write
from berth.runtime.cgroups.layout import V2_CONTROLLERS, Layout
from berth.runtime.cgroups.paths import clean_path, join


def enable_controllers(lay: Layout, path: str) -> None:
    """Make the container's dir and its ancestors, turning on the controllers we use in
    the cgroup.subtree_control of each level above the container's."""
    rel = clean_path(path)
    parts = rel.split("/") if rel else []
    for depth in range(len(parts)):
        cur = join(lay.root, "/".join(parts[:depth]))
        sc = os.path.join(cur, "cgroup.subtree_control")
        avail = read(os.path.join(cur, "cgroup.controllers")).split()
        enabled = read(sc).split()
        want = [c for c in V2_CONTROLLERS if c in avail and c not in enabled]
        if want:
            write(sc, " ".join("+" + c for c in want))
        os.makedirs(join(lay.root, "/".join(parts[: depth + 1])), exist_ok=True)


def cpu_weight(shares: int) -> int:
    # the formula runc and crun use to map v1 shares (2..262144) to weight (1..10000)
    return 1 + ((max(2, min(shares, 262144)) - 2) * 9999) // 262142


def apply(lay: Layout, path: str, res: dict) -> None:
    d = lay.dirs(path)[0]
    mem = res.get("memory") or {}
    if mem.get("limit") is not None:
        write(os.path.join(d, "memory.max"), "max" if mem["limit"] < 0 else str(mem["limit"]))
        swap = mem.get("swap")
        swap_file = os.path.join(d, "memory.swap.max")
        if swap is not None and swap != 0 and os.path.exists(swap_file):
            # OCI swap is memory+swap; v2 limits swap alone
            val = "max" if swap < 0 else str(max(0, swap - mem["limit"]))
            write(swap_file, val)
    if mem.get("reservation") is not None:
        write(os.path.join(d, "memory.low"), str(mem["reservation"]))
    cpu = res.get("cpu") or {}
    if cpu.get("shares"):
        write(os.path.join(d, "cpu.weight"), str(cpu_weight(cpu["shares"])))
    if cpu.get("quota") or cpu.get("period"):
        quota = cpu.get("quota") or 0
        period = cpu.get("period") or 100000
        write(os.path.join(d, "cpu.max"), f"{quota if quota > 0 else 'max'} {period}")
    if cpu.get("cpus"):
        write(os.path.join(d, "cpuset.cpus"), cpu["cpus"])
    if cpu.get("mems"):
        write(os.path.join(d, "cpuset.mems"), cpu["mems"])
    pids = res.get("pids") or {}
    if pids.get("limit") is not None:
        lim = pids["limit"]
        write(os.path.join(d, "pids.max"), "max" if lim <= 0 else str(lim))


def stats(lay: Layout, path: str) -> dict:
    d = lay.dirs(path)[0]
    st = read_kv(os.path.join(d, "cpu.stat"))
    out: dict = {
        "cpu": {
            "total": st["usage_usec"] * 1000 if "usage_usec" in st else None,
            "percpu": None,
            "user": st.get("user_usec", 0) * 1000,
            "system": st.get("system_usec", 0) * 1000,
            "periods": st.get("nr_periods", 0),
            "throttled_periods": st.get("nr_throttled", 0),
            "throttled_time": st.get("throttled_usec", 0) * 1000,
        },
        "memory": {
            "usage": read_int(os.path.join(d, "memory.current")),
            "max_usage": read_int(os.path.join(d, "memory.peak")),
            "limit": read_int(os.path.join(d, "memory.max")),
            "failcnt": None,
            "stat": read_kv(os.path.join(d, "memory.stat")),
        },
        "pids": {
            "current": read_int(os.path.join(d, "pids.current")),
            "limit": read_int(os.path.join(d, "pids.max")),
        },
        "blkio": {"io_service_bytes_recursive": [], "io_serviced_recursive": []},
    }
    try:
        text = read(os.path.join(d, "io.stat"))
    except (FileNotFoundError, OSError):
        text = ""
    for line in text.splitlines():
        f = line.split()
        if not f or ":" not in f[0]:
            continue
        major, _, minor = f[0].partition(":")
        kv = dict(x.partition("=")[::2] for x in f[1:])
        for key, name, op in (
            ("rbytes", "io_service_bytes_recursive", "read"),
            ("wbytes", "io_service_bytes_recursive", "write"),
            ("rios", "io_serviced_recursive", "read"),
            ("wios", "io_serviced_recursive", "write"),
        ):
            if key in kv:
                out["blkio"][name].append(
                    {"major": int(major), "minor": int(minor), "op": op, "value": int(kv[key])}
                )
    return out
