"""Host options: ulimits, devices, sysctls, /dev/shm, the ipc/pid/uts/cgroup namespace
modes, privileged, and the log drivers (json-file with rotation, local, none).

`validate` and `apply_defaults` hold the rules dockerd applies at create time; `runtime_fields`
turns a container's HostConfig into RuntimeSpec fields at start; `shm_dir` is where the
host-side /dev/shm of a shareable IPC namespace is mounted, as dockerd does (by the run's
owner, resources.py).

The `local` log driver stores the same json lines as json-file (not dockerd's protobuf
records) under dockerd's path, <container dir>/local-logs/container.log, with local's
defaults (max-size 20m, max-file 5). `compress` is accepted and validated but rotated
files are kept uncompressed."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from berth.engine.containers.model import Container, HostConfig
from berth.engine.errors import Conflict, InvalidParameter, NotFound, SystemError_
from berth.runtime import spec as rt_spec

# go-units' ulimit names -> OCI rlimit types
ULIMITS: dict[str, str] = {
    name: "RLIMIT_" + name.upper()
    for name in (
        "as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice",
        "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack",
    )
}  # fmt: skip
RLIM_INFINITY = (1 << 64) - 1

# sysctls that live in the IPC namespace (runc's list); fs.mqueue.* too
_IPC_SYSCTLS = frozenset(
    {
        "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
        "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced",
    }
)  # fmt: skip

# log drivers berth has, and the options each accepts (dockerd's validators)
_LOG_OPTS: dict[str, frozenset[str]] = {
    "json-file": frozenset(
        {"max-file", "max-size", "compress", "labels", "labels-regex", "env", "env-regex", "tag"}
    ),
    "local": frozenset({"max-file", "max-size", "compress"}),
    "none": frozenset(),
}
_LOG_BUILTIN_OPTS = frozenset({"mode", "max-buffer-size"})
_LOCAL_DEFAULTS = {"max-size": "20m", "max-file": "5"}

# annotations that tell the shim how to rotate the log it writes
ANN_MAX_SIZE = "org.berth.log.max-size"
ANN_MAX_FILE = "org.berth.log.max-file"

# host /dev entries runc leaves out of a privileged container's device list
_SKIP_DEV_DIRS = frozenset({"pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"})


# ---------------------------------------------------------------------------
# create time


def _ns_mode_error(kind: str, value: str) -> InvalidParameter:
    return InvalidParameter(f"invalid {kind} mode: {value}")


def _container_ref(mode: str) -> str | None:
    if mode.startswith("container:"):
        return mode.partition(":")[2]
    return None


def validate(hc: HostConfig) -> None:
    """dockerd's create-time checks of the host options (raises InvalidParameter)."""
    ipc = hc.ipc_mode or ""
    if ipc not in ("", "private", "shareable", "host", "none") and not _container_ref(ipc):
        raise _ns_mode_error("IPC", ipc)
    pid = hc.pid_mode or ""
    if pid not in ("", "host") and not _container_ref(pid):
        raise _ns_mode_error("PID", pid)
    uts = hc.uts_mode or ""
    if uts not in ("", "host"):
        raise _ns_mode_error("UTS", uts)
    cgns = hc.cgroupns_mode or ""
    if cgns not in ("", "host", "private"):
        raise InvalidParameter(f"invalid cgroup namespace mode: {cgns}")
    for ul in hc.ulimits or []:
        _check_ulimit(ul)
    for dev in hc.devices or []:
        _check_device(dev)
    cgroup_rules(hc.device_cgroup_rules)
    for key in hc.sysctls or {}:
        _check_sysctl(key, hc)
    validate_log_config(hc.log_config.type or "json-file", hc.log_config.config or {})


def _check_ulimit(ul: Any) -> None:
    if not isinstance(ul, dict):
        raise InvalidParameter("invalid ulimit: must be an object with Name, Soft and Hard")
    name = str(ul.get("Name") or "")
    if name not in ULIMITS:
        raise InvalidParameter(f"invalid ulimit type: {name}")
    soft, hard = ul.get("Soft", 0), ul.get("Hard", 0)
    if not isinstance(soft, int) or not isinstance(hard, int):
        raise InvalidParameter(f"invalid ulimit {name}: Soft and Hard must be integers")
    # -1 is unlimited; anything else limited is below it
    if _rlim(soft) > _rlim(hard):
        raise InvalidParameter(
            f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        )


def _rlim(v: int) -> int:
    return RLIM_INFINITY if v < 0 else v


