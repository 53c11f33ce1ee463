"""PUT /containers/{id}/archive: tar members created inside a container's root.

Each member's parent directory is resolved inside the root (rootdir.Root: `..` stops
at `/`, links are followed as if the root were `/`, missing directories are made) to
an fd, and the member is created in that fd without following a link; its owner, mode
and times are set through the same fd (or, for a regular file, through its own fd).
Whatever the container renames meanwhile, nothing lands outside its root.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import shutil
import stat
import tarfile
from typing import IO

from berth.engine.errors import InvalidParameter
from berth.runtime import rootdir

_CHUNK = 1 << 16


def _ns(mtime: float) -> tuple[int, int]:
    t = int(mtime * 1_000_000_000)
    return t, t


class Extractor:
    """Tar members into `root` below the container directory `dest_abs` (resolved)."""

    def __init__(
        self, root: rootdir.Root, dest_abs: str, no_overwrite: bool, copy_ids: bool
    ) -> None:
        self.root = root
        self.dest_abs = dest_abs
        self.no_overwrite = no_overwrite
        self.copy_ids = copy_ids
        self.dir_times: list[tuple[str, float]] = []

    def _locate(self, cpath: str) -> tuple[int, str]:
        """(fd of the directory holding container path cpath, its name there)."""
        if cpath == "/":
            return os.dup(self.root.fd), "."
        return self.root.open_parent(cpath)

    def _target(self, name: str) -> tuple[int, str, str]:
        """(parent dir fd, name in it, container path) of tar member `name`; the parent
        is made if it is missing."""
        rel = posixpath.normpath(name.lstrip("/"))
        if rel in (".", ""):
            return (*self._locate(self.dest_abs), self.dest_abs)
        if rel == ".." or rel.startswith("../"):
            raise InvalidParameter(f"invalid tar archive: {name!r} is outside the destination")
        cpath = posixpath.join(self.dest_abs, rel)
        head, base = posixpath.split(cpath)
        return self.root.mkdir_all(head), base, cpath

    def extract(self, src: IO[bytes]) -> None:
        try:
            tf = tarfile.open(fileobj=src, mode="r|*")
        except tarfile.TarError as exc:
            raise InvalidParameter(f"invalid tar archive: {exc}") from exc
        try:
            with tf:
                for ti in tf:
                    self.entry(tf, ti)
        except tarfile.TarError as exc:
            raise InvalidParameter(f"invalid tar archive: {exc}") from exc
        self.finish()

    def entry(self, tf: tarfile.TarFile, ti: tarfile.TarInfo) -> None:
        dirfd, name, cpath = self._target(ti.name)
        try:
            self._entry(dirfd, name, cpath, tf, ti)
        finally:
            os.close(dirfd)

    def _entry(
        self, dirfd: int, name: str, cpath: str, tf: tarfile.TarFile, ti: tarfile.TarInfo
    ) -> None:
        try:
            old: os.stat_result | None = rootdir.lstat_at(dirfd, name)
        except FileNotFoundError:
            old = None
        if old is not None:
            if stat.S_ISDIR(old.st_mode):
                if ti.isdir():
                    self._meta(dirfd, name, ti)
                    self.dir_times.append((cpath, ti.mtime))
                    return
                if self.no_overwrite or name == ".":
                    raise InvalidParameter(
                        f"cannot overwrite directory {cpath!r} with non-directory {ti.name!r}"
                    )
                rootdir.rmtree_at(dirfd, name)
            else:
                if ti.isdir() and self.no_overwrite:
                    raise InvalidParameter(
                        f"cannot overwrite non-directory {cpath!r} with directory {ti.name!r}"
                    )
                rootdir.unlink_at(dirfd, name)
        if ti.isdir():
            rootdir.mkdir_at(dirfd, name, 0o700)
            self.dir_times.append((cpath, ti.mtime))
        elif ti.isreg():
            self._file(dirfd, name, tf, ti)
            return
        elif ti.issym():
            rootdir.symlink_at(ti.linkname, dirfd, name)
        elif ti.islnk():
            src_fd, src_name, _ = self._target(ti.linkname)
            try:
                rootdir.link_at(src_fd, src_name, dirfd, name)
            finally:
                os.close(src_fd)
            return
        elif ti.ischr() or ti.isblk():
            kind = stat.S_IFCHR if ti.ischr() else stat.S_IFBLK
            rootdir.mknod_at(dirfd, name, kind | 0o600, os.makedev(ti.devmajor, ti.devminor))
        elif ti.isfifo():
            rootdir.mkfifo_at(dirfd, name, 0o600)
        else:
            return  # other member types are skipped, as dockerd's untar does
        self._meta(dirfd, name, ti)
        if not ti.isdir():
            rootdir.lutime_at(dirfd, name, _ns(ti.mtime))

    def _ids(self, ti: tarfile.TarInfo) -> tuple[int, int]:
        return (ti.uid, ti.gid) if self.copy_ids else (0, 0)

    def _file(self, dirfd: int, name: str, tf: tarfile.TarFile, ti: tarfile.TarInfo) -> None:
        f = tf.extractfile(ti)
        assert f is not None
        fd = rootdir.create_at(dirfd, name, 0o600)
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(f, out, _CHUNK)
            out.flush()
            # through the file's own fd: the name may already mean something else
            os.chown(fd, *self._ids(ti))
            os.chmod(fd, ti.mode & 0o7777)
            os.utime(fd, ns=_ns(ti.mtime))

    def _meta(self, dirfd: int, name: str, ti: tarfile.TarInfo) -> None:
        rootdir.lchown_at(dirfd, name, *self._ids(ti))
        if not ti.issym():
            rootdir.lchmod_at(dirfd, name, ti.mode & 0o7777)

    def finish(self) -> None:
        """Directory times last: extracting into a directory changes its mtime."""
        for cpath, mtime in reversed(self.dir_times):
            with contextlib.suppress(OSError, ValueError):
                dirfd, name = self._locate(cpath)
                try:
                    rootdir.lutime_at(dirfd, name, _ns(mtime))
                finally:
                    os.close(dirfd)
