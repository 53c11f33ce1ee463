"""Converters of the run/create flags whose values the docker CLI parses (and rejects) before
anything reaches the daemon: sizes, devices, throttles, GPUs, ulimits, security options.
Each raises the docker CLI's message for a bad value."""

from __future__ import annotations

import json
import re
from typing import Any

from berth.cli.context import StatusError
from berth.cli.flags import Command, UsageError

_DEVICE_CGROUP_RULE = r"^[acb] ([0-9]+|\*):([0-9]+|\*) [rwm]{1,3}$"
_DOMAIN = (
    r"^(:?(:?[a-zA-Z0-9]|(:?[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9]))"
    r"(:?\.(:?[a-zA-Z0-9]|(:?[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9])))*)\.?\s*$"
)


def _bad(cmd: Command, flag: str, value: str, why: str) -> UsageError:
    return cmd.usage_error(f'invalid argument "{value}" for "{flag}" flag: {why}')


def ram(cmd: Command, value: str) -> int:
    """A size like 64m; a bad one is reported as ram_in_bytes words it."""
    from berth.cli.units import ram_in_bytes

    try:
        return ram_in_bytes(value)
    except ValueError as exc:
        raise cmd.usage_error(str(exc)) from None


def memory_swap(cmd: Command, value: str) -> int:
    return -1 if value == "-1" else ram(cmd, value)


def nano_cpus(cmd: Command, value: str) -> int:
    try:
        return int(round(float(value) * 1e9))
    except ValueError:
        raise cmd.usage_error(f'invalid argument "{value}" for "--cpus" flag') from None


def restart_policy(cmd: Command, value: str) -> dict[str, Any]:
    name, _, count = value.partition(":")
    if name not in ("no", "always", "on-failure", "unless-stopped"):
        raise cmd.usage_error(f"invalid restart policy {value!r}")
    policy: dict[str, Any] = {"Name": name}
    if count:
        if not count.isdigit():
            raise cmd.usage_error(f"maximum retry count must be an integer: {count!r}")
        policy["MaximumRetryCount"] = int(count)
    return policy


def tmpfs(cmd: Command, items: list[str]) -> dict[str, str]:
    return dict((t.partition(":")[0], t.partition(":")[2]) for t in items)


def ulimit(cmd: Command, spec: str) -> dict[str, Any]:
    name, _, vals = spec.partition("=")
    soft, _, hard = vals.partition(":")
    try:
        return {"Name": name, "Soft": int(soft), "Hard": int(hard or soft)}
    except ValueError:
        raise cmd.usage_error(f"invalid ulimit argument: {spec}") from None


def device(cmd: Command, spec: str) -> dict[str, str]:
    """--device /dev/x[:/dev/y][:rwm], as the docker CLI parses it."""
    parts = spec.split(":")
    perms = "rwm"
    if len(parts) == 3:
        src, dst, perms = parts
    elif len(parts) == 2 and parts[1] and set(parts[1]) <= set("rwm"):
        src, dst, perms = parts[0], parts[0], parts[1]
    elif len(parts) == 2:
        src, dst = parts
    elif len(parts) == 1:
        src = dst = parts[0]
    else:
        raise cmd.usage_error(f'invalid argument "{spec}" for "--device" flag')
    if not perms or not set(perms) <= set("rwm"):
        raise cmd.usage_error(f"bad mode specified: {perms}")
    return {"PathOnHost": src, "PathInContainer": dst or src, "CgroupPermissions": perms}


