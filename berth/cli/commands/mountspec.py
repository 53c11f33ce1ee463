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


def parse_mount(cmd: Command, spec: str) -> dict[str, Any]:
    """One --mount value (CSV of key=value) -> the API's Mount object."""
    from berth.cli.units import ram_in_bytes

    m: dict[str, Any] = {"Type": "volume"}
    bind: dict[str, Any] = {}
    vol: dict[str, Any] = {}
    drv: dict[str, Any] = {}
    tmpfs: dict[str, Any] = {}
    for field in (f.strip() for f in spec.split(",")):
        if not field:
            continue
        key, eq, val = field.partition("=")
        key = key.lower()
        if not eq and key not in _BARE_OK:
            raise cmd.usage_error(f"invalid field '{field}' must be a key=value pair")
        value = val if eq else None
        if key == "type":
            m["Type"] = val
        elif key in ("source", "src"):
            m["Source"] = val
        elif key in ("target", "dst", "destination"):
            m["Target"] = val
        elif key in ("readonly", "ro"):
            m["ReadOnly"] = _bool(cmd, key, value)
        elif key == "consistency":
            m["Consistency"] = val
        elif key == "bind-propagation":
            bind["Propagation"] = val
        elif key == "bind-nonrecursive":
            bind["NonRecursive"] = _bool(cmd, key, value)
        elif key == "bind-create-mountpoint":
            bind["CreateMountpoint"] = _bool(cmd, key, value)
        elif key == "volume-nocopy":
            vol["NoCopy"] = _bool(cmd, key, value)
        elif key == "volume-subpath":
            vol["Subpath"] = val
        elif key == "volume-label":
            k, _, v = val.partition("=")
            vol.setdefault("Labels", {})[k] = v
        elif key == "volume-driver":
            drv["Name"] = val
        elif key == "volume-opt":
            k, _, v = val.partition("=")
            drv.setdefault("Options", {})[k] = v
        elif key == "tmpfs-size":
            try:
                tmpfs["SizeBytes"] = ram_in_bytes(val)
            except ValueError as exc:
                raise cmd.usage_error(f"invalid value for {key}: {val}: {exc}") from None
        elif key == "tmpfs-mode":
            try:
                tmpfs["Mode"] = int(val, 8)
            except ValueError:
                raise cmd.usage_error(f"invalid value for {key}: {val}") from None
        else:
            raise cmd.usage_error(f"unexpected key '{key}' in '{field}'")
    if drv:
        vol["DriverConfig"] = drv
    mtype = m["Type"]
    if not m.get("Target"):
        raise cmd.usage_error("target is required")
    if vol and mtype != "volume":
        raise cmd.usage_error(f"cannot mix 'volume-*' options with mount type '{mtype}'")
    if bind and mtype != "bind":
        raise cmd.usage_error(f"cannot mix 'bind-*' options with mount type '{mtype}'")
    if tmpfs and mtype != "tmpfs":
        raise cmd.usage_error(f"cannot mix 'tmpfs-*' options with mount type '{mtype}'")
    if bind:
        m["BindOptions"] = bind
    if vol:
        m["VolumeOptions"] = vol
    if tmpfs:
        m["TmpfsOptions"] = tmpfs
    return m


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
