"""How Go spells a path and a file mode, as `docker cp` and its stat header need them:
os.FileMode bits, a clean absolute path that keeps docker cp's trailing "/" or "/.",
filepath.Base."""

from __future__ import annotations

import posixpath
import stat

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
