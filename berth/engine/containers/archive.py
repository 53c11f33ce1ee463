"""`docker cp` and `docker export`: a container's files as tar, and tar into it.

Paths are resolved inside the container's root as dockerd does: `..` stops at `/`,
and symlinks (absolute or relative) are followed as if the root were `/`; only the
last component is left unresolved so that a symlink itself can be copied.

The container may rename anything while we work (CVE-2018-15664), so no path below
its root is ever opened by name on the host: everything goes through
berth.runtime.rootdir (resolution pinned at the root's fd) and fdtree (walks through
directory fds); tar writing is in tartree.py, extraction in untar.py.

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
from berth.engine.containers import mounts as cmounts
from berth.engine.containers.gopaths import abs_path, go_base, go_file_mode
from berth.engine.containers.model import Container
from berth.engine.containers.mounts import MountPoint
from berth.engine.containers.tartree import TreeTar
from berth.engine.containers.untar import Extractor
from berth.engine.errors import EngineError, Forbidden, InvalidParameter, NotFound, SystemError_
from berth.runtime import fdtree, rootdir, syscalls
from berth.runtime import rootfs as rt_rootfs
from berth.runtime.syscalls import MS_BIND, MS_RDONLY, MS_REC, MS_REMOUNT

_CHUNK = 1 << 16
STAT_HEADER = "X-Docker-Container-Path-Stat"


@dataclass
class Resolved:
    host: str  # where the object is in the host, for messages: never opened by this name
    abs: str  # the container path asked for (clean, trailing "/" or "/." kept)


def _contents_of(a: str) -> bool:
    return a.endswith("/") or a.endswith("/.")


def resolve(root: str, path: str) -> Resolved:
    """dockerd's ResolvePath, as names: the directory part is resolved inside `root`,
    the last component is kept (so a symlink is itself); with a trailing "/" or "/."
    the whole path is resolved. For showing where a path leads; the I/O resolves again
    through the root's fd (`_locate`)."""
    a = abs_path(path)
    with rootdir.Root(root) as r:
        d, _, base = a.rpartition("/")
        if base in ("", "."):
            return Resolved(_host(root, r.resolve_path(d or "/")), a)
        return Resolved(_host(root, r.resolve_path(d or "/")).rstrip("/") + "/" + base, a)


def _host(root: str, cpath: str) -> str:
    return root if cpath == "/" else root + cpath


def _locate(root: rootdir.Root, a: str) -> tuple[int, str]:
    """(fd of the directory holding what clean path `a` names, its name there): the
    last component unresolved, unless `a` ends in "/" or "/.": then the whole path is
    followed and a directory is given as (its own fd, ".")."""
    if _contents_of(a):
        fd = root.open(a.rstrip("/") or "/", os.O_PATH)
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            return fd, "."
        os.close(fd)
        a = root.resolve_path(a)  # a file named with a trailing "/": the file
    if a == "/":
        return os.dup(root.fd), "."
    return root.open_parent(a)


def path_stat(root: rootdir.Root, path: str) -> dict[str, Any]:
    """ContainerPathStat {name, size, mode, mtime, linkTarget} for `path` in the root."""
    a = abs_path(path)
    dirfd, name = _locate(root, a)
    try:
        st = rootdir.lstat_at(dirfd, name)
    finally:
        os.close(dirfd)
    link = root.resolve_path(a) if stat.S_ISLNK(st.st_mode) else ""
    return {
        "name": go_base(a),
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


def _bindable(c: Container) -> list[MountPoint]:
    """The container's binds and volumes, parents before what is mounted inside them."""
    mps = [m for m in cmounts.load(c.mount_points) if m.type in ("bind", "volume") and m.source]
    return sorted(mps, key=lambda m: posixpath.normpath(m.destination).count("/"))


def mount_volumes(root_path: str, mps: list[MountPoint]) -> Callable[[], None]:
    """Bind the container's volumes and binds into a view of its root that is not running
    (dockerd mounts them for the operation too), read-only ones read-only. Each target is
    resolved and made inside the root through fds (rootdir) and the bind goes onto that
    fd, so a symlink the container planted cannot point a mount at the host. Returns
    what unmounts them (innermost first)."""
    sys_ = syscalls.sys_
    mounted: list[int] = []  # O_PATH fds of the mounts' roots

    def undo() -> None:
        while mounted:
            fd = mounted.pop()
            with contextlib.suppress(OSError):
                sys_.umount2(f"/proc/self/fd/{fd}", syscalls.MNT_DETACH)
            os.close(fd)

    try:
        # the view's own mount first: private, so nothing bound below it reaches the
        # host's other mount namespaces
        sys_.mount(None, root_path, None, syscalls.MS_PRIVATE)
        with rootdir.Root(root_path) as root:
            for mp in mps:
                try:
                    src_dir = stat.S_ISDIR(os.stat(mp.source).st_mode)
                except FileNotFoundError:
                    continue  # a bind source removed since: the start would fail on it
                dest = posixpath.normpath(posixpath.join("/", mp.destination))
                if src_dir:
                    fd = root.mkdir_all(dest)
                else:
                    pfd = root.mkdir_all(posixpath.dirname(dest))
                    try:
                        name = posixpath.basename(dest)
                        if not rootdir.lexists_at(pfd, name):
                            os.close(rootdir.create_at(pfd, name, 0o644))
                        fd = rootdir.open_at(pfd, name, os.O_PATH | os.O_NOFOLLOW)
                    finally:
                        os.close(pfd)
                try:
                    sys_.mount(mp.source, f"/proc/self/fd/{fd}", None, MS_BIND | MS_REC)
                finally:
                    os.close(fd)
                # the mount's own root, reached through the root again (the fd above is
                # the directory beneath it)
                top = root.open(dest, os.O_PATH)
                mounted.append(top)
                if not mp.rw:
                    sys_.mount(None, f"/proc/self/fd/{top}", None, MS_BIND | MS_REMOUNT | MS_RDONLY)
    except BaseException:
        undo()
        raise
    return undo


def _open_read_view(svc: Any, c: Container) -> _View:
    merged = _merged(svc, c)
    if c.state.running and os.path.ismount(merged):
        return _View(merged)
    image = svc.images.get(c.image_id)
    lowers = [*svc.images.layer_dirs(image), str(svc.overlay_dir / c.id / "upper")]
    mps = _bindable(c)
    mnt = tempfile.mkdtemp(prefix="view-", dir=svc.overlay_dir)
    # with volumes to bind, the view gets an upper dir of its own, thrown away after:
    # mount points the image lacks are made there, never in the container's upper dir
    scratch = tempfile.mkdtemp(prefix="view-rw-", dir=svc.overlay_dir) if mps else ""
    unbind: Callable[[], None] | None = None
    try:
        if scratch:
            os.mkdir(os.path.join(scratch, "upper"))
            os.mkdir(os.path.join(scratch, "work"))
            upper, work = os.path.join(scratch, "upper"), os.path.join(scratch, "work")
            rt_rootfs.mount_overlay(lowers, upper, work, mnt)
            unbind = mount_volumes(mnt, mps)
        else:
            rt_rootfs.mount_overlay(lowers, "", "", mnt)
    except BaseException:
        rt_rootfs.unmount(mnt)
        os.rmdir(mnt)
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
        raise

    def undo() -> None:
        if unbind is not None:
            unbind()
        rt_rootfs.unmount(mnt)
        with contextlib.suppress(OSError):
            os.rmdir(mnt)
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)

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
            unbind = await asyncio.to_thread(mount_volumes, merged, _bindable(c))
        except BaseException:
            rt_rootfs.unmount(merged)
            raise
        try:
            yield merged
        finally:
            unbind()
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


