"""Tar entries for the objects fdtree.walk() meets in a container's tree: headers from
the stat taken through the fds, file contents read from fds opened O_NOFOLLOW in the
parent directory's fd. Shared by `docker cp`/`export` and the layer of `docker commit`."""

from __future__ import annotations

import errno
import os
import stat
import tarfile
from dataclasses import replace
from typing import IO

from berth.runtime import rootdir
from berth.runtime.fdtree import Entry

_RETRIES = 4


class _Exact:
    """Exactly the size the header announced: a file that shrinks while it is read is
    padded with zeros (tarfile would fail the whole stream), one that grows is cut."""

    def __init__(self, f: IO[bytes]) -> None:
        self.f = f

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        return data + b"\0" * (n - len(data)) if n > 0 and len(data) < n else data


class TreeTar:
    """Adds walk() entries to a tar stream, hard links as links to the first name."""

    def __init__(self, tf: tarfile.TarFile) -> None:
        self.tf = tf
        self.inodes: dict[tuple[int, int], str] = {}

    def add(self, e: Entry, arcname: str) -> bool:
        """Write `e` as `arcname`; False if it was left out (a socket, or it vanished).
        If the container replaces it meanwhile, what is there now is written."""
        for _ in range(_RETRIES):
            done = self._try(e, arcname)
            if done is not None:
                return done
            try:
                e = replace(e, st=rootdir.lstat_at(e.dirfd, e.name))
            except FileNotFoundError:
                return False
        return False

    def _header(self, arcname: str, st: os.stat_result) -> tarfile.TarInfo:
        ti = tarfile.TarInfo(arcname)
        ti.mode = stat.S_IMODE(st.st_mode)
        ti.uid, ti.gid = st.st_uid, st.st_gid
        ti.uname = ti.gname = ""
        ti.mtime = int(st.st_mtime)  # a float mtime costs a PAX header per entry
        return ti

    def _try(self, e: Entry, arcname: str) -> bool | None:
        """None: the object changed kind under us, look again."""
        mode = e.st.st_mode
        if stat.S_ISREG(mode):
            return self._file(e, arcname)
        ti = self._header(arcname, e.st)
        if stat.S_ISDIR(mode):
            ti.type = tarfile.DIRTYPE
        elif stat.S_ISLNK(mode):
            try:
                ti.linkname = rootdir.readlink_at(e.dirfd, e.name)
            except OSError as exc:
                if exc.errno in (errno.EINVAL, errno.ENOENT):
                    return None
                raise
            ti.type = tarfile.SYMTYPE
        elif stat.S_ISFIFO(mode):
            ti.type = tarfile.FIFOTYPE
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            ti.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
            ti.devmajor, ti.devminor = os.major(e.st.st_rdev), os.minor(e.st.st_rdev)
        else:
            return False  # sockets are not archived
        self.tf.addfile(ti)
        return True

    def _link_to(self, st: os.stat_result, arcname: str) -> str | None:
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1:
            first = self.inodes.setdefault(key, arcname)
            if first != arcname:
                return first
        return None

    def _file(self, e: Entry, arcname: str) -> bool | None:
        try:
            # O_NONBLOCK: a FIFO swapped in for the file must not hang the stream
            fd = rootdir.open_at(e.dirfd, e.name, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOENT, errno.ENXIO):
                return None
            raise
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(fd)  # what was opened is what is described
            if not stat.S_ISREG(st.st_mode):
                return None
            first = self._link_to(st, arcname)
            ti = self._header(arcname, st)
            if first is not None:
                ti.type, ti.linkname = tarfile.LNKTYPE, first
                self.tf.addfile(ti)
                return True
            ti.size = st.st_size
            self.tf.addfile(ti, _Exact(f))  # type: ignore[arg-type]
        return True
