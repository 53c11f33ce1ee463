"""tmpfs mount options as dockerd reads them: a Mount's TmpfsOptions turned into mount
data, and mount data (--tmpfs, or that) merged over Docker's defaults (moby's
mount.MergeTmpfsOptions)."""

from __future__ import annotations

import posixpath
from typing import Any

from berth.engine.errors import InvalidParameter

DEFAULT_PROPAGATION = "rprivate"
PROPAGATION = ("private", "rprivate", "shared", "rshared", "slave", "rslave")
_TMPFS_DATA_KEYS = ("", "size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol")
# options accepted as flags in tmpfs data (moby's mount.MergeTmpfsOptions)
_TMPFS_FLAGS = (
    "ro", "rw", "suid", "nosuid", "dev", "nodev", "exec", "noexec", "sync", "async",
    "dirsync", "remount", "mand", "nomand", "atime", "noatime", "diratime", "nodiratime",
    "bind", "rbind", "unbindable", "runbindable", "private", "rprivate", "shared",
    "rshared", "slave", "rslave", "relatime", "norelatime", "strictatime", "nostrictatime",
)  # fmt: skip
_PROPAGATION_FLAGS = ("unbindable", "runbindable", *PROPAGATION)


def tmpfs_data(opts: dict[str, Any] | None, readonly: bool) -> str:
    """moby's ConvertTmpfsOptions: TmpfsOptions -> mount data."""
    raw: list[str] = ["ro"] if readonly else []
    opts = opts or {}
    mode = opts.get("Mode") or 0
    if mode:
        raw.append(f"mode={int(mode):o}")
    size = int(opts.get("SizeBytes") or 0)
    if size < 0:
        raise InvalidParameter(f'invalid mount config for type "tmpfs": invalid tmpfs size: {size}')
    if size:
        for suffix, div in (("g", 1 << 30), ("m", 1 << 20), ("k", 1 << 10)):
            if size % div == 0:
                raw.append(f"size={size // div}{suffix}")
                break
        else:
            raw.append(f"size={size}")
    for pair in opts.get("Options") or []:
        if isinstance(pair, list) and pair:
            raw.append("=".join(str(p) for p in pair))
    return ",".join(raw)


def merge_tmpfs_options(options: list[str]) -> list[str]:
    """moby's MergeTmpfsOptions: later options win; raises for an unknown option."""
    seen_flags: set[str] = set()
    seen_data: set[str] = set()
    out: list[str] = []
    groups = {
        "ro": "rdonly", "rw": "rdonly", "suid": "nosuid", "nosuid": "nosuid",
        "dev": "nodev", "nodev": "nodev", "exec": "noexec", "noexec": "noexec",
        "sync": "sync", "async": "sync", "mand": "mand", "nomand": "mand",
        "atime": "noatime", "noatime": "noatime", "diratime": "nodiratime",
        "nodiratime": "nodiratime", "relatime": "relatime", "norelatime": "relatime",
        "strictatime": "strictatime", "nostrictatime": "strictatime",
    }  # fmt: skip
    for opt in reversed(options):
        if opt == "defaults":
            continue
        if opt in _TMPFS_FLAGS:
            key = "propagation" if opt in _PROPAGATION_FLAGS else groups.get(opt, opt)
            if key not in seen_flags:
                out.insert(0, opt)
                seen_flags.add(key)
            continue
        k, eq, _ = opt.partition("=")
        if not eq or k not in _TMPFS_DATA_KEYS:
            parts = [k] if not eq else [k, opt.partition("=")[2]]
            quoted = " ".join(f'"{p}"' for p in parts)
            raise InvalidParameter(f"invalid tmpfs option [{quoted}]")
        if k not in seen_data:
            out.insert(0, opt)
            seen_data.add(k)
    return out


def tmpfs_options(data: str) -> list[str]:
    """The OCI options of a tmpfs mount with this data, with docker's defaults first."""
    base = ["noexec", "nosuid", "nodev", DEFAULT_PROPAGATION]
    return merge_tmpfs_options(base + ([o for o in data.split(",") if o] if data else []))


def validate_tmpfs(tmpfs: dict[str, str] | None) -> None:
    for dest, data in (tmpfs or {}).items():
        if posixpath.normpath(dest) == "/":
            raise InvalidParameter("invalid specification: destination can't be '/'")
        if not dest.startswith("/"):
            raise InvalidParameter(f"invalid mount path: '{dest}' mount path must be absolute")
        tmpfs_options(data or "")
