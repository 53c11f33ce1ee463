"""`docker stats`: dockerd's StatsResponse from the container's cgroup counters."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

from berth.engine.clock import ZERO_TIME, rfc3339nano
from berth.engine.containers.model import Container
from berth.runtime import cgroups

INTERVAL = 1.0
# a one-frame answer (stream=false) still needs a previous sample for CPU %:
# dockerd waits a full collection cycle, berth a short one
PRIME_INTERVAL = 0.2

_MACHINE_MEMORY = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _zero_cpu() -> dict[str, Any]:
    return {
        "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    }


def empty_frame(c: Container) -> dict[str, Any]:
    """What dockerd sends for a container that is not running."""
    return {
        "read": ZERO_TIME,
        "preread": ZERO_TIME,
        "pids_stats": {},
        "blkio_stats": {
            "io_service_bytes_recursive": None,
            "io_serviced_recursive": None,
            "io_queue_recursive": None,
            "io_service_time_recursive": None,
            "io_wait_time_recursive": None,
            "io_merged_recursive": None,
            "io_time_recursive": None,
            "sectors_recursive": None,
        },
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": _zero_cpu(),
        "precpu_stats": _zero_cpu(),
        "memory_stats": {},
        "name": "/" + c.name,
        "id": c.id,
    }


def frame(c: Container, raw: dict[str, Any], system: int, online: int) -> dict[str, Any]:
    """One StatsResponse (precpu_stats and preread left empty) from read_stats() output."""
    out = empty_frame(c)
    out["read"] = rfc3339nano()
    cpu = raw.get("cpu") or {}
    usage: dict[str, Any] = {
        "total_usage": cpu.get("total") or 0,
        "usage_in_kernelmode": cpu.get("system") or 0,
        "usage_in_usermode": cpu.get("user") or 0,
    }
    if cpu.get("percpu"):
        usage["percpu_usage"] = cpu["percpu"]
    out["cpu_stats"] = {
        "cpu_usage": usage,
        "system_cpu_usage": system,
        "online_cpus": online,
        "throttling_data": {
            "periods": cpu.get("periods") or 0,
            "throttled_periods": cpu.get("throttled_periods") or 0,
            "throttled_time": cpu.get("throttled_time") or 0,
        },
    }
    mem = raw.get("memory") or {}
    if mem.get("usage") is not None:
        limit = mem.get("limit")
        # an unlimited cgroup reports the machine's memory, as dockerd does
        if limit is None or limit > _MACHINE_MEMORY:
            limit = _MACHINE_MEMORY
        ms: dict[str, Any] = {"usage": mem["usage"]}
        if mem.get("max_usage") is not None:
            ms["max_usage"] = mem["max_usage"]
        ms["stats"] = mem.get("stat") or {}
        if mem.get("failcnt") is not None:
            ms["failcnt"] = mem["failcnt"]
        ms["limit"] = limit
        out["memory_stats"] = ms
    pids = raw.get("pids") or {}
    if pids.get("current") is not None:
        ps: dict[str, Any] = {"current": pids["current"]}
        if pids.get("limit"):
            ps["limit"] = pids["limit"]
        out["pids_stats"] = ps
    blk = raw.get("blkio") or {}
    for key in ("io_service_bytes_recursive", "io_serviced_recursive"):
        if blk.get(key):
            out["blkio_stats"][key] = blk[key]
    return out


def _online_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except OSError:
        return os.cpu_count() or 1


# /proc/net/dev's columns, in order, as dockerd names them (rx then tx)
_RX = ("rx_bytes", "rx_packets", "rx_errors", "rx_dropped")
_TX = ("tx_bytes", "tx_packets", "tx_errors", "tx_dropped")


def parse_net_dev(text: str) -> dict[str, dict[str, int]]:
    """/proc/<pid>/net/dev -> {interface: {rx_bytes, rx_packets, ..., tx_dropped}}."""
    out: dict[str, dict[str, int]] = {}
    for line in text.splitlines()[2:]:  # two header lines
        name, sep, rest = line.partition(":")
        f = rest.split()
        if not sep or len(f) < 12:
            continue
        # receive: bytes packets errs drop fifo frame compressed multicast; transmit:
        # bytes packets errs drop ...
        vals = [int(x) for x in f[:4]] + [int(x) for x in f[8:12]]
        out[name.strip()] = dict(zip(_RX + _TX, vals, strict=True))
    return out


def networks(c: Container, proc: str = "/proc") -> dict[str, dict[str, int]] | None:
    """The `networks` section: the counters of the container's own interfaces (its
    endpoints', not lo), read in its network namespace through its init's /proc entry.
    None (dockerd leaves the key out) for a container without endpoints (host, none)."""
    ifnames = [ep.get("Ifname") or "" for ep in (c.networks or {}).values()]
    if not c.state.pid or not ifnames or c.host_config.network_mode in ("host", "none"):
        return None
    try:
        with open(f"{proc}/{int(c.state.pid)}/net/dev") as f:
            counters = parse_net_dev(f.read())
    except (OSError, ValueError):
        return None  # the process is gone: the next frame is an empty one
    wanted = {n for n in ifnames if n}
    got = {k: v for k, v in counters.items() if (k in wanted if wanted else k != "lo")}
    return got or None


def sample(svc: Any, c: Container) -> dict[str, Any]:
    """A frame for `c` now (an empty one if it does not run)."""
    if not c.state.running or c.state.status == "restarting":
        return empty_frame(c)
    raw = cgroups.read_stats(svc.cgroup_path(c))
    out = frame(c, raw, cgroups.system_cpu_usage(), _online_cpus())
    nets = networks(c)
    if nets is not None:
        out["networks"] = nets
    return out


def _with_pre(cur: dict[str, Any], prev: dict[str, Any] | None) -> dict[str, Any]:
    if prev is not None:
        cur["precpu_stats"] = prev["cpu_stats"]
        cur["preread"] = prev["read"]
    return cur


async def stats(svc: Any, ref: str, stream: bool, one_shot: bool) -> AsyncIterator[dict[str, Any]]:
    """GET /containers/{id}/stats: frames, one per second while streaming."""
    c = svc.get(ref)
    if not stream:
        if one_shot or not c.state.running:
            yield sample(svc, c)
            return
        first = sample(svc, c)
        await asyncio.sleep(PRIME_INTERVAL)
        yield _with_pre(sample(svc, c), first)
        return
    prev: dict[str, Any] | None = None
    while True:
        if svc.store.maybe(c.id) is None:
            return  # removed
        cur = sample(svc, c)
        yield _with_pre(cur, prev)
        prev = cur if cur["read"] != ZERO_TIME else None
        await asyncio.sleep(INTERVAL)
