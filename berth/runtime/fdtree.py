"""Trees read and copied through directory fds (see rootdir.py for why): a walk that
enters every directory O_NOFOLLOW relative to its parent's fd, a no-link lookup below
a directory, and the copy of image content into a new volume."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Generator, Iterator
from dataclasses import dataclass

from berth.runtime.rootdir import (
    O_LOOK,
    create_at,
    lchmod_at,
    lchown_at,
    link_at,
    listdir,
    lstat_at,
    lutime_at,
    mkdir_at,
    mkfifo_at,
    mknod_at,
    name_ok,
    open_at,
    open_dir_at,
    readlink_at,
    symlink_at,
)


def open_beneath(dirfd: int, relpath: str) -> int:
    """O_PATH fd of `relpath` below dirfd following no link at all (an overlay layer's
    own view of a path)."""
    parts = [p for p in relpath.split("/") if p not in ("", ".")]
    fd = os.dup(dirfd)
    try:
        for i, p in enumerate(parts):
            flags = O_LOOK if i == len(parts) - 1 else O_LOOK | os.O_DIRECTORY
            nxt = os.open(name_ok(p), flags, dir_fd=fd)
            os.close(fd)
            fd = nxt
            if i < len(parts) - 1 and not stat.S_ISDIR(os.fstat(fd).st_mode):
                raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), relpath)
    except BaseException:
        os.close(fd)
        raise
    return fd


def exists_beneath(dirfd: int, relpath: str) -> bool:
    try:
        os.close(open_beneath(dirfd, relpath))
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as e:
        if e.errno == errno.ELOOP:
            return False
        raise
    return True


@dataclass
class Entry:
    """One object met by walk(): valid (its fds open) until the walk goes on."""

    dirfd: int  # the directory holding it
    name: str  # its name in dirfd ("." for a top given as a directory fd)
    path: str  # relative to the top, "" for the top
    st: os.stat_result  # not followed; for a directory, that of `fd`
    fd: int | None  # a directory's own readable fd (opened O_NOFOLLOW)


def _entry(dirfd: int, name: str, path: str) -> Entry | None:
    for _ in range(8):
        try:
            st = lstat_at(dirfd, name)
        except FileNotFoundError:
            return None
        if not stat.S_ISDIR(st.st_mode):
            return Entry(dirfd, name, path, st, None)
        try:
            fd = open_dir_at(dirfd, name)
        except OSError as e:
            if e.errno in (errno.ELOOP, errno.ENOTDIR, errno.ENOENT):
                continue  # swapped since the lstat: look again
            raise
        return Entry(dirfd, name, path, os.fstat(fd), fd)
    return None  # it keeps changing under us: leave it out


def walk(
    dirfd: int, name: str, *, prune: frozenset[str] = frozenset()
) -> Generator[Entry, None, None]:
    """`name` in dirfd, then (a directory) everything below it, parents first and in
    name order. Directories are entered through fds opened O_NOFOLLOW relative to
    their parent's, so a link swapped in at any moment is met as a link. Paths in
    `prune` (relative to the top) are left out with everything below them."""
    top = _entry(dirfd, name, "")
    if top is None:
        return
    stack: list[tuple[int, str, Iterator[str]]] = []
    try:
        if top.fd is not None:
            stack.append((top.fd, "", iter(listdir(top.fd))))
        yield top
        while stack:
            fd, base, names = stack[-1]
            n = next(names, None)
            if n is None:
                stack.pop()
                os.close(fd)
                continue
            path = f"{base}/{n}" if base else n
            if path in prune:
                continue
            e = _entry(fd, n, path)
            if e is None:
                continue
            if e.fd is not None:
                stack.append((e.fd, path, iter(listdir(e.fd))))
            yield e
    finally:
        for fd, _, _ in stack:
            os.close(fd)


def copy_tree(src_fd: int, dst_fd: int) -> None:
    """Copy the contents of directory src_fd into the (empty) directory dst_fd keeping
    modes, owners, times, symlinks, hard links and special files, then give dst the
    owner and mode of src (dockerd's copyExistingContents + copyOwnership). Both sides
    are reached only through fds: the destination may be a volume that a running
    container shares."""
    links: dict[tuple[int, int], str] = {}
    _copy_dir(src_fd, dst_fd, "", links, dst_fd)
    st = os.fstat(src_fd)
    os.chown(dst_fd, st.st_uid, st.st_gid)
    os.chmod(dst_fd, stat.S_IMODE(st.st_mode))


def _copy_dir(src: int, dst: int, rel: str, links: dict[tuple[int, int], str], top: int) -> None:
    for n in os.listdir(src):
        path = f"{rel}/{n}" if rel else n
        st = lstat_at(src, n)
        mode = st.st_mode
        if stat.S_ISDIR(mode):
            mkdir_at(dst, n, 0o700)
            s, d = open_dir_at(src, n), open_dir_at(dst, n)
            try:
                _copy_dir(s, d, path, links, top)
            finally:
                os.close(s)
                os.close(d)
        else:
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and key in links:
                head, _, base = links[key].rpartition("/")
                parent = open_beneath(top, head)
                try:
                    link_at(parent, base, dst, n)
                finally:
                    os.close(parent)
                continue
            if stat.S_ISLNK(mode):
                symlink_at(readlink_at(src, n), dst, n)
            elif stat.S_ISREG(mode):
                _copy_file(src, dst, n)
            elif stat.S_ISFIFO(mode):
                mkfifo_at(dst, n)
            elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                mknod_at(dst, n, mode, st.st_rdev)
            else:
                continue  # sockets are not content
            if st.st_nlink > 1:
                links[key] = path
        lchown_at(dst, n, st.st_uid, st.st_gid)
        if not stat.S_ISLNK(mode):
            lchmod_at(dst, n, stat.S_IMODE(mode))
        try:
            lutime_at(dst, n, (st.st_atime_ns, st.st_mtime_ns))
        except PermissionError:
            pass


def _copy_file(src: int, dst: int, name: str) -> None:
    fi = open_at(src, name, os.O_RDONLY | os.O_NONBLOCK)
    try:
        fo = create_at(dst, name)
        try:
            while os.sendfile(fo, fi, None, 1 << 20):
                pass
        finally:
            os.close(fo)
    finally:
        os.close(fi)
