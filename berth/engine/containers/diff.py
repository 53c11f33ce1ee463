"""`docker diff` and the layer of `docker commit`, both read from the overlay upper dir.

In the upper dir a 0:0 character device is a whiteout (the file was deleted) and a
directory with trusted.overlay.opaque=y hides everything below it in the lowers.
dockerd keeps the files it creates for every container (/etc/hosts, mount points) in
an init layer under the container's; berth creates them in the upper dir, so they are
left out here as they would be there.
"""

from __future__ import annotations

import os
import posixpath
import stat
import tarfile
from typing import IO, Any

OPAQUE_XATTR = "trusted.overlay.opaque"
WHITEOUT_PREFIX = ".wh."
WHITEOUT_OPAQUE = ".wh..wh..opq"

MODIFIED, ADDED, DELETED = 0, 1, 2

# what dockerd's init layer holds (daemon/initlayer), and so never shows in a diff
INIT_PATHS = frozenset(
    {
        "/dev/pts",
        "/dev/shm",
        "/dev/console",
        "/proc",
        "/sys",
        "/.dockerenv",
        "/etc/resolv.conf",
        "/etc/hosts",
        "/etc/hostname",
        "/etc/mtab",
    }
)
_INIT_PARENTS = frozenset({"/dev", "/etc"})


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0)


def _is_opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def _in_init(cpath: str) -> bool:
    return any(cpath == p or cpath.startswith(p + "/") for p in INIT_PATHS)


def walk_upper(upper: str) -> list[tuple[str, str, os.stat_result]]:
    """(container path, host path, lstat) of every entry of the upper dir, parents
    first, init-layer paths left out."""
    out: list[tuple[str, str, os.stat_result]] = []

    def visit(host_dir: str, cdir: str) -> None:
        try:
            names = sorted(os.listdir(host_dir))
        except FileNotFoundError:
            return
        for n in names:
            host = os.path.join(host_dir, n)
            cpath = posixpath.join(cdir, n)
            if _in_init(cpath):
                continue
            st = os.lstat(host)
            out.append((cpath, host, st))
            if stat.S_ISDIR(st.st_mode):
                visit(host, cpath)

    visit(upper, "/")
    return out


def _exists_below(lowers: list[str], cpath: str) -> bool:
    rel = cpath.lstrip("/")
    return any(os.path.lexists(os.path.join(d, rel)) for d in lowers)


def changes(upper: str, lowers: list[str]) -> list[dict[str, Any]]:
    """GET /containers/{id}/changes: [{"Path", "Kind"}] sorted by path. `lowers` are the
    image's layer dirs (any order)."""
    entries = walk_upper(upper)
    out: list[dict[str, Any]] = []
    for cpath, _host, st in entries:
        if _is_whiteout(st):
            out.append({"Path": cpath, "Kind": DELETED})
        elif _exists_below(lowers, cpath):
            out.append({"Path": cpath, "Kind": MODIFIED})
        else:
            out.append({"Path": cpath, "Kind": ADDED})
    # /etc or /dev copied up only for the init files: no change of the container's own
    kept = [
        ch
        for ch in out
        if ch["Path"] not in _INIT_PARENTS
        or any(o["Path"].startswith(ch["Path"] + "/") for o in out)
    ]
    kept.sort(key=lambda ch: ch["Path"])
    return kept


def write_layer(upper: str, out: IO[bytes]) -> int:
    """The upper dir as an OCI layer tar (whiteouts as .wh. files, opaque dirs with a
    .wh..wh..opq entry). Returns the number of entries written."""
    n = 0
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
        for cpath, host, st in walk_upper(upper):
            name = cpath.lstrip("/")
            if _is_whiteout(st):
                d, base = posixpath.split(name)
                ti = tarfile.TarInfo(posixpath.join(d, WHITEOUT_PREFIX + base))
                ti.mtime = int(st.st_mtime)
                tf.addfile(ti)
                n += 1
                continue
            ti = tf.gettarinfo(host, name)
            if ti is None:
                continue  # sockets
            ti.uname = ti.gname = ""
            ti.mtime = int(ti.mtime)  # a float mtime costs a PAX header per entry
            if ti.isreg():
                with open(host, "rb") as f:
                    tf.addfile(ti, f)
            else:
                tf.addfile(ti)
            n += 1
            if ti.isdir() and _is_opaque(host):
                op = tarfile.TarInfo(posixpath.join(name, WHITEOUT_OPAQUE))
                op.mtime = int(st.st_mtime)
                tf.addfile(op)
                n += 1
    return n