def _check_device(dev: Any) -> None:
    if not isinstance(dev, dict) or not dev.get("PathOnHost"):
        raise InvalidParameter("invalid device: PathOnHost is required")
    perms = dev.get("CgroupPermissions") or "rwm"
    if not set(perms) <= set("rwm") or len(set(perms)) != len(perms):
        raise InvalidParameter(f"invalid device mode: {perms}")
    inner = dev.get("PathInContainer") or ""
    if inner and not inner.startswith("/"):
        raise InvalidParameter(f"{inner} is not an absolute path")


# moby's deviceCgroupRuleRegex (oci/devices_linux.go); fullmatch, since Python's "$" would
# also match before a final newline, which Go's does not
_CGROUP_RULE = re.compile(r"([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})")
_INT64_MAX = (1 << 63) - 1


def cgroup_rules(rules: list[str] | None) -> list[dict[str, Any]]:
    """HostConfig.DeviceCgroupRules ("c 1:3 rmw", "b *:* m") as OCI linux.resources.devices
    allow rules, parsed as dockerd's AppendDevicePermissionsFromCgroupRules does (its
    messages); a "*" major or minor is any (the key left out)."""
    out: list[dict[str, Any]] = []
    for rule in rules or []:
        m = _CGROUP_RULE.fullmatch(rule) if isinstance(rule, str) else None
        if m is None:
            raise InvalidParameter(f"invalid device cgroup rule format: '{rule}'")
        # "rrw" is what the regexp lets through; the kernel and the BPF program want a set
        d: dict[str, Any] = {"allow": True, "type": m[1], "access": "".join(dict.fromkeys(m[4]))}
        for key, num in (("major", m[2]), ("minor", m[3])):
            if num != "*":
                if int(num) > _INT64_MAX:  # Go's ParseInt(.., 64) fails
                    raise InvalidParameter(
                        f"invalid {key} value in device cgroup rule format: '{rule}'"
                    )
                d[key] = int(num)
        out.append(d)
    return out


def _go_caps(caps: list[list[str]] | None) -> str:
    """Go's %v of a [][]string: [[gpu] [compute utility]]."""
    return "[" + " ".join("[" + " ".join(c or []) + "]" for c in caps or []) + "]"


def device_request_error(req: dict[str, Any]) -> SystemError_:
    """dockerd's incompatibleDeviceRequest for a DeviceRequest (`--gpus`): berth has no
    device drivers (nvidia, cdi), so no request can be met. dockerd raises it while it
    builds the spec at start, as a system error (500)."""
    driver = str(req.get("Driver") or "")
    quoted = '"' + driver.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return SystemError_(
        f"could not select device driver {quoted} with capabilities: "
        f"{_go_caps(req.get('Capabilities'))}"
    )


def _check_sysctl(key: str, hc: HostConfig) -> None:
    # runc's rules: only sysctls of a namespace the container has of its own
    if key in _IPC_SYSCTLS or key.startswith("fs.mqueue."):
        if hc.ipc_mode == "host":
            raise InvalidParameter(f'sysctl "{key}" is not allowed in the hosts ipc namespace')
        return
    if key.startswith("net."):
        if hc.network_mode == "host":
            raise InvalidParameter(f'sysctl "{key}" not allowed in host network namespace')
        return
    if key == "kernel.domainname" and hc.uts_mode != "host":
        return
    raise InvalidParameter(f'sysctl "{key}" is not whitelisted')


def validate_log_config(driver: str, cfg: dict[str, str]) -> None:
    """dockerd's logger.ValidateLogOpts for the drivers berth has."""
    if driver == "none":
        return
    mode = cfg.get("mode", "")
    if mode not in ("", "blocking", "non-blocking"):
        raise InvalidParameter(f"logger: logging mode not supported: {mode}")
    if "max-buffer-size" in cfg:
        if mode != "non-blocking":
            raise InvalidParameter(
                "logger: max-buffer-size option is only supported with 'mode=non-blocking'"
            )
        try:
            ram_in_bytes(cfg["max-buffer-size"])
        except ValueError as exc:
            raise InvalidParameter(f"error parsing option max-buffer-size: {exc}") from None
    allowed = _LOG_OPTS.get(driver)
    if allowed is None:
        raise InvalidParameter(f"logger: no log driver named '{driver}' is registered")
    for key in cfg:
        if key in _LOG_BUILTIN_OPTS or key in allowed:
            continue
        if driver == "json-file":
            raise InvalidParameter(f"unknown log opt '{key}' for json-file log driver")
        raise InvalidParameter(f"unknown log opt '{key}' for log driver {driver}")


