"""A container's root directory held as an fd: the one place where paths that come from
a container (or name things a container can change) are resolved on the host.

A path resolved as a string and opened later by name is a race a container wins
(CVE-2018-15664): between the two it swaps a directory for a symlink to `/` and the
open lands on the host. Here nothing is opened by a host path. `Root.open` asks the
kernel to resolve the whole path with `/` pinned at the root fd (openat2 with
RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS). Without openat2 (ENOSYS) the walk is done by
hand, one component at a time: each name is opened O_PATH|O_NOFOLLOW relative to the
fd of the directory before it, symlinks are read from the fd that was opened (not by
name) and expanded here, an absolute target restarts at the root fd and `..` pops a
stack of fds, never above the root. Each fd is a child of the one before it, so all
are inside the root whatever the container renames meanwhile (it cannot move a
directory out of its own root): the fallback is race-free by construction, not by
re-checking. Creating missing directories (`mkdir_all`) always takes that walk.

The `*_at` helpers act on one name inside a directory fd and never follow a link in
it; fdtree.py walks and copies whole trees the same way. BERTH_ROOTDIR_RESOLVE=fallback
in the environment (or `rootdir.resolve_mode = "fallback"`) forces the walk by hand:
the tests run everything both ways.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import stat
from collections import deque

MODE_ENV = "BERTH_ROOTDIR_RESOLVE"
# "auto": openat2 if the kernel has it; "openat2": only openat2 (an error without it);
# "fallback": always the walk by hand
resolve_mode: str = os.environ.get(MODE_ENV, "auto")

RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_IN_ROOT = 0x10
MAXSYMLINKS = 40  # as the kernel's
PROC_SUPER_MAGIC = 0x9FA0

# openat2 has the same number on every architecture that has the unified syscall table
_SYS_OPENAT2 = {"x86_64": 437, "aarch64": 437, "riscv64": 437, "ppc64le": 437, "s390x": 437}.get(
    platform.machine()
)
# a rename anywhere on the host while a ".." is resolved makes openat2 answer EAGAIN
_OPENAT2_TRIES = 16
_REOPEN_TRIES = 64
_O_PATH_DIR = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC
O_LOOK = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long
_fstatfs = _libc.fstatfs
_fstatfs.argtypes = [ctypes.c_int, ctypes.c_void_p]
_have_openat2: bool | None = None if _SYS_OPENAT2 is not None else False


def _openat2(dirfd: int, path: str, flags: int) -> int:
    assert _SYS_OPENAT2 is not None
    how = _OpenHow(flags, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
    fd = _syscall(
        ctypes.c_long(_SYS_OPENAT2),
        ctypes.c_int(dirfd),
        ctypes.c_char_p(os.fsencode(path)),
        ctypes.byref(how),
        ctypes.c_size_t(ctypes.sizeof(how)),
    )
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), path)
    return int(fd)


def openat2_available() -> bool:
    """Whether the kernel has openat2 (probed once, on the first call)."""
    global _have_openat2
    if _have_openat2 is None:
        try:
            os.close(_openat2(-100, "/", _O_PATH_DIR))  # AT_FDCWD
            _have_openat2 = True
        except OSError as e:
            if e.errno not in (errno.ENOSYS, errno.EPERM):
                raise
            _have_openat2 = False
    return _have_openat2


def _use_openat2() -> bool:
    if resolve_mode == "fallback":
        return False
    if resolve_mode == "openat2":
        if not openat2_available():
            raise OSError(errno.ENOSYS, "openat2 is not available")
        return True
    return openat2_available()


def _on_procfs(fd: int) -> bool:
    buf = ctypes.create_string_buffer(256)  # struct statfs, f_type first
    if _fstatfs(fd, buf) != 0:
        return False
    return ctypes.c_long.from_buffer(buf).value == PROC_SUPER_MAGIC


def _readlink_fd(fd: int) -> str:
    # readlinkat(fd, "") reads the link that was opened, whatever its name means now
    return os.readlink("", dir_fd=fd)


class _Swapped(Exception):
    """The name reopened was not the object resolved: look again."""


def _walk(
    root_fd: int,
    path: str,
    *,
    follow_last: bool = True,
    mkdir_mode: int | None = None,
    trail: list[str] | None = None,
    lenient: bool = False,
) -> int:
    """The O_PATH fd of `path` resolved by hand inside root_fd (see the module's
    docstring). mkdir_mode: create what is missing as directories. trail receives the
    resolved components. lenient: from a missing component on, names are kept
    literally (a `..` back out of them resolves again) and -1 is returned if the path
    ends among them."""
    w = _Walk(root_fd, path, follow_last=follow_last, mkdir_mode=mkdir_mode, lenient=lenient)
    try:
        w.run()
        if trail is not None:
            trail[:] = w.names
        if w.literal:
            return -1
        return w.stack.pop() if w.stack else os.dup(root_fd)
    finally:
        for fd in w.stack:
            os.close(fd)


class _Walk:
    """The state of one walk by hand: the fds opened below the root (owned here until
    _walk hands the last one out), the names they were reached by, how many of the last
    names exist only as text (lenient), and how many links were followed."""

    def __init__(
        self, root_fd: int, path: str, *, follow_last: bool, mkdir_mode: int | None, lenient: bool
    ) -> None:
        self.root_fd = root_fd
        self.path = path
        self.follow_last = follow_last
        self.mkdir_mode = mkdir_mode
        self.lenient = lenient
        self.parts = deque(path.split("/"))
        self.stack: list[int] = []
        self.names: list[str] = []
        self.literal = 0
        self.hops = 0

    def run(self) -> None:
        while self.parts:
            name = self.parts.popleft()
            if name in ("", "."):
                continue
            if name == "..":
                self._up()
            elif self.literal:
                self._as_text(name)
            else:
                self._step(name)

    def _up(self) -> None:
        if self.literal:
            self.literal -= 1
            self.names.pop()
        elif self.stack:
            os.close(self.stack.pop())
            self.names.pop()

    def _as_text(self, name: str) -> None:
        self.literal += 1
        self.names.append(name)

    def _step(self, name: str) -> None:
        """Into `name` below the current directory: a directory is pushed, a link expanded."""
        fd = self._open(name)
        if fd < 0:
            return
        st = os.fstat(fd)
        if stat.S_ISLNK(st.st_mode) and (self.parts or self.follow_last):
            self._follow(fd)
            return
        if self.parts and not stat.S_ISDIR(st.st_mode):
            os.close(fd)
            if self.lenient:
                self._as_text(name)
                return
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), self.path)
        self.stack.append(fd)
        self.names.append(name)

    def _open(self, name: str) -> int:
        """O_PATH fd of `name` in the current directory, made first if missing and asked
        to; -1 if missing and lenient (the name is then kept as text)."""
        cur = self.stack[-1] if self.stack else self.root_fd
        try:
            return os.open(name, O_LOOK, dir_fd=cur)
        except FileNotFoundError:
            if self.lenient:
                self._as_text(name)
                return -1
            if self.mkdir_mode is None:
                raise
        try:
            os.mkdir(name, self.mkdir_mode, dir_fd=cur)
        except FileExistsError:
            pass  # made meanwhile: use whatever it is
        return os.open(name, O_LOOK, dir_fd=cur)

    def _follow(self, fd: int) -> None:
        """Expand the link open at `fd` (closed here) into the parts still to walk."""
        try:
            if _on_procfs(fd):
                raise OSError(errno.ELOOP, "refusing a link on procfs", self.path)
            target = _readlink_fd(fd)
        finally:
            os.close(fd)
        self.hops += 1
        if self.hops > MAXSYMLINKS:
            raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), self.path)
        if not target:
            raise FileNotFoundError(errno.ENOENT, "empty symlink", self.path)
        if target.startswith("/"):
            while self.stack:
                os.close(self.stack.pop())
            self.names.clear()
        self.parts.extendleft(reversed(target.split("/")))


def _fallback_open(root_fd: int, path: str, flags: int) -> int:
    follow = not flags & os.O_NOFOLLOW
    for _ in range(_REOPEN_TRIES):
        trail: list[str] = []
        fd = _walk(root_fd, path, follow_last=follow, trail=trail)
        try:
            st = os.fstat(fd)
            if flags & os.O_DIRECTORY and not stat.S_ISDIR(st.st_mode):
                raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), path)
            if flags & os.O_PATH:
                keep, fd = fd, -1  # handed to the caller, not closed below
                return keep
            if stat.S_ISLNK(st.st_mode):
                raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
            if stat.S_ISDIR(st.st_mode):
                # "." of a directory fd cannot be swapped
                return os.open(".", flags | os.O_CLOEXEC, dir_fd=fd)
            try:
                return _reopen_by_name(root_fd, trail, st, flags)
            except _Swapped:
                continue
        finally:
            if fd >= 0:
                os.close(fd)
    raise OSError(errno.EAGAIN, "the path kept changing while it was opened", path)


def _reopen_by_name(root_fd: int, trail: list[str], st: os.stat_result, flags: int) -> int:
    # a non-directory cannot be reopened from its O_PATH fd without procfs: open its
    # name in its (fd-resolved) parent, O_NOFOLLOW, and check it is the same inode
    parent = _walk(root_fd, "/" + "/".join(trail[:-1]), follow_last=False)
    try:
        pst = os.fstat(parent)
        if not stat.S_ISDIR(pst.st_mode):
            raise _Swapped
        try:
            fd = os.open(trail[-1], flags | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
        except OSError as e:
            if e.errno in (errno.ELOOP, errno.ENOENT):
                raise _Swapped from None
            raise
    finally:
        os.close(parent)
    got = os.fstat(fd)
    if (got.st_dev, got.st_ino) != (st.st_dev, st.st_ino):
        os.close(fd)
        raise _Swapped
    return fd


class Root:
    """A directory that container paths are resolved in, `/` being the directory.
    `path` is for messages only: nothing below it is ever opened by name."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = os.open(path, _O_PATH_DIR)

    def close(self) -> None:
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)

    def __enter__(self) -> Root:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self, path: str, flags: int = os.O_RDONLY) -> int:
        """An fd for `path` resolved inside the root (the last component followed
        unless flags has O_NOFOLLOW). Creating is done with the *_at helpers in the
        parent's fd, never here."""
        assert not flags & (os.O_CREAT | os.O_TRUNC), "create with create_at()"
        if _use_openat2():
            for _ in range(_OPENAT2_TRIES):
                try:
                    return _openat2(self.fd, path or ".", flags | os.O_CLOEXEC)
                except OSError as e:
                    if e.errno not in (errno.EAGAIN, errno.EXDEV):
                        raise
            # the host keeps renaming: the walk by hand does not need a quiet moment
        return _fallback_open(self.fd, path, flags)

    def open_dir(self, path: str) -> int:
        """A readable fd of the directory `path` (followed) inside the root."""
        return self.open(path, os.O_RDONLY | os.O_DIRECTORY)

    def open_parent(self, path: str) -> tuple[int, str]:
        """(O_PATH fd of the directory holding the last component, its name): the
        directory part followed inside the root, the last component left alone."""
        head, _, name = path.rstrip("/").rpartition("/")
        if name in ("", ".", ".."):
            raise ValueError(f"{path!r} has no last component to leave unresolved")
        return self.open(head or "/", os.O_PATH | os.O_DIRECTORY), name

    def mkdir_all(self, path: str, mode: int = 0o755) -> int:
        """O_PATH fd of directory `path` inside the root, made (with its missing
        parents) if it does not exist."""
        if _use_openat2():
            try:
                return self.open(path, os.O_PATH | os.O_DIRECTORY)
            except FileNotFoundError:
                pass
        fd = _walk(self.fd, path, mkdir_mode=mode)
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            os.close(fd)
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), path)
        return fd

    def resolve_path(self, path: str) -> str:
        """Where `path` leads inside the root, as a container path (missing components
        kept literally): for showing, e.g. a link's target; never open the result by
        name on the host."""
        trail: list[str] = []
        fd = _walk(self.fd, path, trail=trail, lenient=True)
        if fd >= 0:
            os.close(fd)
        return "/" + "/".join(trail)


