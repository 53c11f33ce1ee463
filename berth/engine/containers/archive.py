"""`docker cp` and `docker export`: a container's files as tar, and tar into it.

Paths are resolved inside the container's root as dockerd does: `..` stops at `/`,
and symlinks (absolute or relative) are followed as if the root were `/`; only the
last component is left unresolved so that a symlink itself can be copied.

Which tree is read: a running container's merged overlay (mounted in the host);
for a stopped one a read-only overlay of the image layers plus its upper dir,
mounted at a private mount point for the length of the operation. Writing into a
stopped container mounts its own overlay under the container's lock, so a start
cannot race with it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import posixpath
import shutil
import stat
import tarfile
import tempfile
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import IO, Any

from berth.engine.clock import rfc3339nano
from berth.engine.containers.model import Container
from berth.engine.errors import EngineError, Forbidden, InvalidParameter, NotFound, SystemError_
from berth.runtime import rootfs as rt_rootfs

_CHUNK = 1 << 16
STAT_HEADER = "X-Docker-Container-Path-Stat"

# Go's os.FileMode bits (the stat header carries Go's mode, not st_mode)
_GO_DIR = 1 << 31
_GO_SYMLINK = 1 << 27
_GO_DEVICE = 1 << 26
_GO_PIPE = 1 << 25
_GO_SOCKET = 1 << 24
_GO_SETUID = 1 << 23
_GO_SETGID = 1 << 22
_GO_CHARDEV = 1 << 21
_GO_STICKY = 1 << 20


def go_file_mode(mode: int) -> int:
    """st_mode -> Go's os.FileMode."""
    out = mode & 0o777
    if stat.S_ISDIR(mode):
        out |= _GO_DIR
    elif stat.S_ISLNK(mode):
        out |= _GO_SYMLINK
    elif stat.S_ISFIFO(mode):
        out |= _GO_PIPE
    elif stat.S_ISSOCK(mode):
        out |= _GO_SOCKET
    elif stat.S_ISBLK(mode):
        out |= _GO_DEVICE
    elif stat.S_ISCHR(mode):
        out |= _GO_DEVICE | _GO_CHARDEV
    if mode & stat.S_ISUID:
        out |= _GO_SETUID
    if mode & stat.S_ISGID:
        out |= _GO_SETGID
    if mode & stat.S_ISVTX:
        out |= _GO_STICKY
    return out


# ---- paths -------------------------------------------------------------
def abs_path(path: str) -> str:
    """The path made absolute and clean, keeping a trailing "/" or "/." (they mean
    "the directory's contents" to docker cp)."""
    clean = posixpath.normpath(posixpath.join("/", path))
    if clean.startswith("//"):
        clean = "/" + clean.lstrip("/")
    if path.endswith("/.") or path == ".":
        if not clean.endswith("/."):
            clean = clean.rstrip("/") + "/."
    elif path.endswith("/") and not clean.endswith("/"):
        clean += "/"
    return clean


def go_base(path: str) -> str:
    """Go's filepath.Base."""
    if not path:
        return "."
    stripped = path.rstrip("/")
    if not stripped:
        return "/"
    return stripped.rsplit("/", 1)[-1]


@dataclass
class Resolved:
    host: str  # where the object is in the host; not followed if a symlink
    abs: str  # the container path asked for (clean, trailing "/" or "/." kept)


def resolve(root: str, path: str) -> Resolved:
    """dockerd's ResolvePath: the directory part is resolved inside `root`, the last
    component is kept (so a symlink is itself); with a trailing "/" or "/." the whole
    path is resolved."""
    a = abs_path(path)
    d, _, base = a.rpartition("/")
    if base in ("", "."):
        return Resolved(rt_rootfs.resolve_in_root(root, d or "/"), a)
    rdir = rt_rootfs.resolve_in_root(root, d or "/")
    return Resolved(rdir.rstrip("/") + "/" + base, a)


def inside(root: str, host: str) -> str:
    """The container path of host path `host` under `root`."""
    rel = os.path.relpath(host, root)
    return "/" if rel == "." else "/" + rel


