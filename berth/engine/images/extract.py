"""Extract one layer tar into a directory for use as an overlay lower dir, safely.

Entries that would land outside the layer directory are refused: absolute names,
`..` components, symlinked parents that lead out (or are absolute), hard links
to outside. The directory is private to the extraction (a fresh temp dir), so
the symlinks we meet are only those this tar created: checking with lstat and
then acting is not racy.

OCI whiteouts become overlayfs ones: `.wh.NAME` -> a 0:0 character device NAME;
`.wh..wh..opq` -> the xattr trusted.overlay.opaque=y on the directory."""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
from pathlib import Path

from berth.engine.errors import InvalidParameter

WHITEOUT_PREFIX = ".wh."
WHITEOUT_META_PREFIX = ".wh..wh."
WHITEOUT_OPAQUE = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
_XATTR_PAX = "SCHILY.xattr."
_MAX_SYMLINK_HOPS = 40
_CHUNK = 1 << 20


class UnsafeLayer(InvalidParameter):
    """A layer entry tried to leave the layer directory."""


def clean_name(name: str) -> list[str]:
    """The path components of a member name; refuses absolute names and `..`."""
    if name.startswith("/"):
        raise UnsafeLayer(f"refusing absolute path in layer: {name!r}")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeLayer(f"refusing path with '..' in layer: {name!r}")
    if any("\x00" in p for p in parts):
        raise UnsafeLayer(f"refusing path with NUL byte in layer: {name!r}")
    return parts


