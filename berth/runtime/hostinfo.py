"""What `docker info` reports of the host, read from the kernel: the data root's
filesystem, whether it keeps d_type, swap accounting, /proc and /sys values."""

from __future__ import annotations

import ctypes
import os
import tempfile
from pathlib import Path


def read_proc(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def swap_limit(v2: bool) -> bool:
    """dockerd's sysinfo: memory.swap.max in berthd's own cgroup (v2), the memory
    hierarchy's memory.memsw.limit_in_bytes (v1)."""
    if not v2:
        return os.path.exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")
    for line in read_proc("/proc/self/cgroup").splitlines():
        if line.startswith("0::"):
            group = line[3:]
            return bool(group) and os.path.exists(f"/sys/fs/cgroup{group}/memory.swap.max")
    return False


# moby's pkg/fsutils and graphdriver FsNames: statfs f_type -> the name docker info shows
_FS_MAGIC = {
    0xEF53: "extfs", 0x58465342: "xfs", 0x9123683E: "btrfs", 0x794C7630: "overlayfs",
    0x01021994: "tmpfs", 0x2FC12FC1: "zfs", 0x6969: "nfs", 0x65735546: "fuse",
    0x61756673: "aufs", 0xF2F52010: "f2fs", 0x858458F6: "ramfs", 0x52654973: "reiserfs",
    0x517B: "smb", 0x73717368: "squashfs", 0x47504653: "gpfs", 0x3153464A: "jfs",
    0xA501FCF5: "vxfs", 0x28CD3D45: "cramfs", 0xF15F: "ecryptfs", 0x72B6: "jffs2",
}  # fmt: skip


def fs_name(path: Path) -> str:
    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(256)  # struct statfs; f_type (a long) comes first
    if libc.statfs(os.fsencode(path), buf) != 0:
        return "<unknown>"
    magic = ctypes.c_long.from_buffer(buf).value & 0xFFFFFFFF
    return _FS_MAGIC.get(magic, "<unknown>")


_SYS_GETDENTS64 = {"x86_64": 217, "aarch64": 61}


def supports_dtype(path: Path) -> bool:
    """moby's fsutils.SupportsDType: entries read back with getdents64 carry a d_type
    (xfs made with ftype=0 gives DT_UNKNOWN, which overlay cannot work on)."""
    nr = _SYS_GETDENTS64.get(os.uname().machine)
    if nr is None:
        return True  # no way to ask here; every filesystem berth runs on has it
    libc = ctypes.CDLL(None, use_errno=True)
    with tempfile.TemporaryDirectory(dir=path, prefix="dtype-") as tmp:
        os.mkdir(os.path.join(tmp, "d"))
        fd = os.open(tmp, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            buf = ctypes.create_string_buffer(4096)
            n = libc.syscall(nr, fd, buf, len(buf))
        finally:
            os.close(fd)
        raw, pos = buf.raw[: max(n, 0)], 0
        while pos + 19 < len(raw):  # linux_dirent64: ino 8, off 8, reclen 2, type 1, name
            reclen = int.from_bytes(raw[pos + 16 : pos + 18], "little")
            name = raw[pos + 19 : pos + reclen].split(b"\0", 1)[0]
            if name == b"d":
                return raw[pos + 18] != 0
            if reclen == 0:
                break
            pos += reclen
    return False