# ---- one name inside a directory fd, links never followed ----------------------
def name_ok(name: str) -> str:
    # ".." of the root fd is the host: only single, downward names get here
    if not name or "/" in name or name == "..":
        raise ValueError(f"not a name inside a directory: {name!r}")
    return name


def lstat_at(dirfd: int, name: str) -> os.stat_result:
    return os.stat(name_ok(name), dir_fd=dirfd, follow_symlinks=False)


def lexists_at(dirfd: int, name: str) -> bool:
    try:
        lstat_at(dirfd, name)
    except FileNotFoundError:
        return False
    return True


def readlink_at(dirfd: int, name: str) -> str:
    return os.readlink(name_ok(name), dir_fd=dirfd)


def open_at(dirfd: int, name: str, flags: int = os.O_RDONLY, mode: int = 0o600) -> int:
    return os.open(name_ok(name), flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=dirfd)


def open_dir_at(dirfd: int, name: str) -> int:
    """A readable fd of directory `name`; ELOOP or ENOTDIR if it is anything else."""
    return open_at(dirfd, name, os.O_RDONLY | os.O_DIRECTORY)


def create_at(dirfd: int, name: str, mode: int = 0o600) -> int:
    """A new regular file, opened for writing; EEXIST if the name is taken (by a link too)."""
    return open_at(dirfd, name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)


