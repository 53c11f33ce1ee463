"""A context directory's tar, as docker/cli's `archive.TarWithOptions` makes it (the rules
are in buildcontext.py's docstring): the walk that finds every member (and every error by
docker's rules) before the first byte is sent, then the members chunk by chunk."""

from __future__ import annotations

import os
import stat
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass

from berth.client.errors import ContextError

BLOCK = 512
_READ = 1 << 20


@dataclass
class _Entry:
    path: str  # on the host
    name: str  # in the tar
    st: os.stat_result
    link: str = ""


def walk(context_dir: str, patterns: list[str], check: list[str]) -> list[_Entry]:
    """The members of the context's tar, in the order go-archive writes them. CHECK is the
    .dockerignore as read (before the build files were put back): ValidateContextDirectory
    refuses what cannot be read among what it does not exclude, before anything is sent."""
    from berth.dockerignore import Matcher

    try:
        matcher = Matcher(patterns)
        checker = Matcher(check)
    except ValueError as exc:
        raise ContextError(str(exc)) from None
    out: list[_Entry] = []

    def visit(dirpath: str, rel: str) -> None:
        try:
            with os.scandir(dirpath) as it:
                names = sorted(e.name for e in it)
        except PermissionError:
            raise ContextError(f"checking context: can't stat '{dirpath}'") from None
        except FileNotFoundError:
            return  # removed while we walked: go-archive logs and goes on
        for n in names:
            path = os.path.join(dirpath, n)
            name = f"{rel}/{n}" if rel else n
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                continue
            except PermissionError:
                raise ContextError(f"checking context: can't stat '{path}'") from None
            isdir = stat.S_ISDIR(st.st_mode)
            if stat.S_ISREG(st.st_mode) and not checker.matches(name):
                try:
                    os.close(os.open(path, os.O_RDONLY | os.O_NOFOLLOW))
                except PermissionError:
                    raise ContextError(
                        f"checking context: no permission to read from '{path}'"
                    ) from None
                except OSError:
                    pass
            if matcher.matches(name):
                # an excluded directory is still walked when an exception (!dir/file)
                # may bring something below it back; the directory itself is not sent
                if isdir and not matcher.excludes_dir_fully(name):
                    visit(path, name)
                continue
            if stat.S_ISSOCK(st.st_mode):
                continue  # Go's tar cannot write a socket: go-archive skips it
            link = ""
            if stat.S_ISLNK(st.st_mode):
                try:
                    link = os.readlink(path)
                except OSError:
                    continue
            out.append(_Entry(path, name + "/" if isdir else name, st, link))
            if isdir:
                visit(path, name)

    visit(context_dir, "")
    return out


def _info(name: str, st: os.stat_result | None, mode: int, size: int, mtime: int) -> bytes:
    ti = tarfile.TarInfo(name)
    ti.mode = mode
    ti.size = size
    ti.mtime = mtime  # an int: a float would cost a PAX record Go does not write
    ti.uid = ti.gid = 0  # docker/cli's ChownOpts{0, 0}
    ti.uname = ti.gname = ""
    if st is not None:
        m = st.st_mode
        if stat.S_ISDIR(m):
            ti.type = tarfile.DIRTYPE
        elif stat.S_ISFIFO(m):
            ti.type = tarfile.FIFOTYPE
        elif stat.S_ISCHR(m) or stat.S_ISBLK(m):
            ti.type = tarfile.CHRTYPE if stat.S_ISCHR(m) else tarfile.BLKTYPE
            ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    return ti.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def _link_header(e: _Entry, kind: bytes, target: str) -> bytes:
    ti = tarfile.TarInfo(e.name)
    ti.type = kind
    ti.linkname = target
    ti.mode = stat.S_IMODE(e.st.st_mode)
    ti.mtime = int(e.st.st_mtime)
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = ""
    return ti.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def _file_data(path: str, size: int) -> Iterator[bytes]:
    """SIZE bytes of the file, padded to a block: a file that shrank meanwhile is padded
    with zeros and one that grew is cut, so that the tar stays well-formed."""
    left = size
    try:
        with open(path, "rb") as f:
            while left > 0:
                data = f.read(min(_READ, left))
                if not data:
                    break
                left -= len(data)
                yield data
    except OSError:
        pass
    pad = left + (-size % BLOCK)
    if pad:
        yield b"\0" * pad


def member(name: str, data: bytes, mode: int = 0o600, mtime: int | None = None) -> bytes:
    when = int(time.time()) if mtime is None else mtime
    return _info(name, None, mode, len(data), when) + data + b"\0" * (-len(data) % BLOCK)


def tar_stream(
    entries: list[_Entry], extra: dict[str, bytes], ignore_add: bytes | None
) -> Iterator[bytes]:
    """The tar of ENTRIES (plus EXTRA members at the end). With IGNORE_ADD, .dockerignore
    gets those bytes appended (or is made of ".dockerignore" and them when absent), as
    archive.ReplaceFileTarWrapper does for docker/cli."""
    seen: dict[tuple[int, int], str] = {}
    buf = bytearray()
    had_ignore = False
    for e in entries:
        st = e.st
        if stat.S_ISLNK(st.st_mode):
            buf += _link_header(e, tarfile.SYMTYPE, e.link)
        elif stat.S_ISREG(st.st_mode):
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and key in seen:
                buf += _link_header(e, tarfile.LNKTYPE, seen[key])
                continue
            if st.st_nlink > 1:
                seen[key] = e.name
            if e.name == ".dockerignore" and ignore_add is not None:
                had_ignore = True
                try:
                    with open(e.path, "rb") as f:
                        data = f.read()
                except OSError:
                    data = b""
                buf += member(e.name, data + ignore_add, stat.S_IMODE(st.st_mode), int(st.st_mtime))
                continue
            buf += _info(e.name, st, stat.S_IMODE(st.st_mode), st.st_size, int(st.st_mtime))
            for data in _file_data(e.path, st.st_size):
                if len(buf) + len(data) > _READ:
                    if buf:
                        yield bytes(buf)
                        buf.clear()
                    if len(data) >= _READ:
                        yield data
                        continue
                buf += data
        else:
            buf += _info(e.name, st, stat.S_IMODE(st.st_mode), 0, int(st.st_mtime))
        if len(buf) >= _READ:
            yield bytes(buf)
            buf.clear()
    if ignore_add is not None and not had_ignore:
        buf += member(".dockerignore", b".dockerignore" + ignore_add)
    for name, data in extra.items():
        buf += member(name, data)
    buf += b"\0" * (2 * BLOCK)
    yield bytes(buf)