def sysctls(cmd: Command, items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        k, eq, v = item.partition("=")
        if not eq or not k:
            raise cmd.usage_error(f'invalid argument "{item}" for "--sysctl" flag')
        out[k] = v
    return out


def userns(cmd: Command, value: str) -> str:
    # container.UsernsMode.Valid(): only "host" (or "") travels
    if value != "host":
        raise cmd.usage_error("--userns: invalid USER mode")
    return value


def blkio_weight(cmd: Command, value: int) -> int:
    if not 0 <= value <= 0xFFFF:
        raise _bad(cmd, "--blkio-weight", str(value), "value out of range")
    return value


def swappiness(cmd: Command, value: int) -> int:
    if not 0 <= value <= 100:
        raise cmd.usage_error(f"invalid value: {value}. Valid memory swappiness range is 0-100")
    return value


def weight_device(cmd: Command, val: str) -> dict[str, Any]:
    """opts.ValidateWeightDevice: /dev/PATH:WEIGHT, the weight 10-1000 (0: unset)."""
    path, colon, raw = val.partition(":")
    flag = "--blkio-weight-device"
    if not colon or not path:
        raise _bad(cmd, flag, val, f"bad format: {val}")
    if not path.startswith("/dev/"):
        raise _bad(cmd, flag, val, f"bad format for device path: {val}")
    weight = int(raw) if raw.isdigit() else -1
    if not 0 <= weight <= 0xFFFF or (weight and not 10 <= weight <= 1000):
        raise _bad(cmd, flag, val, f"invalid weight for device: {val}")
    return {"Path": path, "Weight": weight}


def throttle_device(cmd: Command, flag: str, val: str, bps: bool) -> dict[str, Any]:
    """opts.ValidateThrottle{Bps,IOps}Device: /dev/PATH:RATE (bps: a size like 1mb)."""
    from berth.cli.units import ram_in_bytes

    path, colon, raw = val.partition(":")
    if not colon or not path:
        raise _bad(cmd, flag, val, f"bad format: {val}")
    if not path.startswith("/dev/"):
        raise _bad(cmd, flag, val, f"bad format for device path: {val}")
    try:
        rate = ram_in_bytes(raw) if bps else (int(raw) if raw.isdigit() else -1)
    except ValueError:
        rate = -1
    if rate < 0:
        if bps:
            raise _bad(cmd, flag, val,
                f"invalid rate for device: {val}. The correct format is "
                "<device-path>:<number>[<unit>]. Number must be a positive integer. "
                "Unit is optional and can be kb, mb, or gb"
            )  # fmt: skip
        raise _bad(cmd, flag, val,
            f"invalid rate for device: {val}. The correct format is <device-path>:<number>. "
            "Number must be a positive integer"
        )  # fmt: skip
    return {"Path": path, "Rate": rate}


def throttle(flag: str, bps: bool) -> Any:
    """The converter of one --device-{read,write}-{bps,iops} list flag."""
    return lambda cmd, values: [throttle_device(cmd, flag, v, bps) for v in values]


def device_cgroup_rules(cmd: Command, rules: list[str]) -> list[str]:
    for rule in rules:
        if not re.match(_DEVICE_CGROUP_RULE, rule):
            raise _bad(cmd, "--device-cgroup-rule", rule, f"invalid device cgroup format '{rule}'")
    return list(rules)


def dns_search(cmd: Command, domains: list[str]) -> list[str]:
    out = []
    for d in domains:
        d = d.strip(" ")
        m = re.match(_DOMAIN, d)
        if d != "." and (not re.search("[a-zA-Z]", d) or not m or len(m.group(1)) >= 255):
            raise _bad(cmd, "--dns-search", d, f"{d} is not a valid domain")
        out.append(d if d == "." else m.group(1) if m else d)
    return out


def links(cmd: Command, items: list[str]) -> list[str]:
    for link in items:
        if not link or link.count(":") > 1:
            why = (
                "empty string specified for links" if not link else f"bad format for links: {link}"
            )
            raise _bad(cmd, "--link", link, why)
    return list(items)


def storage_opts(cmd: Command, items: list[str]) -> dict[str, str]:
    storage: dict[str, str] = {}
    for item in items:
        k, eq, v = item.partition("=")
        if not eq:
            raise cmd.usage_error("invalid storage option")
        storage[k] = v
    return storage


def gpu_request(cmd: Command, value: str) -> dict[str, Any]:
    """opts.GpuOpts.Set: all | N | driver=,count=,device=,capabilities=,options= (CSV)."""
    import csv

    def bad(msg: str) -> UsageError:
        return _bad(cmd, "--gpus", value, msg)

    def count(s: str) -> int:
        if s == "all":
            return -1
        try:
            return int(s)
        except ValueError:
            raise bad(
                f'invalid count ({s}): value must be either "all" or an integer: invalid syntax'
            ) from None

    req: dict[str, Any] = {"Driver": "", "Count": 0, "DeviceIDs": None, "Capabilities": None,
                           "Options": None}  # fmt: skip
    seen: set[str] = set()
    for item in next(csv.reader([value]), []):
        key, eq, val = item.partition("=")
        if key in seen:
            raise bad(f"gpu request key '{key}' can be specified only once")
        seen.add(key)
        if not eq:
            seen.add("count")
            req["Count"] = count(key)
        elif key == "driver":
            req["Driver"] = val
        elif key == "count":
            req["Count"] = count(val)
        elif key == "device":
            req["DeviceIDs"] = val.split(",")
        elif key == "capabilities":
            req["Capabilities"] = [[*val.split(","), "gpu"]]
        elif key == "options":
            pairs = next(csv.reader([val]), [])
            req["Options"] = dict(p.partition("=")[::2] for p in pairs)
        else:
            raise bad(f"unexpected key '{key}' in '{item}'")
    if "count" not in seen and req["DeviceIDs"] is None:
        req["Count"] = 1
    req["Options"] = req["Options"] or {}
    req["Capabilities"] = req["Capabilities"] or [["gpu"]]
    return req


def security_opt(cmd: Command, opt: str) -> str:
    """The docker CLI's parseSecurityOpts: a seccomp=FILE is sent as the file's compact JSON
    (the daemon never reads a client's files); "builtin" and "unconfined" go as they are."""
    key, eq, val = opt.partition("=")
    if not eq and key != "no-new-privileges":
        key, eq, val = opt.partition(":")
    if (not eq or not val) and key != "no-new-privileges":
        raise cmd.usage_error(f"Invalid --security-opt: {json.dumps(opt)}")
    if key != "seccomp" or val in ("builtin", "unconfined"):
        return opt
    try:
        with open(val, "rb") as f:
            raw = f.read()
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        msg = f"opening seccomp profile ({val}) failed: open {val}: {reason}"
        raise StatusError(125, msg) from None
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise StatusError(
            125, f"compacting json for seccomp profile ({val}) failed: {exc}"
        ) from None
    return "seccomp=" + json.dumps(doc, separators=(",", ":"))
