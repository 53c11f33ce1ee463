"""COPY and ADD: files from the build context into a step's root filesystem (mounted by
the builder), with dockerd's destination rules, `--chown` and `--chmod`, and ADD's
unpacking of local archives.

Both trees are hostile (the context came from the client, the root from an image), so
neither is opened by name: the context is walked through directory fds, and the files
are written into the root by untar.Extractor, whose paths resolve inside the root."""

from __future__ import annotations

import os
import posixpath
import stat
import tarfile
import tempfile
from dataclasses import dataclass

from berth.engine.build.context import Context, Source
from berth.engine.containers.tartree import TreeTar
from berth.engine.containers.untar import Extractor
from berth.engine.errors import InvalidParameter
from berth.runtime import fdtree, rootdir


@dataclass
class Owner:
    uid: int = 0
    gid: int = 0


class _OwnedTar(TreeTar):
    """Context entries as tar, owned by the COPY's owner (root unless --chown) and with
    --chmod's mode when given."""

    def __init__(self, tf: tarfile.TarFile, owner: Owner, chmod: int | None) -> None:
        super().__init__(tf)
        self.owner = owner
        self.chmod = chmod

    def _header(self, arcname: str, st: os.stat_result) -> tarfile.TarInfo:
        ti = super()._header(arcname, st)
        ti.uid, ti.gid = self.owner.uid, self.owner.gid
        if self.chmod is not None and not stat.S_ISLNK(st.st_mode):
            ti.mode = self.chmod
        return ti


def destination(dest: str, workdir: str) -> str:
    """The absolute destination, relative ones taken from the WORKDIR."""
    if dest.startswith("/"):
        return dest
    return posixpath.join(workdir or "/", dest)


def copy(
    ctx: Context,
    sources: list[Source],
    rootfs: str,
    dest: str,
    workdir: str,
    *,
    owner: Owner,
    chmod: int | None,
    instruction: str,
    unpack_archives: bool,
    spool_dir: str,
) -> None:
    """Copy SOURCES to DEST (as written in the Dockerfile) inside the root at ROOTFS."""
    dest_abs = destination(dest, workdir)
    to_dir = dest.endswith("/") or dest.endswith("/.") or dest in (".", "")
    if len(sources) > 1 and not to_dir:
        raise InvalidParameter(
            f"When using {instruction} with more than one source file, the destination must "
            "be a directory and end with a /"
        )
    with rootdir.Root(rootfs) as droot:
        if not to_dir:
            to_dir = _is_dir(droot, dest_abs)
        archives = [
            s
            for s in sources
            if unpack_archives and s.origin is None and not s.is_dir and _archive(ctx, s)
        ]
        plain = [s for s in sources if s not in archives]
        if plain:
            target = (
                dest_abs
                if (to_dir or len(plain) > 1 or plain[0].is_dir)
                else posixpath.dirname(dest_abs)
            )
            with tempfile.TemporaryFile(dir=spool_dir) as spool:
                with tarfile.open(fileobj=spool, mode="w|", format=tarfile.PAX_FORMAT) as tf:
                    tt = _OwnedTar(tf, owner, chmod)
                    for src in plain:
                        if src.is_dir:
                            arc = ""
                        elif to_dir:
                            arc = src.name
                        else:
                            arc = posixpath.basename(dest_abs)
                        _add_tree(ctx, src, tt, arc)
                spool.seek(0)
                _extract(droot, target, spool)
        for src in archives:
            root, dirfd, name = ctx.open_tree(src.path)
            try:
                fd = rootdir.open_at(dirfd, name, os.O_RDONLY | os.O_NONBLOCK)
            finally:
                os.close(dirfd)
                root.close()
            with os.fdopen(fd, "rb") as f:
                _extract(droot, dest_abs, f)


def _is_dir(root: rootdir.Root, path: str) -> bool:
    try:
        fd = root.open(path, os.O_PATH)
    except (FileNotFoundError, NotADirectoryError):
        return False
    try:
        return stat.S_ISDIR(os.fstat(fd).st_mode)
    finally:
        os.close(fd)


def _add_tree(ctx: Context, src: Source, tt: _OwnedTar, arc: str) -> None:
    root, dirfd, name = (src.origin or ctx).open_tree(src.path)
    try:
        for e in fdtree.walk(dirfd, name):
            if not e.path:
                if src.is_dir:
                    continue  # a directory's contents are copied, not the directory
                tt.add(e, arc)
                continue
            tt.add(e, posixpath.join(arc, e.path) if arc else e.path)
    finally:
        os.close(dirfd)
        root.close()


def _extract(root: rootdir.Root, target: str, src: object) -> None:
    fd = root.mkdir_all(target)
    os.close(fd)
    Extractor(root, root.resolve_path(target), no_overwrite=False, copy_ids=True).extract(
        src  # type: ignore[arg-type]
    )


_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")


def _archive(ctx: Context, src: Source) -> bool:
    """Whether ADD unpacks SRC: a tar, maybe gzip-, bzip2- or xz-compressed (dockerd
    looks at the content, not the name)."""
    root, dirfd, name = ctx.open_tree(src.path)
    try:
        fd = rootdir.open_at(dirfd, name, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return False
    finally:
        os.close(dirfd)
        root.close()
    with os.fdopen(fd, "rb") as f:
        head = f.read(512)
    if any(head.startswith(m) for m in _MAGIC):
        return True
    return len(head) >= 262 and head[257:262] == b"ustar"
