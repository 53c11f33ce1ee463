"""`docker update`: which limits a request changes, dockerd's checks, and the OCI
resources to write into the live cgroup."""

from __future__ import annotations

import copy
import dataclasses
import os
from dataclasses import dataclass
from typing import Any, ClassVar

from berth.engine import wire
from berth.engine.containers.model import (
    Container,
    DeviceMapping,
    DeviceRequest,
    HostConfig,
    RestartPolicy,
    ThrottleDevice,
    Ulimit,
    WeightDevice,
)
from berth.engine.errors import Conflict, InvalidParameter
from berth.engine.wire import GoUint16, GoUint64


@dataclass
class UpdateConfig:
    """The body of POST /containers/{id}/update: dockerd's container.UpdateConfig (the
    Resources, embedded, and a RestartPolicy). Checked for types, then read as JSON."""

    GO: ClassVar[str] = "container.UpdateConfig"
    cpu_shares: int = 0
    memory: int = 0
    nano_cpus: int = 0
    cgroup_parent: str = ""
    blkio_weight: GoUint16 = 0
    blkio_weight_device: list[WeightDevice | None] | None = None
    blkio_device_read_bps: list[ThrottleDevice | None] | None = None
    blkio_device_write_bps: list[ThrottleDevice | None] | None = None
    blkio_device_read_i_ops: list[ThrottleDevice | None] | None = dataclasses.field(
        default=None, metadata={"wire": "BlkioDeviceReadIOps"}
    )
    blkio_device_write_i_ops: list[ThrottleDevice | None] | None = dataclasses.field(
        default=None, metadata={"wire": "BlkioDeviceWriteIOps"}
    )
    cpu_period: int = 0
    cpu_quota: int = 0
    cpu_realtime_period: int = 0
    cpu_realtime_runtime: int = 0
    cpuset_cpus: str = ""
    cpuset_mems: str = ""
    devices: list[DeviceMapping] | None = None
    device_cgroup_rules: list[str] | None = None
    device_requests: list[DeviceRequest] | None = None
    kernel_memory: int = 0
    kernel_memory_tcp: int = dataclasses.field(default=0, metadata={"wire": "KernelMemoryTCP"})
    memory_reservation: int = 0
    memory_swap: int = 0
    memory_swappiness: int | None = None
    oom_kill_disable: bool | None = None
    pids_limit: int | None = None
    ulimits: list[Ulimit | None] | None = None
    cpu_count: int = 0
    cpu_percent: int = 0
    io_maximum_i_ops: GoUint64 = dataclasses.field(default=0, metadata={"wire": "IOMaximumIOps"})
    io_maximum_bandwidth: GoUint64 = dataclasses.field(
        default=0, metadata={"wire": "IOMaximumBandwidth"}
    )
    restart_policy: RestartPolicy | None = None


_MIN_MEMORY = 6 * 1024 * 1024
_INT_FIELDS = {
    "Memory": "memory",
    "MemorySwap": "memory_swap",
    "MemoryReservation": "memory_reservation",
    "CpuShares": "cpu_shares",
    "CpuPeriod": "cpu_period",
    "CpuQuota": "cpu_quota",
    "NanoCpus": "nano_cpus",
}


def _int(body: dict[str, Any], key: str) -> int:
    v = body.get(key)
    if v is None:
        return 0
    if isinstance(v, bool) or not isinstance(v, int):
        raise InvalidParameter(f"invalid value for {key}: {v!r}")
    return v


def _cpuset_ok(spec: str, limit: int) -> bool:
    try:
        for part in spec.split(","):
            lo, _, hi = part.partition("-")
            a, b = int(lo), int(hi or lo)
            if a < 0 or b < a or b >= limit:
                return False
    except ValueError:
        return False
    return True


def apply(c: Container, body: Any) -> tuple[HostConfig, dict[str, Any], list[str]]:
    """(new HostConfig, OCI linux.resources for the live cgroup, warnings) for an update
    body; raises dockerd's errors. The container itself is not touched."""
    body = wire.check(UpdateConfig, body)
    new = {field: _int(body, key) for key, field in _INT_FIELDS.items()}
    cpus = body.get("CpusetCpus") or ""
    mems = body.get("CpusetMems") or ""
    pids = body.get("PidsLimit")
    if pids is not None and (isinstance(pids, bool) or not isinstance(pids, int)):
        raise InvalidParameter(f"invalid value for PidsLimit: {pids!r}")
    _verify(new, cpus, mems)
    _check_against_current(c, new)
    hc = copy.deepcopy(c.host_config)
    for field, value in new.items():
        if value != 0:
            setattr(hc, field, value)
    if cpus:
        hc.cpuset_cpus = cpus
    if mems:
        hc.cpuset_mems = mems
    if pids is not None:
        hc.pids_limit = pids
    rp = body.get("RestartPolicy")
    if isinstance(rp, dict) and rp.get("Name"):
        hc.restart_policy = _restart_policy(c, hc, rp)
    return hc, _resources(new, cpus, mems, pids), []


