"""--mount and -v as the docker CLI turns them into the create request."""

from __future__ import annotations

import os
from typing import Any

from berth.cli.flags import Command

_BARE_OK = ("readonly", "ro", "volume-nocopy", "bind-nonrecursive")
_TRUE = ("1", "t", "true", "True", "TRUE", "T")
_FALSE = ("0", "f", "false", "False", "FALSE", "F")


def _bool(cmd: Command, key: str, val: str | None) -> bool:
    if val is None or val in _TRUE:
        return True
    if val in _FALSE:
        return False
    raise cmd.usage_error(f"invalid value for {key}: {val}")


# --mount keys -> (the part of the Mount they go in, its key, how the value is read):
# "str" as written, "bool" a Go bool (bare: true), "kv" a KEY=VALUE added to a map
_FIELDS: dict[str, tuple[str, str, str]] = {
    "type": ("mount", "Type", "str"),
    "source": ("mount", "Source", "str"),
    "src": ("mount", "Source", "str"),
    "target": ("mount", "Target", "str"),
    "dst": ("mount", "Target", "str"),
    "destination": ("mount", "Target", "str"),
    "readonly": ("mount", "ReadOnly", "bool"),
    "ro": ("mount", "ReadOnly", "bool"),
    "consistency": ("mount", "Consistency", "str"),
    "bind-propagation": ("bind", "Propagation", "str"),
    "bind-nonrecursive": ("bind", "NonRecursive", "bool"),
    "bind-create-mountpoint": ("bind", "CreateMountpoint", "bool"),
    "volume-nocopy": ("volume", "NoCopy", "bool"),
    "volume-subpath": ("volume", "Subpath", "str"),
    "volume-label": ("volume", "Labels", "kv"),
    "volume-driver": ("driver", "Name", "str"),
    "volume-opt": ("driver", "Options", "kv"),
    "tmpfs-size": ("tmpfs", "SizeBytes", "size"),
    "tmpfs-mode": ("tmpfs", "Mode", "octal"),
}


def parse_mount(cmd: Command, spec: str) -> dict[str, Any]:
    """One --mount value (CSV of key=value) -> the API's Mount object."""
    parts: dict[str, dict[str, Any]] = {
        "mount": {"Type": "volume"}, "bind": {}, "volume": {}, "driver": {}, "tmpfs": {},
    }  # fmt: skip
    for field in (f.strip() for f in spec.split(",")):
        if not field:
            continue
        key, eq, val = field.partition("=")
        key = key.lower()
        if not eq and key not in _BARE_OK:
            raise cmd.usage_error(f"invalid field '{field}' must be a key=value pair")
        if key not in _FIELDS:
            raise cmd.usage_error(f"unexpected key '{key}' in '{field}'")
        part, name, how = _FIELDS[key]
        target = parts[part]
        if how == "kv":
            k, _, v = val.partition("=")
            target.setdefault(name, {})[k] = v
        else:
            target[name] = _value(cmd, key, how, val if eq else None)
    m, bind, vol, tmpfs = parts["mount"], parts["bind"], parts["volume"], parts["tmpfs"]
    if parts["driver"]:
        vol["DriverConfig"] = parts["driver"]
    _check_mix(cmd, m, bind, vol, tmpfs)
    for key, opts in (("BindOptions", bind), ("VolumeOptions", vol), ("TmpfsOptions", tmpfs)):
        if opts:
            m[key] = opts
    return m


def _value(cmd: Command, key: str, how: str, value: str | None) -> Any:
    """A --mount field's value read as `how` says (value None: the key given bare)."""
    from berth.cli.units import ram_in_bytes

    val = value or ""
    if how == "bool":
        return _bool(cmd, key, value)
    if how == "size":
        try:
            return ram_in_bytes(val)
        except ValueError as exc:
            raise cmd.usage_error(f"invalid value for {key}: {val}: {exc}") from None
    if how == "octal":
        try:
            return int(val, 8)
        except ValueError:
            raise cmd.usage_error(f"invalid value for {key}: {val}") from None
    return val


def _check_mix(
    cmd: Command,
    m: dict[str, Any],
    bind: dict[str, Any],
    vol: dict[str, Any],
    tmpfs: dict[str, Any],
) -> None:
    """A target is needed, and type-specific options only go with their type."""
    mtype = m["Type"]
    if not m.get("Target"):
        raise cmd.usage_error("target is required")
    for prefix, opts, kind in (("volume", vol, "volume"), ("bind", bind, "bind"),
                               ("tmpfs", tmpfs, "tmpfs")):  # fmt: skip
        if opts and mtype != kind:
            raise cmd.usage_error(f"cannot mix '{prefix}-*' options with mount type '{mtype}'")


def split_volumes(specs: list[str]) -> tuple[list[str], dict[str, Any]]:
    """-v values -> (Binds, Config.Volumes). A relative host path ("./x", "..") becomes
    absolute, as in the docker CLI; a lone path is an anonymous volume."""
    binds: list[str] = []
    volumes: dict[str, Any] = {}
    for v in specs:
        if ":" not in v:
            volumes[v] = {}
            continue
        src, _, rest = v.partition(":")
        if src.startswith(".") and (src in (".", "..") or src.startswith(("./", "../"))):
            v = os.path.abspath(src) + ":" + rest
        binds.append(v)
    return binds, volumes