def listdir(fd: int) -> list[str]:
    """The names in directory fd (a readable fd), sorted."""
    return sorted(os.listdir(fd))


def mkdir_at(dirfd: int, name: str, mode: int = 0o755) -> None:
    os.mkdir(name_ok(name), mode, dir_fd=dirfd)


def symlink_at(target: str, dirfd: int, name: str) -> None:
    os.symlink(target, name_ok(name), dir_fd=dirfd)


def link_at(src_dirfd: int, src_name: str, dirfd: int, name: str) -> None:
    """A hard link `name` to `src_name` (itself, if a symlink: linkat without FOLLOW)."""
    os.link(
        name_ok(src_name),
        name_ok(name),
        src_dir_fd=src_dirfd,
        dst_dir_fd=dirfd,
        follow_symlinks=False,
    )


def mknod_at(dirfd: int, name: str, mode: int, device: int) -> None:
    os.mknod(name_ok(name), mode, device, dir_fd=dirfd)


def mkfifo_at(dirfd: int, name: str, mode: int = 0o600) -> None:
    os.mkfifo(name_ok(name), mode, dir_fd=dirfd)


def unlink_at(dirfd: int, name: str) -> None:
    os.unlink(name_ok(name), dir_fd=dirfd)


def rmtree_at(dirfd: int, name: str) -> None:
    """Remove `name` and, if it is a directory, everything below it, through fds: a
    link met on the way is removed, never entered."""
    try:
        fd = open_dir_at(dirfd, name)
    except OSError as e:
        if e.errno not in (errno.ENOTDIR, errno.ELOOP):
            raise
        unlink_at(dirfd, name)
        return
    try:
        for n in os.listdir(fd):
            rmtree_at(fd, n)
    finally:
        os.close(fd)
    os.rmdir(name_ok(name), dir_fd=dirfd)


def lchown_at(dirfd: int, name: str, uid: int, gid: int) -> None:
    os.chown(name_ok(name), uid, gid, dir_fd=dirfd, follow_symlinks=False)


def lchmod_at(dirfd: int, name: str, mode: int) -> None:
    """chmod `name` itself; a symlink is left alone (Linux has no mode on links, and
    fchmodat cannot refuse to follow one)."""
    fd = open_at(dirfd, name, os.O_PATH)
    try:
        if stat.S_ISLNK(os.fstat(fd).st_mode):
            return
        # the fd's own magic link reaches exactly the inode opened above
        os.chmod(f"/proc/self/fd/{fd}", mode)
    finally:
        os.close(fd)


def lutime_at(dirfd: int, name: str, ns: tuple[int, int]) -> None:
    """utimensat(dirfd, name, AT_SYMLINK_NOFOLLOW) with (atime, mtime) in ns."""
    os.utime(name_ok(name), ns=ns, dir_fd=dirfd, follow_symlinks=False)


def getxattr_fd(fd: int, attr: str) -> bytes | None:
    try:
        return os.getxattr(fd, attr)
    except OSError:
        return None