def _tar_tree(out: IO[bytes], dirfd: int, name: str, arc: str, *, include_top: bool = True) -> None:
    """Write `name` in dirfd (not followed if a symlink) and, for a directory,
    everything below it, named `arc`/... ; mount points inside are crossed like plain
    directories."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
        tt = TreeTar(tf)
        for e in fdtree.walk(dirfd, name):
            if not e.path:
                if include_top:
                    tt.add(e, arc)
                continue
            tt.add(e, posixpath.join(arc, e.path) if arc else e.path)


# ---- the operations ---------------------------------------------------------
def _not_found(path: str, ref: str) -> NotFound:
    return NotFound(f"Could not find the file {path} in container {ref}")


def _stat_in(root_path: str, path: str, ref: str) -> dict[str, Any]:
    with rootdir.Root(root_path) as root:
        try:
            return path_stat(root, path)
        except (FileNotFoundError, NotADirectoryError):
            raise _not_found(path, ref) from None


async def stat_path(svc: Any, ref: str, path: str) -> dict[str, Any]:
    """HEAD /containers/{id}/archive."""
    c = svc.get(ref)
    if not path:
        raise InvalidParameter("path must not be empty")
    view = await asyncio.to_thread(_open_read_view, svc, c)
    try:
        return await asyncio.to_thread(_stat_in, view.root, path, ref)
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
        a = abs_path(path)
        with rootdir.Root(holder["root"]) as root:
            try:
                dirfd, name = _locate(root, a)
            except (FileNotFoundError, NotADirectoryError):
                raise _not_found(path, ref) from None
            try:
                if not rootdir.lexists_at(dirfd, name):
                    raise _not_found(path, ref)
                arc = go_base(a)
                _tar_tree(out, dirfd, name, "." if arc == "/" else arc)
            finally:
                os.close(dirfd)

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
        with rootdir.Root(holder["root"]) as root:
            _tar_tree(out, root.fd, ".", "", include_top=False)

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
    to_volume = _in_volume(c, abs_path(path))
    if not to_volume and c.host_config.readonly_rootfs:
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


def _in_volume(c: Container, a: str) -> bool:
    """dockerd's checkIfPathIsInAVolume: whether `a` lies in one of the container's
    mounts (the first that holds it decides); one mounted read-only refuses the write."""
    clean = posixpath.normpath(a.rstrip("/.") or "/")
    for mp in cmounts.load(c.mount_points):
        dest = posixpath.normpath(posixpath.join("/", mp.destination))
        if clean == dest or clean.startswith(dest.rstrip("/") + "/"):
            if mp.rw:
                return True
            raise Forbidden("mounted volume is marked read-only")
    return False


def _extract_into(
    root_path: str, path: str, ref: str, src: IO[bytes], no_overwrite: bool, copy_ids: bool
) -> None:
    a = abs_path(path)
    with rootdir.Root(root_path) as root:
        try:
            fd = root.open(a, os.O_PATH)
        except (FileNotFoundError, NotADirectoryError):
            raise _not_found(path, ref) from None
        try:
            if not stat.S_ISDIR(os.fstat(fd).st_mode):
                raise InvalidParameter("extraction point is not a directory")
        finally:
            os.close(fd)
        Extractor(root, root.resolve_path(a), no_overwrite, copy_ids).extract(src)