def apply_defaults(hc: HostConfig, *, cgroup_v2: bool | None = None) -> None:
    """The daemon defaults dockerd writes into HostConfig at create."""
    if not hc.ipc_mode:
        hc.ipc_mode = "private"
    if not hc.cgroupns_mode:
        if cgroup_v2 is None:
            from berth.runtime import cgroups

            cgroup_v2 = cgroups.is_v2()
        # dockerd: private on a unified (v2) host, host on v1
        hc.cgroupns_mode = "private" if cgroup_v2 else "host"
    if not hc.shm_size:
        hc.shm_size = 64 * 1024 * 1024
    # dockerd records the paths it will mask (inspect shows them); an empty list, as the
    # docker CLI sends for --security-opt systempaths=unconfined, masks nothing
    if not hc.privileged:
        if hc.masked_paths is None:
            hc.masked_paths = list(rt_spec.MASKED_PATHS)
        if hc.readonly_paths is None:
            hc.readonly_paths = list(rt_spec.READONLY_PATHS)


# ---------------------------------------------------------------------------
# sizes, as go-units parses them


_SIZE_RE = re.compile(r"^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$")
_DECIMAL = {"k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4, "p": 1000**5}


def from_human_size(s: str) -> int:
    """go-units FromHumanSize: decimal multiples ("10k" is 10000)."""
    m = _SIZE_RE.match(s)
    if not m:
        raise ValueError(f"invalid size: '{s}'")
    mult = _DECIMAL[m.group(2).lower()] if m.group(2) else 1
    return int(float(m.group(1)) * mult)


def ram_in_bytes(s: str) -> int:
    """go-units RAMInBytes: binary multiples ("10k" is 10240)."""
    m = _SIZE_RE.match(s)
    if not m:
        raise ValueError(f"invalid size: '{s}'")
    unit = (m.group(2) or "").lower()
    mult = 1 << (10 * ("kmgtp".index(unit) + 1)) if unit else 1
    return int(float(m.group(1)) * mult)


# ---------------------------------------------------------------------------
# logs


@dataclass
class LogFile:
    path: str  # "" for a driver that keeps nothing (none)
    max_size: int = -1  # bytes; -1: never rotate
    max_file: int = 1


def log_file(c: Container, container_dir: Path) -> str:
    """Where the shim writes the container's log (empty: the driver keeps none)."""
    driver = c.host_config.log_config.type or "json-file"
    if driver == "none":
        return ""
    if driver == "local":
        return str(container_dir / "local-logs" / "container.log")
    return c.log_path or str(container_dir / f"{c.id}-json.log")


def log_settings(c: Container, container_dir: Path) -> LogFile:
    """The log file and its rotation, parsed the way dockerd's json-file and local drivers
    do when they start (errors read like dockerd's "failed to initialize logging driver")."""
    driver = c.host_config.log_config.type or "json-file"
    path = log_file(c, container_dir)
    if not path:
        return LogFile("")
    cfg = dict(c.host_config.log_config.config or {})
    if driver == "local":
        cfg = {**_LOCAL_DEFAULTS, **cfg}
    try:
        max_size = -1
        if "max-size" in cfg:
            max_size = from_human_size(cfg["max-size"])
            if max_size <= 0:
                raise ValueError("max-size must be a positive number")
        max_file = 1
        if "max-file" in cfg:
            raw = cfg["max-file"]
            if not re.fullmatch(r"[+-]?\d+", raw):
                raise ValueError(f'strconv.Atoi: parsing "{raw}": invalid syntax')
            max_file = int(raw)
            if max_file < 1:
                raise ValueError("max-file cannot be less than 1")
        if "compress" in cfg:
            compress = _parse_bool(cfg["compress"])
            if compress and driver == "json-file" and (max_file == 1 or max_size == -1):
                raise ValueError(
                    "compress cannot be true when max-file is less than 2 or max-size is not set"
                )
    except ValueError as exc:
        raise SystemError_(f"failed to initialize logging driver: {exc}") from None
    os.makedirs(os.path.dirname(path), exist_ok=True)  # local-logs/
    return LogFile(path, max_size, max_file)


def _parse_bool(s: str) -> bool:
    if s in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if s in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise ValueError(f'error reading compress log option: strconv.ParseBool: parsing "{s}": '
                     "invalid syntax")  # fmt: skip


# ---------------------------------------------------------------------------
# start time


def shm_dir(container_dir: Path) -> Path:
    """Host-side /dev/shm of a container with a shareable IPC namespace (dockerd's path)."""
    return container_dir / "mounts" / "shm"


Lookup = Callable[[str], Container]


def _donor(lookup: Lookup, ref: str, what: str) -> Container:
    try:
        other = lookup(ref)
    except NotFound as exc:
        raise InvalidParameter(f"failed to join {what} namespace: {exc.message}") from None
    if not other.state.running or not other.state.pid:
        raise Conflict(f"failed to join {what} namespace: container {other.id} is not running")
    return other


def runtime_fields(c: Container, lookup: Lookup, containers_dir: Path) -> dict[str, Any]:
    """RuntimeSpec keyword arguments for the host options of `c`. `lookup` finds another
    container (for container:<name> modes); `containers_dir` holds every container's dir."""
    hc = c.host_config
    join: dict[str, str] = {}
    host: list[str] = []
    out: dict[str, Any] = {}
    # IPC and /dev/shm
    ipc = hc.ipc_mode or "private"
    if ipc == "host":
        host.append("ipc")
        out["shm_bind"] = "/dev/shm"
    elif ipc == "shareable":
        out["shm_bind"] = str(shm_dir(containers_dir / c.id))
    elif ipc == "none":
        out["shm_none"] = True
    elif (ref := _container_ref(ipc)) is not None:
        other = _donor(lookup, ref, "IPC")
        mode = other.host_config.ipc_mode
        if mode == "host":
            host.append("ipc")
            out["shm_bind"] = "/dev/shm"
        elif mode in ("shareable", "") and os.path.isdir(shm_dir(containers_dir / other.id)):
            join["ipc"] = f"/proc/{other.state.pid}/ns/ipc"
            out["shm_bind"] = str(shm_dir(containers_dir / other.id))
        else:
            raise InvalidParameter(
                f"failed to join IPC namespace: container {ref}: non-shareable IPC "
                "(hint: use IpcMode:shareable for the donor container)"
            )
    # PID
    pid = hc.pid_mode or ""
    if pid == "host":
        host.append("pid")
    elif (ref := _container_ref(pid)) is not None:
        other = _donor(lookup, ref, "PID")
        join["pid"] = f"/proc/{other.state.pid}/ns/pid"
    if hc.uts_mode == "host":
        host.append("uts")
    if hc.cgroupns_mode == "host":
        host.append("cgroup")
    out["join_namespaces"] = join
    out["host_namespaces"] = host
    out["rlimits"] = [
        (ULIMITS[u["Name"]], _rlim(int(u.get("Soft", 0))), _rlim(int(u.get("Hard", 0))))
        for u in hc.ulimits or []
    ]
    out["sysctls"] = dict(hc.sysctls or {})
    devices: list[rt_spec.Device] = host_devices() if hc.privileged else []
    for d in hc.devices or []:
        devices.extend(
            resolve_device(
                d["PathOnHost"], d.get("PathInContainer") or "", d.get("CgroupPermissions") or ""
            )
        )
    out["devices"] = devices
    for req in hc.device_requests or []:
        raise device_request_error(req)
    out["device_cgroup_rules"] = cgroup_rules(hc.device_cgroup_rules)
    return out


def _device(path_in: str, st: os.stat_result, access: str) -> rt_spec.Device:
    return rt_spec.Device(
        path=path_in,
        type="b" if stat.S_ISBLK(st.st_mode) else "c",
        major=os.major(st.st_rdev),
        minor=os.minor(st.st_rdev),
        file_mode=stat.S_IMODE(st.st_mode),
        uid=st.st_uid,
        gid=st.st_gid,
        access=access or "rwm",
    )


def resolve_device(on_host: str, in_container: str, access: str) -> list[rt_spec.Device]:
    """dockerd's DevicesFromPath: a device node, or every node under a directory."""
    in_container = in_container or on_host
    real = os.path.realpath(on_host)
    try:
        st = os.stat(real)
    except OSError as exc:
        raise SystemError_(
            f'error gathering device information while adding custom device "{on_host}": '
            f"{(exc.strerror or str(exc)).lower()}"
        ) from None
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        return [_device(in_container, st, access)]
    found: list[rt_spec.Device] = []
    if stat.S_ISDIR(st.st_mode):
        for dirpath, _, files in os.walk(real):
            for name in sorted(files):
                full = os.path.join(dirpath, name)
                try:
                    fst = os.lstat(full)
                except OSError:
                    continue
                if stat.S_ISCHR(fst.st_mode) or stat.S_ISBLK(fst.st_mode):
                    rel = os.path.relpath(full, real)
                    found.append(_device(os.path.join(in_container, rel), fst, access))
    if found:
        return found
    raise SystemError_(
        f'error gathering device information while adding custom device "{on_host}": '
        "not a device node"
    )


def host_devices(root: str = "/dev") -> list[rt_spec.Device]:
    """Every device node of the host's /dev, as runc lists them for --privileged."""
    out: list[rt_spec.Device] = []
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not (dirpath == root and d in _SKIP_DEV_DIRS)]
        for name in sorted(files):
            if dirpath == root and name == "console":
                continue
            full = os.path.join(dirpath, name)
            try:
                st = os.lstat(full)
            except OSError:
                continue
            if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                out.append(_device(full, st, "rwm"))
    return out