class _Extractor:
    def __init__(self, dest: Path) -> None:
        self.dest = str(dest)
        self.dir_times: list[tuple[str, int]] = []
        self.seen_inodes: set[tuple[int, int]] = set()
        self.size = 0

    # ---- path resolution ------------------------------------------------
    def resolve_dir(self, parts: list[str], *, create: bool, what: str) -> list[str]:
        """Follow `parts` (a directory path) inside the layer; symlinks are followed only
        while they stay inside, as relative links. Missing dirs are made when `create`."""
        resolved: list[str] = []
        todo = list(parts)
        hops = 0
        while todo:
            comp = todo.pop(0)
            if comp in ("", "."):
                continue
            if comp == "..":
                if not resolved:
                    raise UnsafeLayer(f"refusing {what}: a symlink in its path leads out")
                resolved.pop()
                continue
            p = os.path.join(self.dest, *resolved, comp)
            try:
                st = os.lstat(p)
            except FileNotFoundError:
                if not create:
                    raise UnsafeLayer(
                        f"refusing {what}: {'/'.join(parts)} does not exist"
                    ) from None
                os.mkdir(p, 0o755)
                resolved.append(comp)
                continue
            if stat.S_ISLNK(st.st_mode):
                hops += 1
                target = os.readlink(p)
                if target.startswith("/") or hops > _MAX_SYMLINK_HOPS:
                    raise UnsafeLayer(f"refusing {what}: a symlink in its path leads out")
                todo = target.split("/") + todo
                continue
            if not stat.S_ISDIR(st.st_mode):
                raise InvalidParameter(f"invalid layer: {what}: {comp!r} is not a directory")
            resolved.append(comp)
        return resolved

    def target_path(self, parts: list[str], name: str) -> str:
        parent = self.resolve_dir(parts[:-1], create=True, what=repr(name))
        return os.path.join(self.dest, *parent, parts[-1])

    # ---- entries --------------------------------------------------------
    def _clear(self, path: str, keep_dir: bool) -> bool:
        """Remove what is at `path` (an earlier entry); True if a dir was kept."""
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return False
        if stat.S_ISDIR(st.st_mode):
            if keep_dir:
                return True
            shutil.rmtree(path)
        else:
            os.unlink(path)
        return False

    def entry(self, tf: tarfile.TarFile, ti: tarfile.TarInfo) -> None:
        parts = clean_name(ti.name)
        if not parts:  # the layer root itself
            self._meta(self.dest, ti)
            self.dir_times.append((self.dest, int(ti.mtime)))
            return
        base = parts[-1]
        if base.startswith(WHITEOUT_PREFIX):
            self._whiteout(parts, ti)
            return
        path = self.target_path(parts, ti.name)
        if ti.isdir():
            if not self._clear(path, keep_dir=True):
                os.mkdir(path, 0o700)
            self._meta(path, ti)
            self.dir_times.append((path, int(ti.mtime)))
            return
        self._clear(path, keep_dir=False)
        if ti.isreg():
            self._file(tf, ti, path)
        elif ti.issym():
            os.symlink(ti.linkname, path)
            self.size += len(ti.linkname.encode())
        elif ti.islnk():
            self._hardlink(ti, path)
            return  # a hard link shares the inode: metadata is the target's
        elif ti.ischr() or ti.isblk():
            kind = stat.S_IFCHR if ti.ischr() else stat.S_IFBLK
            os.mknod(path, kind | 0o600, os.makedev(ti.devmajor, ti.devminor))
        elif ti.isfifo():
            os.mkfifo(path, 0o600)
        else:
            raise InvalidParameter(f"invalid layer: unsupported entry type for {ti.name!r}")
        self._meta(path, ti)
        os.utime(path, (ti.mtime, ti.mtime), follow_symlinks=False)

    def _file(self, tf: tarfile.TarFile, ti: tarfile.TarInfo, path: str) -> None:
        src = tf.extractfile(ti)
        assert src is not None
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(src, out, _CHUNK)
        self.size += ti.size

    def _hardlink(self, ti: tarfile.TarInfo, path: str) -> None:
        if ti.linkname.startswith("/"):
            raise UnsafeLayer(f"refusing hard link to an absolute path: {ti.linkname!r}")
        try:
            lparts = clean_name(ti.linkname)
        except UnsafeLayer:
            raise UnsafeLayer(f"refusing hard link to outside the layer: {ti.linkname!r}") from None
        if not lparts:
            raise UnsafeLayer(f"refusing hard link to the layer root: {ti.name!r}")
        where = f"hard link {ti.name!r}"
        parent = self.resolve_dir(lparts[:-1], create=False, what=where)
        target = os.path.join(self.dest, *parent, lparts[-1])
        try:
            st = os.lstat(target)
        except FileNotFoundError:
            raise InvalidParameter(
                f"invalid layer: {where} points to missing {ti.linkname!r}"
            ) from None
        if stat.S_ISDIR(st.st_mode):
            raise InvalidParameter(f"invalid layer: {where} points to a directory")
        os.link(target, path, follow_symlinks=False)

    def _whiteout(self, parts: list[str], ti: tarfile.TarInfo) -> None:
        base = parts[-1]
        parent = self.resolve_dir(parts[:-1], create=True, what=repr(ti.name))
        pdir = os.path.join(self.dest, *parent)
        if base == WHITEOUT_OPAQUE:
            os.setxattr(pdir, OPAQUE_XATTR, b"y")
            return
        if base.startswith(WHITEOUT_META_PREFIX):
            return  # other aufs metadata (hard link dirs): nothing for overlay
        name = base[len(WHITEOUT_PREFIX) :]
        if not name or name in (".", ".."):
            raise UnsafeLayer(f"refusing whiteout entry {ti.name!r}")
        path = os.path.join(pdir, name)
        self._clear(path, keep_dir=False)
        os.mknod(path, stat.S_IFCHR, os.makedev(0, 0))
        os.chown(path, ti.uid, ti.gid, follow_symlinks=False)

    def _meta(self, path: str, ti: tarfile.TarInfo) -> None:
        # chown before chmod: chown clears set-id bits.
        os.chown(path, ti.uid, ti.gid, follow_symlinks=False)
        if not ti.issym():
            os.chmod(path, ti.mode & 0o7777)
        for key, value in ti.pax_headers.items():
            if key.startswith(_XATTR_PAX):
                raw = value.encode("utf-8", "surrogateescape")
                try:
                    os.setxattr(path, key[len(_XATTR_PAX) :], raw, follow_symlinks=False)
                except OSError as exc:
                    raise InvalidParameter(
                        f"invalid layer: cannot set xattr {key[len(_XATTR_PAX) :]} "
                        f"on {ti.name!r}: {exc.strerror}"
                    ) from exc

    def finish(self) -> None:
        # Directory mtimes last, deepest first: writing inside a dir changes its mtime.
        for path, mtime in reversed(self.dir_times):
            os.utime(path, (mtime, mtime), follow_symlinks=False)


def extract_layer(tar_path: Path, dest: Path) -> int:
    """Extract the uncompressed layer tar at `tar_path` into the empty dir `dest`.

    Returns the layer's size (regular file bytes plus symlink targets, as dockerd counts).
    Raises InvalidParameter (UnsafeLayer for escapes) for bad input; the caller removes
    `dest` on failure."""
    ex = _Extractor(dest)
    try:
        with tarfile.open(tar_path, "r:") as tf:
            for ti in tf:
                ex.entry(tf, ti)
    except tarfile.TarError as exc:
        raise InvalidParameter(f"invalid layer tar: {exc}") from exc
    except EOFError as exc:
        raise InvalidParameter("invalid layer tar: unexpected end of data") from exc
    ex.finish()
    return ex.size
