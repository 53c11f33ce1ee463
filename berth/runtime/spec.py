"""The engine's request to the runtime, and its OCI runtime spec (config.json).

The engine resolves everything (image config + overrides, user names to ids,
paths) into a RuntimeSpec; `to_oci` turns it into the OCI config.json that the
builtin executor and crun both run."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from berth.runtime import capabilities


@dataclass
class BindMount:
    source: str
    destination: str
    readonly: bool = False
    # "rprivate" unless the engine says otherwise
    propagation: str = "rprivate"


@dataclass
class Device:
    """A device node the container gets (OCI linux.devices) and may use (cgroup rule)."""

    path: str
    type: str  # "c" or "b"
    major: int
    minor: int
    file_mode: int = 0o666
    uid: int = 0
    gid: int = 0
    access: str = "rwm"  # the device cgroup permissions


@dataclass
class RuntimeSpec:
    id: str
    rootfs: str  # absolute path of the (already mounted) root filesystem
    args: list[str]
    env: list[str]
    cwd: str = "/"
    uid: int = 0
    gid: int = 0
    additional_gids: list[int] = field(default_factory=list)
    hostname: str = ""
    domainname: str = ""
    tty: bool = False
    readonly_rootfs: bool = False
    privileged: bool = False
    mounts: list[BindMount] = field(default_factory=list)  # after the defaults
    # cgroup path relative to each hierarchy's root, e.g. "/berth/<id>"
    cgroup_path: str = ""
    memory: int | None = None  # bytes
    memory_swap: int | None = None  # bytes, -1 for unlimited
    cpu_shares: int | None = None
    cpu_quota: int | None = None  # microseconds per period
    cpu_period: int | None = None  # microseconds
    cpuset_cpus: str | None = None
    pids_limit: int | None = None
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    shm_size: int = 64 * 1024 * 1024
    oom_score_adj: int = 0
    no_new_privileges: bool = False
    # namespaces to join instead of creating: {"network": "/proc/PID/ns/net", ...}
    join_namespaces: dict[str, str] = field(default_factory=dict)
    sysctls: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    # initial (height, width) of the tty, so the first output is laid out right
    console_size: tuple[int, int] | None = None
    # namespaces shared with the host (left out of linux.namespaces): e.g. ["network"]
    # for --network host, ["pid"] for --pid host
    host_namespaces: list[str] = field(default_factory=list)
    memory_reservation: int | None = None  # bytes (soft limit)
    memory_swappiness: int | None = None  # 0-100; None: the kernel's
    oom_kill_disable: bool = False
    cpuset_mems: str | None = None
    # (OCI type "RLIMIT_NOFILE", soft, hard); 2**64-1 is unlimited
    rlimits: list[tuple[str, int, int]] = field(default_factory=list)
    devices: list[Device] = field(default_factory=list)  # on top of the defaults
    # HostConfig.DeviceCgroupRules as OCI allow rules, after the devices' own (dockerd's
    # order): access to nodes the container has or makes, no node created
    device_cgroup_rules: list[dict] = field(default_factory=list)
    # /dev/shm: a host directory to bind (--ipc host, shareable, container:X) instead of a
    # tmpfs of its own; shm_none leaves it out (--ipc none)
    shm_bind: str = ""
    shm_none: bool = False
    # the user's mounts (volumes, binds, tmpfs) as OCI mount dicts; sorted with `mounts`
    # by depth, and a default mount at the same destination gives way to them
    extra_mounts: list[dict] = field(default_factory=list)
    # an OCI linux.seccomp object, already resolved by the engine (seccomp.profile.to_oci);
    # None (or the {} of a profile that filters nothing) runs without a filter
    seccomp: dict[str, Any] | None = None
    # the paths masked / made read-only (HostConfig.MaskedPaths, ReadonlyPaths); None
    # means Docker's defaults, [] none (--security-opt systempaths=unconfined)
    masked_paths: list[str] | None = None
    readonly_paths: list[str] | None = None


OCI_VERSION = "1.0.2"

# moby's oci.DefaultLinuxSpec, plus the powercap path Docker masks since 20.10
MASKED_PATHS = (
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
)
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")

# the OCI namespace type names, in the order runc lists them for Docker
NAMESPACES = ("mount", "network", "uts", "pid", "ipc", "cgroup")
_NS_ALIASES = {"net": "network", "mnt": "mount"}

# moby's default device cgroup: deny all, allow the standard nodes, deny fuse
DEFAULT_DEVICE_RULES: list[dict] = [
    {"allow": False, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 9, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 8, "access": "rwm"},
    {"allow": True, "type": "c", "major": 5, "minor": 0, "access": "rwm"},
    {"allow": True, "type": "c", "major": 5, "minor": 1, "access": "rwm"},
    {"allow": False, "type": "c", "major": 10, "minor": 229, "access": "rwm"},
]


def _mounts(spec: RuntimeSpec) -> list[dict]:
    sys_ro = [] if spec.privileged else ["ro"]
    out: list[dict] = [
        {"destination": "/proc", "type": "proc", "source": "proc",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", *sys_ro]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", *sys_ro]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
    ]  # fmt: skip
    if spec.shm_bind:
        out.append({"destination": "/dev/shm", "type": "bind", "source": spec.shm_bind,
                    "options": ["rbind", "nosuid", "noexec", "nodev"]})  # fmt: skip
    elif not spec.shm_none:
        out.append({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                    "options": ["nosuid", "noexec", "nodev", "mode=1777",
                                f"size={spec.shm_size}"]})  # fmt: skip
    user: list[dict] = []
    for m in spec.mounts:
        user.append(
            {
                "destination": m.destination,
                "type": "bind",
                "source": m.source,
                "options": ["rbind", m.propagation or "rprivate", "ro" if m.readonly else "rw"],
            }
        )
    if spec.extra_mounts:
        mine = {os.path.normpath(m["destination"]) for m in spec.extra_mounts}
        # as dockerd: a user mount replaces the default there (and /dev those under it)
        out = [
            m
            for m in out
            if m["destination"] not in mine
            and not ("/dev" in mine and m["destination"].startswith("/dev/"))
        ]
        user = [m for m in user if m["destination"] not in mine] + list(spec.extra_mounts)
        # parents before children (stable: equal depths keep their order)
        user.sort(key=lambda m: os.path.normpath(m["destination"]).count("/"))
    return out + user


def _namespaces(spec: RuntimeSpec) -> list[dict]:
    joins = {_NS_ALIASES.get(k, k): v for k, v in spec.join_namespaces.items()}
    host = {_NS_ALIASES.get(k, k) for k in spec.host_namespaces}
    out: list[dict] = []
    for ns in NAMESPACES:
        if ns in host:
            continue
        entry = {"type": ns}
        if ns in joins:
            entry["path"] = joins[ns]
        out.append(entry)
    return out


def resources(spec: RuntimeSpec) -> dict:
    """The OCI linux.resources of SPEC (the cgroup's limits and device rules)."""
    res: dict = {
        "devices": [{"allow": True, "access": "rwm"}]
        if spec.privileged
        else list(DEFAULT_DEVICE_RULES)
    }
    if not spec.privileged:
        # after the defaults: an explicit --device /dev/fuse overrides their deny
        res["devices"] += [
            {"allow": True, "type": d.type, "major": d.major, "minor": d.minor, "access": d.access}
            for d in spec.devices
        ]
        res["devices"] += [dict(r) for r in spec.device_cgroup_rules]
    mem: dict = {}
    if spec.memory:
        mem["limit"] = spec.memory
    if spec.memory_swap:
        mem["swap"] = spec.memory_swap
    if spec.memory_reservation:
        mem["reservation"] = spec.memory_reservation
    if spec.memory_swappiness is not None and spec.memory_swappiness >= 0:
        mem["swappiness"] = spec.memory_swappiness
    if spec.oom_kill_disable:
        mem["oom_kill_disable"] = True
    if mem:
        res["memory"] = mem
    cpu: dict = {}
    if spec.cpu_shares:
        cpu["shares"] = spec.cpu_shares
    if spec.cpu_quota:
        cpu["quota"] = spec.cpu_quota
    if spec.cpu_period:
        cpu["period"] = spec.cpu_period
    if spec.cpuset_cpus:
        cpu["cpus"] = spec.cpuset_cpus
    if spec.cpuset_mems:
        cpu["mems"] = spec.cpuset_mems
    if cpu:
        res["cpu"] = cpu
    if spec.pids_limit is not None and spec.pids_limit != 0:
        res["pids"] = {"limit": spec.pids_limit}
    return res


def _capabilities(spec: RuntimeSpec) -> dict:
    caps = capabilities.tweak(spec.cap_add, spec.cap_drop, spec.privileged)
    if spec.uid == 0:
        return {"bounding": caps, "effective": list(caps), "permitted": list(caps)}
    # as Docker does: a non-root user starts with empty sets, like after execve
    return {"bounding": caps}


def to_oci(spec: RuntimeSpec) -> dict:
    """The OCI runtime spec (config.json, ociVersion 1.0.2) for this container, with
    Docker's defaults. Raises ValueError for an unknown capability name."""
    user: dict = {"uid": spec.uid, "gid": spec.gid}
    if spec.additional_gids:
        user["additionalGids"] = list(spec.additional_gids)
    process: dict = {
        "terminal": spec.tty,
        "user": user,
        "args": list(spec.args),
        "env": list(spec.env),
        "cwd": spec.cwd or "/",
        "capabilities": _capabilities(spec),
        "noNewPrivileges": spec.no_new_privileges,
        "oomScoreAdj": spec.oom_score_adj,
    }
    if spec.rlimits:
        process["rlimits"] = [{"type": t, "hard": h, "soft": s} for t, s, h in spec.rlimits]
    if spec.tty and spec.console_size and all(spec.console_size):
        process["consoleSize"] = {"height": spec.console_size[0], "width": spec.console_size[1]}
    linux: dict = {
        "resources": resources(spec),
        "cgroupsPath": spec.cgroup_path,
        "namespaces": _namespaces(spec),
        "devices": [
            {"path": d.path, "type": d.type, "major": d.major, "minor": d.minor,
             "fileMode": d.file_mode, "uid": d.uid, "gid": d.gid}
            for d in spec.devices
        ],
    }  # fmt: skip
    if spec.sysctls:
        linux["sysctl"] = dict(spec.sysctls)
    if spec.seccomp:
        linux["seccomp"] = spec.seccomp
    if not spec.privileged:
        masked = MASKED_PATHS if spec.masked_paths is None else spec.masked_paths
        readonly = READONLY_PATHS if spec.readonly_paths is None else spec.readonly_paths
        linux["maskedPaths"] = list(masked)
        linux["readonlyPaths"] = list(readonly)
    config: dict = {
        "ociVersion": OCI_VERSION,
        "process": process,
        "root": {"path": spec.rootfs, "readonly": spec.readonly_rootfs},
        "hostname": spec.hostname,
        "mounts": _mounts(spec),
        "linux": linux,
    }
    if spec.domainname:
        config["domainname"] = spec.domainname
    if spec.annotations:
        config["annotations"] = dict(spec.annotations)
    return config


def write_bundle(bundle: Path, spec: RuntimeSpec) -> dict:
    """Write bundle/config.json atomically (temp file + rename) and return the config."""
    config = to_oci(spec)
    bundle = Path(bundle)
    bundle.mkdir(parents=True, exist_ok=True)
    tmp = bundle / ".config.json.tmp"
    data = json.dumps(config, separators=(",", ":")).encode()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    # no fsync: a bundle lives in the exec root (a tmpfs, /var/run), and after a host crash
    # no shim is left to read it; the page cache outlives a crash of berthd itself
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, bundle / "config.json")
    return config


# `--init`: where dockerd puts its init in the container, and the static inits a host
# may have (Debian's tini package, Docker's own docker-init)
INIT_PATH = "/sbin/docker-init"
INIT_BINARIES = ("/usr/bin/tini-static", "/usr/bin/docker-init", "/usr/libexec/docker/docker-init")


def find_init(candidates: tuple[str, ...] = INIT_BINARIES) -> str | None:
    """The host's init binary for --init; it must be static (it runs in the container's
    root filesystem, without the host's libraries)."""
    for path in candidates:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None