def path_stat(root: str, r: Resolved) -> dict[str, Any]:
    """ContainerPathStat {name, size, mode, mtime, linkTarget} for the resolved path."""
    st = os.lstat(r.host)
    link = ""
    if stat.S_ISLNK(st.st_mode):
        link = inside(root, rt_rootfs.resolve_in_root(root, r.abs))
    return {
        "name": go_base(r.abs),
        "size": st.st_size,
        "mode": go_file_mode(st.st_mode),
        "mtime": rfc3339nano(st.st_mtime_ns / 1e9),
        "linkTarget": link,
    }


def encode_stat(st: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(st).encode()).decode()


# ---- root filesystem views -----------------------------------------------
class _View:
    """A mounted view of a container's root; close() undoes what opening did."""

    def __init__(self, root: str, undo: Callable[[], None] | None = None) -> None:
        self.root = root
        self._undo = undo

    def close(self) -> None:
        undo, self._undo = self._undo, None
        if undo is not None:
            undo()


def _merged(svc: Any, c: Container) -> str:
    return str(svc.overlay_dir / c.id / "merged")


def _open_read_view(svc: Any, c: Container) -> _View:
    merged = _merged(svc, c)
    if c.state.running and os.path.ismount(merged):
        return _View(merged)
    image = svc.images.get(c.image_id)
    lowers = [*svc.images.layer_dirs(image), str(svc.overlay_dir / c.id / "upper")]
    mnt = tempfile.mkdtemp(prefix="view-", dir=svc.overlay_dir)
    try:
        rt_rootfs.mount_overlay(lowers, "", "", mnt)
    except BaseException:
        os.rmdir(mnt)
        raise

    def undo() -> None:
        rt_rootfs.unmount(mnt)
        with contextlib.suppress(OSError):
            os.rmdir(mnt)

    return _View(mnt, undo)


@contextlib.asynccontextmanager
async def write_view(svc: Any, c: Container) -> AsyncIterator[str]:
    """The container's root, writable: the live merged dir, or (stopped) its own overlay
    mounted for the duration, holding the container's lock against a start."""
    merged = _merged(svc, c)
    if c.state.running and os.path.ismount(merged):
        yield merged
        return
    async with svc._w(c.id).lock:
        if c.state.running and os.path.ismount(merged):
            yield merged
            return
        image = svc.images.get(c.image_id)
        odir = svc.overlay_dir / c.id
        await asyncio.to_thread(
            rt_rootfs.mount_overlay,
            svc.images.layer_dirs(image),
            str(odir / "upper"),
            str(odir / "work"),
            merged,
        )
        try:
            yield merged
        finally:
            rt_rootfs.unmount(merged)


# ---- streaming a tar made in a thread --------------------------------------
async def _thread_stream(
    produce: Callable[[IO[bytes]], None], opener: Callable[[], _View]
) -> AsyncIterator[bytes]:
    """Run produce(pipe) in a thread over a freshly opened view and yield what it writes.
    The view is opened here (not before) so that an unstarted stream leaks nothing."""
    view = await asyncio.to_thread(opener)
    r, w = os.pipe()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with os.fdopen(w, "wb", buffering=_CHUNK) as out:
                produce(out)
        except BrokenPipeError:
            pass  # the client went away
        except BaseException as exc:  # noqa: BLE001 - handed to the event loop side
            errors.append(exc)

    t = threading.Thread(target=run, name="berth-tar", daemon=True)
    t.start()
    try:
        while True:
            data = await asyncio.to_thread(os.read, r, _CHUNK)
            if not data:
                break
            yield data
        if errors:
            exc = errors[0]
            if isinstance(exc, EngineError):
                raise exc
            raise SystemError_(f"{type(exc).__name__}: {exc}")
    finally:
        os.close(r)
        await asyncio.to_thread(t.join)
        await asyncio.to_thread(view.close)


