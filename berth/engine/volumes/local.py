"""The `local` volume driver: a directory <root>/<name>/_data, optionally with a
filesystem mounted on it while containers use it (`-o type=tmpfs,device=tmpfs,o=size=64m`),
and dockerd's copy of the image's content into a new, empty volume."""

from __future__ import annotations

import errno
import os
import shutil
import stat
from pathlib import Path

from berth.engine.errors import InvalidParameter, SystemError_
from berth.runtime import rootfs as rt_rootfs
from berth.runtime import syscalls

_VALID_OPTS = ("type", "o", "device", "size")
_MANDATORY = {"device": ("type",), "type": ("device",), "o": ("device", "type")}


def validate_opts(opts: dict[str, str] | None) -> None:
    if not opts:
        return
    for key in opts:
        if key not in _VALID_OPTS:
            raise InvalidParameter(f'invalid option: "{key}"')
    if "size" in opts:
        # quotas need xfs project quotas on the data root, which berth does not set up
        raise InvalidParameter("quota size requested but no quota support")
    for key, needs in _MANDATORY.items():
        if key in opts:
            for req in needs:
                if req not in opts:
                    raise InvalidParameter(f'missing required option: "{req}"')


def needs_mount(opts: dict[str, str] | None) -> bool:
    return bool(opts and (opts.get("type") or opts.get("device")))


class LocalDriver:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(mode=0o700, parents=True, exist_ok=True)

    def data_path(self, name: str) -> str:
        return str(self.root / name / "_data")

    def create(self, name: str) -> str:
        path = self.root / name / "_data"
        path.mkdir(mode=0o755, parents=True, exist_ok=True)
        return str(path)

    def remove(self, name: str) -> None:
        path = self.root / name
        rt_rootfs.unmount(str(path / "_data"))
        shutil.rmtree(path, ignore_errors=True)
        if path.exists():
            raise SystemError_(f"remove {name}: could not remove {path}")

    def mount(self, name: str, opts: dict[str, str]) -> None:
        """Mount the volume's filesystem on its _data directory, unless it already is."""
        target = self.data_path(name)
        if os.path.ismount(target):
            return
        device = opts.get("device") or ""
        if not device:
            raise SystemError_("missing device in volume options")
        flags, _, data = rt_rootfs.parse_options([o for o in opts.get("o", "").split(",") if o])
        try:
            syscalls.sys_.mount(device, target, opts.get("type") or None, flags, data or None)
        except OSError as exc:
            raise SystemError_(f"failed to mount local volume: {exc}") from exc

    def unmount(self, name: str) -> None:
        rt_rootfs.unmount(self.data_path(name))


def is_empty_dir(path: str) -> bool:
    try:
        with os.scandir(path) as it:
            return next(it, None) is None
    except OSError:
        return False


def dir_size(path: str) -> int:
    total = 0
    seen: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(path):
        for n in filenames + dirnames:
            try:
                st = os.lstat(os.path.join(dirpath, n))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            if not stat.S_ISDIR(st.st_mode):
                total += st.st_size
    return total


def copy_tree(src: str, dst: str) -> None:
    """Copy the contents of `src` into the (empty) directory `dst` keeping modes,
    owners, times, symlinks, hard links and special files; then give `dst` the owner
    and mode of `src`, as dockerd's copyExistingContents + copyOwnership do."""
    links: dict[tuple[int, int], str] = {}
    _copy_dir(src, dst, links)
    st = os.lstat(src)
    os.lchown(dst, st.st_uid, st.st_gid)
    os.chmod(dst, stat.S_IMODE(st.st_mode))


def _copy_dir(src: str, dst: str, links: dict[tuple[int, int], str]) -> None:
    with os.scandir(src) as it:
        entries = list(it)
    for e in entries:
        s, d = e.path, os.path.join(dst, e.name)
        st = os.lstat(s)
        mode = st.st_mode
        if stat.S_ISDIR(mode):
            os.mkdir(d, 0o700)
            _copy_dir(s, d, links)
        else:
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and key in links:
                os.link(links[key], d)
                continue
            if stat.S_ISLNK(mode):
                os.symlink(os.readlink(s), d)
            elif stat.S_ISREG(mode):
                shutil.copyfile(s, d, follow_symlinks=False)
            elif stat.S_ISFIFO(mode):
                os.mkfifo(d, 0o600)
            elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                os.mknod(d, mode, st.st_rdev)
            else:
                continue  # sockets are not content
            if st.st_nlink > 1:
                links[key] = d
        os.lchown(d, st.st_uid, st.st_gid)
        if not stat.S_ISLNK(mode):
            os.chmod(d, stat.S_IMODE(mode))
        try:
            os.utime(d, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
        except OSError as exc:
            if exc.errno != errno.EPERM:
                raise