def _check_against_current(c: Container, new: dict[str, int]) -> None:
    """dockerd's conflicts between the new limits and those the container has."""
    cur = c.host_config
    if new["nano_cpus"] > 0 and cur.cpu_period > 0:
        raise _conflict(
            c, "Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set"
        )
    if new["nano_cpus"] > 0 and cur.cpu_quota > 0:
        raise _conflict(
            c, "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set"
        )
    if new["cpu_period"] > 0 and cur.nano_cpus > 0:
        raise _conflict(
            c, "Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set"
        )
    if new["cpu_quota"] > 0 and cur.nano_cpus > 0:
        raise _conflict(
            c, "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set"
        )
    mem = new["memory"]
    if mem and cur.memory_swap > 0 and mem > cur.memory_swap and new["memory_swap"] == 0:
        raise _conflict(
            c,
            "Memory limit should be smaller than already set memoryswap limit, "
            "update the memoryswap at the same time",
        )


def _restart_policy(c: Container, hc: HostConfig, rp: dict[str, Any]) -> RestartPolicy:
    name = str(rp["Name"])
    if name not in ("no", "always", "on-failure", "unless-stopped"):
        raise InvalidParameter(f"invalid restart policy '{name}'")
    if hc.auto_remove and name != "no":
        raise _conflict(
            c,
            "Restart policy cannot be updated because AutoRemove is enabled for the container",
        )
    count = rp.get("MaximumRetryCount") or 0
    if name != "on-failure" and count:
        raise InvalidParameter(
            "invalid restart policy: maximum retry count can only be used with 'on-failure'"
        )
    return RestartPolicy(name, int(count))


def _conflict(c: Container, msg: str) -> Conflict:
    return Conflict(f"Cannot update container {c.id}: {msg}")


def _verify(new: dict[str, int], cpus: str, mems: str) -> None:
    """dockerd's verifyContainerResources for the fields an update can set."""
    mem, swap = new["memory"], new["memory_swap"]
    if mem and mem < _MIN_MEMORY:
        raise InvalidParameter("Minimum memory limit allowed is 6MB")
    if swap > 0 and mem and swap < mem:
        raise InvalidParameter(
            "Minimum memoryswap limit should be larger than memory limit, see usage"
        )
    if new["memory_reservation"] and new["memory_reservation"] < _MIN_MEMORY:
        raise InvalidParameter("Minimum memory reservation allowed is 6MB")
    if mem and new["memory_reservation"] > mem:
        raise InvalidParameter(
            "Minimum memory limit can not be less than memory reservation limit, see usage"
        )
    ncpu = os.cpu_count() or 1
    if new["nano_cpus"] and (new["cpu_period"] or new["cpu_quota"]):
        which = "CPU Period" if new["cpu_period"] else "CPU Quota"
        raise InvalidParameter(f"Conflicting options: Nano CPUs and {which} cannot both be set")
    if new["nano_cpus"] < 0 or new["nano_cpus"] > ncpu * 1_000_000_000:
        raise InvalidParameter(
            f"Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
        )
    if new["cpu_period"] and not 1000 <= new["cpu_period"] <= 1_000_000:
        raise InvalidParameter(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"
        )
    if new["cpu_quota"] and 0 < new["cpu_quota"] < 1000:
        raise InvalidParameter("CPU cfs quota can not be less than 1ms (i.e. 1000)")
    if new["cpu_shares"] < 0:
        raise InvalidParameter("invalid CPU shares: must not be negative")
    if cpus and not _cpuset_ok(cpus, ncpu):
        raise InvalidParameter(f"Invalid value {cpus} for cpuset cpus")
    if mems and not _cpuset_ok(mems, 1 << 16):
        raise InvalidParameter(f"Invalid value {mems} for cpuset mems")


def _resources(new: dict[str, int], cpus: str, mems: str, pids: int | None) -> dict[str, Any]:
    """OCI linux.resources with only what the request changes."""
    res: dict[str, Any] = {}
    mem: dict[str, Any] = {}
    if new["memory"]:
        mem["limit"] = new["memory"]
    if new["memory_swap"]:
        mem["swap"] = new["memory_swap"]
        mem.setdefault("limit", None)
    if new["memory_reservation"]:
        mem["reservation"] = new["memory_reservation"]
    if mem:
        res["memory"] = {k: v for k, v in mem.items() if v is not None}
    cpu: dict[str, Any] = {}
    if new["cpu_shares"]:
        cpu["shares"] = new["cpu_shares"]
    if new["nano_cpus"]:
        cpu["period"] = 100_000
        cpu["quota"] = new["nano_cpus"] * 100_000 // 1_000_000_000
    if new["cpu_period"]:
        cpu["period"] = new["cpu_period"]
    if new["cpu_quota"]:
        cpu["quota"] = new["cpu_quota"]
    if cpus:
        cpu["cpus"] = cpus
    if mems:
        cpu["mems"] = mems
    if cpu:
        res["cpu"] = cpu
    if pids is not None:
        res["pids"] = {"limit": pids}
    return res