def _tar_tree(out: IO[bytes], top: str, arc: str, *, include_top: bool = True) -> None:
    """Write `top` (not followed if a symlink) and, for a directory, everything below
    it, named `arc`/... ; mount points inside are crossed like plain directories."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:

        def add(path: str, name: str) -> None:
            try:
                ti = tf.gettarinfo(path, name)
            except FileNotFoundError:
                return  # removed while we walked
            if ti is None:
                return  # sockets are not archived
            ti.uname = ti.gname = ""
            ti.mtime = int(ti.mtime)  # a float mtime costs a PAX header per entry
            if ti.isreg():
                try:
                    with open(path, "rb") as f:
                        tf.addfile(ti, f)
                except FileNotFoundError:
                    return
            else:
                tf.addfile(ti)

        if include_top:
            add(top, arc)
        if not stat.S_ISDIR(os.lstat(top).st_mode):
            return
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames.sort()
            rel = os.path.relpath(dirpath, top)
            base = arc if rel == "." else posixpath.join(arc, rel) if arc else rel
            for n in dirnames + sorted(filenames):
                add(os.path.join(dirpath, n), posixpath.join(base, n) if base else n)
            # os.walk lists symlinks to directories among dirnames but does not enter them


# ---- the operations ---------------------------------------------------------
def _not_found(path: str, ref: str) -> NotFound:
    return NotFound(f"Could not find the file {path} in container {ref}")


async def stat_path(svc: Any, ref: str, path: str) -> dict[str, Any]:
    """HEAD /containers/{id}/archive."""
    c = svc.get(ref)
    if not path:
        raise InvalidParameter("path must not be empty")
    view = await asyncio.to_thread(_open_read_view, svc, c)
    try:
        r = resolve(view.root, path)
        try:
            return path_stat(view.root, r)
        except (FileNotFoundError, NotADirectoryError):
            raise _not_found(path, ref) from None
    finally:
        await asyncio.to_thread(view.close)


async def get_archive(svc: Any, ref: str, path: str) -> tuple[dict[str, Any], AsyncIterator[bytes]]:
    """GET /containers/{id}/archive: the stat, and the tar of the resource named like
    the last element of the path asked for."""
    st = await stat_path(svc, ref, path)
    c = svc.get(ref)
    holder: dict[str, Any] = {}

    def opener() -> _View:
        view = _open_read_view(svc, c)
        holder["root"] = view.root
        return view

    def produce(out: IO[bytes]) -> None:
        root = holder["root"]
        r = resolve(root, path)
        host = r.host
        if r.abs.endswith("/") or r.abs.endswith("/."):
            host = host.rstrip("/") or "/"
        try:
            os.lstat(host)
        except FileNotFoundError:
            raise _not_found(path, ref) from None
        arc = go_base(r.abs)
        _tar_tree(out, host, "." if arc == "/" else arc)

    return st, _thread_stream(produce, opener)


async def export(svc: Any, ref: str) -> AsyncIterator[bytes]:
    """GET /containers/{id}/export: the whole root filesystem as a tar."""
    c = svc.get(ref)
    holder: dict[str, Any] = {}

    def opener() -> _View:
        view = _open_read_view(svc, c)
        holder["root"] = view.root
        return view

    def produce(out: IO[bytes]) -> None:
        _tar_tree(out, holder["root"], "", include_top=False)

    return _thread_stream(produce, opener)


async def put_archive(
    svc: Any,
    ref: str,
    path: str,
    body: AsyncIterator[bytes],
    *,
    no_overwrite_dir_non_dir: bool,
    copy_uid_gid: bool,
) -> None:
    """PUT /containers/{id}/archive: extract the tar body into directory `path`."""
    c = svc.get(ref)
    if not path:
        raise InvalidParameter("path must not be empty")
    if c.host_config.readonly_rootfs:
        raise Forbidden("container rootfs is marked read-only")
    spool = tempfile.TemporaryFile(dir=svc.containers_dir / c.id)  # noqa: SIM115
    try:
        async for chunk in body:
            await asyncio.to_thread(spool.write, chunk)
        spool.seek(0)
        async with write_view(svc, c) as root:
            await asyncio.to_thread(
                _extract_into, root, path, ref, spool, no_overwrite_dir_non_dir, copy_uid_gid
            )
    finally:
        spool.close()


def _extract_into(
    root: str, path: str, ref: str, src: IO[bytes], no_overwrite: bool, copy_ids: bool
) -> None:
    dest = rt_rootfs.resolve_in_root(root, abs_path(path))
    try:
        st = os.lstat(dest)
    except FileNotFoundError:
        raise _not_found(path, ref) from None
    if not stat.S_ISDIR(st.st_mode):
        raise InvalidParameter("extraction point is not a directory")
    dest_abs = inside(root, dest)
    try:
        tf = tarfile.open(fileobj=src, mode="r|*")
    except tarfile.TarError as exc:
        raise InvalidParameter(f"invalid tar archive: {exc}") from exc
    x = _Extractor(root, dest_abs, no_overwrite, copy_ids)
    try:
        with tf:
            for ti in tf:
                x.entry(tf, ti)
    except tarfile.TarError as exc:
        raise InvalidParameter(f"invalid tar archive: {exc}") from exc
    x.finish()


class _Extractor:
    """Tar members into the container root below `dest_abs`. Each member's parent is
    resolved inside the root; the member itself is created without following links."""

    def __init__(self, root: str, dest_abs: str, no_overwrite: bool, copy_ids: bool) -> None:
        self.root = root
        self.dest_abs = dest_abs
        self.no_overwrite = no_overwrite
        self.copy_ids = copy_ids
        self.dir_times: list[tuple[str, float]] = []

    def _target(self, name: str) -> tuple[str, str]:
        rel = posixpath.normpath(name.lstrip("/"))
        if rel == "." or rel == "":
            return rt_rootfs.resolve_in_root(self.root, self.dest_abs), self.dest_abs
        if rel == ".." or rel.startswith("../"):
            raise InvalidParameter(f"invalid tar archive: {name!r} is outside the destination")
        cpath = posixpath.join(self.dest_abs, rel)
        parent = rt_rootfs.resolve_in_root(self.root, posixpath.dirname(cpath))
        os.makedirs(parent, exist_ok=True)
        return parent + "/" + posixpath.basename(cpath), cpath

    def entry(self, tf: tarfile.TarFile, ti: tarfile.TarInfo) -> None:
        host, cpath = self._target(ti.name)
        try:
            old = os.lstat(host)
        except FileNotFoundError:
            old = None
        if old is not None:
            if stat.S_ISDIR(old.st_mode):
                if ti.isdir():
                    self._meta(host, ti)
                    self.dir_times.append((host, ti.mtime))
                    return
                if self.no_overwrite:
                    raise InvalidParameter(
                        f"cannot overwrite directory {cpath!r} with non-directory {ti.name!r}"
                    )
                shutil.rmtree(host)
            else:
                if ti.isdir() and self.no_overwrite:
                    raise InvalidParameter(
                        f"cannot overwrite non-directory {cpath!r} with directory {ti.name!r}"
                    )
                os.unlink(host)
        if ti.isdir():
            os.mkdir(host, 0o700)
            self.dir_times.append((host, ti.mtime))
        elif ti.isreg():
            f = tf.extractfile(ti)
            assert f is not None
            fd = os.open(host, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(f, out, _CHUNK)
        elif ti.issym():
            os.symlink(ti.linkname, host)
        elif ti.islnk():
            target, _ = self._target(ti.linkname)
            os.link(target, host, follow_symlinks=False)
            return
        elif ti.ischr() or ti.isblk():
            kind = stat.S_IFCHR if ti.ischr() else stat.S_IFBLK
            os.mknod(host, kind | 0o600, os.makedev(ti.devmajor, ti.devminor))
        elif ti.isfifo():
            os.mkfifo(host, 0o600)
        else:
            return  # other member types are skipped, as dockerd's untar does
        self._meta(host, ti)
        if not ti.isdir():
            os.utime(host, (ti.mtime, ti.mtime), follow_symlinks=False)

    def _meta(self, host: str, ti: tarfile.TarInfo) -> None:
        uid, gid = (ti.uid, ti.gid) if self.copy_ids else (0, 0)
        os.chown(host, uid, gid, follow_symlinks=False)
        if not ti.issym():
            os.chmod(host, ti.mode & 0o7777)

    def finish(self) -> None:
        for host, mtime in reversed(self.dir_times):
            with contextlib.suppress(OSError):
                os.utime(host, (mtime, mtime), follow_symlinks=False)
