"""`docker diff` and the layer of `docker commit`, both read from the overlay upper dir.

In the upper dir a 0:0 character device is a whiteout (the file was deleted) and a
directory with trusted.overlay.opaque=y hides everything below it in the lowers.
dockerd keeps the files it creates for every container (/etc/hosts, mount points) in
an init layer under the container's; berth creates them in the upper dir, so they are
left out here as they would be there.

The upper dir is written by the running container, so it is read like a container's
root: walked through directory fds opened O_NOFOLLOW (fdtree.walk), never by host
path, so a directory swapped for a symlink to `/` is met as the symlink.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import stat
import tarfile
from collections.abc import Iterator
from typing import IO, Any

from berth.engine.containers.tartree import TreeTar
from berth.runtime import fdtree, rootdir

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


def _is_opaque(e: fdtree.Entry) -> bool:
    return e.fd is not None and rootdir.getxattr_fd(e.fd, OPAQUE_XATTR) == b"y"


# relative to the upper dir, as fdtree.walk names what it meets
_PRUNE = frozenset(p.lstrip("/") for p in INIT_PATHS)


@contextlib.contextmanager
def _walk_upper(upper: str) -> Iterator[Iterator[fdtree.Entry]]:
    """Every entry of the upper dir, parents first, init-layer paths left out; the
    entries' fds are valid until the walk moves on."""
    try:
        fd = os.open(upper, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        yield iter(())
        return
    walk = fdtree.walk(fd, ".", prune=_PRUNE)
    try:
        next(walk, None)  # the upper dir itself
        yield walk
    finally:
        walk.close()
        os.close(fd)


def walk_upper(upper: str) -> list[tuple[str, os.stat_result]]:
    """(container path, lstat) of every entry of the upper dir, parents first,
    init-layer paths left out."""
    with _walk_upper(upper) as entries:
        return [("/" + e.path, e.st) for e in entries]


def _exists_below(lowers: list[int], cpath: str) -> bool:
    # as overlayfs looks a path up in a layer: component by component, no link followed
    return any(fdtree.exists_beneath(fd, cpath.lstrip("/")) for fd in lowers)


def changes(upper: str, lowers: list[str]) -> list[dict[str, Any]]:
    """GET /containers/{id}/changes: [{"Path", "Kind"}] sorted by path. `lowers` are the
    image's layer dirs (any order)."""
    entries = walk_upper(upper)
    out: list[dict[str, Any]] = []
    lower_fds = [os.open(d, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC) for d in lowers]
    try:
        for cpath, st in entries:
            if _is_whiteout(st):
                out.append({"Path": cpath, "Kind": DELETED})
            elif _exists_below(lower_fds, cpath):
                out.append({"Path": cpath, "Kind": MODIFIED})
            else:
                out.append({"Path": cpath, "Kind": ADDED})
    finally:
        for fd in lower_fds:
            os.close(fd)
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
    with (
        tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf,
        _walk_upper(upper) as entries,
    ):
        tt = TreeTar(tf)
        for e in entries:
            name, st = e.path, e.st
            if _is_whiteout(st):
                d, base = posixpath.split(name)
                ti = tarfile.TarInfo(posixpath.join(d, WHITEOUT_PREFIX + base))
                ti.mtime = int(st.st_mtime)
                tf.addfile(ti)
                n += 1
                continue
            if not tt.add(e, name):
                continue  # sockets, or gone
            n += 1
            if _is_opaque(e):
                op = tarfile.TarInfo(posixpath.join(name, WHITEOUT_OPAQUE))
                op.mtime = int(st.st_mtime)
                tf.addfile(op)
                n += 1
    return n


def upper_size(upper: str) -> int:
    """The container's SizeRw: dockerd's directory.Size of its upper dir (the bytes of
    every non-directory, a hard-linked inode counted once), the init-layer paths left
    out as dockerd's init layer is."""
    seen: set[int] = set()
    total = 0
    with _walk_upper(upper) as entries:
        for e in entries:
            st = e.st
            if stat.S_ISDIR(st.st_mode) or not st.st_size or st.st_ino in seen:
                continue
            seen.add(st.st_ino)
            total += st.st_size
    return total
