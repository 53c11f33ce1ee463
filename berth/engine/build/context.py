"""The build context: the client's tar (maybe compressed) unpacked into a directory of the
build's own, and what COPY and ADD take from it.

The tar is hostile: a member outside the context (`../`, an absolute name), a member
beneath a symbolic link of the tar's own, a hard link out or a device node is refused
with a clear error; the rest is created through directory fds (untar.Extractor), so that
nothing can land outside the directory. Paths COPY names are resolved inside the context
the way dockerd resolves them (symlinks followed as if the context were `/`, `..` stopping
there), and a source that would leave it is refused as dockerd refuses it."""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import stat
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from berth.engine.containers.untar import Extractor
from berth.engine.errors import InvalidParameter
from berth.runtime import fdtree, rootdir

# a Dockerfile larger than this is not one (dockerd reads it whole into memory too)
MAX_DOCKERFILE = 10 << 20


def _bad(msg: str) -> InvalidParameter:
    return InvalidParameter(f"invalid build context: {msg}")


def unpack(src: IO[bytes], dest: Path) -> int:
    """Unpack the context tar SRC (uncompressed) into the empty directory DEST; the number
    of members."""
    try:
        tf = tarfile.open(fileobj=src, mode="r|")
    except tarfile.ReadError as exc:
        if "empty file" in str(exc):
            return 0  # an empty body: an empty context, refused later for its Dockerfile
        raise _bad(f"not a tar archive: {exc}") from None
    except tarfile.TarError as exc:
        raise _bad(str(exc)) from None
    links: set[str] = set()
    n = 0
    with rootdir.Root(str(dest)) as root, tf:
        ex = Extractor(root, "/", no_overwrite=False, copy_ids=False)
        try:
            for ti in tf:
                name = _member_name(ti.name)
                if not name:
                    continue
                parts = name.split("/")
                for i in range(1, len(parts)):
                    if "/".join(parts[:i]) in links:
                        raise _bad(f"{ti.name!r} lies beneath the symbolic link {parts[i - 1]!r}")
                if ti.isdev():
                    raise _bad(f"{ti.name!r} is a device node")
                if ti.islnk():
                    target = _member_name(ti.linkname)
                    if not target:
                        raise _bad(f"the hard link {ti.name!r} points outside the context")
                    ti.linkname = target
                if ti.issym():
                    links.add(name)
                ti.name = name
                ex.entry(tf, ti)
                n += 1
        except tarfile.TarError as exc:
            raise _bad(str(exc)) from None
        ex.finish()
    return n


def _member_name(raw: str) -> str:
    """A member's name inside the context, or "" for the context's root; refused if it
    is absolute or climbs out."""
    if raw.startswith("/"):
        raise _bad(f"{raw!r} is an absolute path")
    name = posixpath.normpath(raw)
    if name == "..":
        raise _bad(f"{raw!r} is outside the context")
    if name.startswith("../"):
        raise _bad(f"{raw!r} is outside the context")
    return "" if name == "." else name


@dataclass
class Source:
    """One COPY/ADD source found in the context: its path there (resolved, "/"-rooted)
    and what it is."""

    path: str
    is_dir: bool
    name: str  # the name it was asked for (for a file copied into a directory)
    # the Context it is in, when not the one asked (ADD of a URL: its download)
    origin: Any = None


class Context:
    """The unpacked context at DIR (a directory of the build's own)."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory

    def read_dockerfile(self, name: str) -> bytes:
        """The Dockerfile at NAME (a path in the context, as the client sent it)."""
        rel = posixpath.normpath(name.replace("\\", "/")).lstrip("/")
        with rootdir.Root(str(self.dir)) as root:
            try:
                fd = root.open("/" + rel, os.O_RDONLY)
            except (FileNotFoundError, NotADirectoryError):
                raise InvalidParameter(f"Cannot locate specified Dockerfile: {name}") from None
            with os.fdopen(fd, "rb") as f:
                if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                    raise InvalidParameter(f"Cannot locate specified Dockerfile: {name}")
                data = f.read(MAX_DOCKERFILE + 1)
        if len(data) > MAX_DOCKERFILE:
            raise InvalidParameter(f"the Dockerfile {name} is larger than 10 MiB")
        return data

    def drop_ignored_specials(self, dockerfile: str) -> None:
        """What dockerd does with the context once it has read the Dockerfile: if the
        .dockerignore excludes the Dockerfile or itself, they are taken out, so that
        `COPY . .` does not copy them."""
        try:
            raw = self.read_dockerfile(".dockerignore")
        except InvalidParameter:
            return
        from berth import dockerignore

        try:
            matcher = dockerignore.Matcher(dockerignore.read(raw.decode(errors="replace")))
        except ValueError as exc:
            raise InvalidParameter(f"failed to parse .dockerignore: {exc}") from None
        for name in (posixpath.normpath(dockerfile).lstrip("/"), ".dockerignore"):
            if matcher.matches(name):
                with rootdir.Root(str(self.dir)) as root:
                    try:
                        dirfd, base = root.open_parent("/" + name)
                    except (FileNotFoundError, NotADirectoryError):
                        continue
                    try:
                        os.unlink(base, dir_fd=dirfd)
                    except (FileNotFoundError, IsADirectoryError):
                        pass
                    finally:
                        os.close(dirfd)

    # ---- COPY / ADD sources -------------------------------------------
    def sources(self, raw: str, instruction: str) -> list[Source]:
        """The context paths SRC names (wildcards expanded as dockerd expands them)."""
        rel = posixpath.normpath("/" + raw.replace("\\", "/"))
        # dockerd: a source that climbs out of the context is forbidden
        if posixpath.normpath(raw).startswith("../") or posixpath.normpath(raw) == "..":
            raise InvalidParameter(
                f"{instruction} failed: forbidden path outside the build context: {raw} ()"
            )
        with rootdir.Root(str(self.dir)) as root:
            if _has_wildcard(rel):
                found = [Source(p, d, posixpath.basename(p)) for p, d in _glob(root, rel)]
                if not found:
                    raise InvalidParameter(f"{instruction} failed: no source files were specified")
                return found
            try:
                fd = root.open(rel, os.O_PATH)
            except (FileNotFoundError, NotADirectoryError):
                raise InvalidParameter(
                    f"{instruction} failed: file not found in build context or excluded by "
                    f".dockerignore: stat {raw.lstrip('/')}: file does not exist"
                ) from None
            try:
                is_dir = stat.S_ISDIR(os.fstat(fd).st_mode)
            finally:
                os.close(fd)
            return [Source(root.resolve_path(rel), is_dir, posixpath.basename(rel))]

    def checksum(self, sources: list[Source]) -> str:
        """The classic builder's cache key for the sources: `file:`, `dir:` or `multi:`
        and a digest of names, kinds, modes, sizes, link targets and contents (not times
        nor owners: they do not change what COPY makes)."""
        h = hashlib.sha256()
        for src in sources:
            where = src.origin if src.origin is not None else self
            with rootdir.Root(str(where.dir)) as root:
                h.update(b"\0src\0" + src.path.encode())
                for rel, st, digest, link in _entries(root, src.path):
                    h.update(
                        f"\0{rel}\0{stat.S_IFMT(st.st_mode)}\0{stat.S_IMODE(st.st_mode)}"
                        f"\0{st.st_size}\0{link}\0".encode()
                    )
                    h.update(digest)
        kind = "multi" if len(sources) > 1 else ("dir" if sources[0].is_dir else "file")
        return f"{kind}:{h.hexdigest()}"

    def open_tree(self, path: str) -> tuple[rootdir.Root, int, str]:
        """(the context's Root, the fd of PATH's parent, PATH's name there): for the
        copier to walk. The caller closes both."""
        root = rootdir.Root(str(self.dir))
        try:
            if path == "/":
                return root, os.dup(root.fd), "."
            dirfd, name = root.open_parent(path)
            return root, dirfd, name
        except BaseException:
            root.close()
            raise


def _entries(root: rootdir.Root, path: str) -> Iterator[tuple[str, os.stat_result, bytes, str]]:
    if path == "/":
        dirfd, name = os.dup(root.fd), "."
    else:
        dirfd, name = root.open_parent(path)
    try:
        for e in fdtree.walk(dirfd, name):
            link = ""
            digest = b""
            if stat.S_ISLNK(e.st.st_mode):
                link = rootdir.readlink_at(e.dirfd, e.name)
            elif stat.S_ISREG(e.st.st_mode):
                fd = rootdir.open_at(e.dirfd, e.name, os.O_RDONLY | os.O_NONBLOCK)
                with os.fdopen(fd, "rb") as f:
                    fh = hashlib.sha256()
                    while chunk := f.read(1 << 20):
                        fh.update(chunk)
                    digest = fh.digest()
            yield e.path, e.st, digest, link
    finally:
        os.close(dirfd)


_WILD = re.compile(r"[*?\[]")


def _has_wildcard(path: str) -> bool:
    return bool(_WILD.search(path))


def go_match(pattern: str, name: str) -> bool:
    """Go's filepath.Match for one path (a `*` does not cross a "/")."""
    return _translate(pattern).fullmatch(name) is not None


def _translate(pattern: str) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        elif ch == "[":
            j = pattern.find("]", i + 2 if pattern[i + 1 : i + 2] in ("^", "!") else i + 1)
            if j < 0:
                raise InvalidParameter(f"syntax error in pattern: {pattern}")
            body = pattern[i + 1 : j]
            neg = body[:1] in ("^", "!")
            if neg:
                body = body[1:]
            out.append("[" + ("^" if neg else "") + body.replace("\\", "\\\\") + "]")
            i = j
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out))


def _glob(root: rootdir.Root, pattern: str) -> list[tuple[str, bool]]:
    """Context paths matching PATTERN (absolute, "/"-separated), as dockerd walks them:
    every path of the context is matched whole."""
    found: list[tuple[str, bool]] = []
    depth = pattern.count("/")
    for e in fdtree.walk(root.fd, "."):
        if not e.path or e.path.count("/") + 1 > depth:
            continue
        p = "/" + e.path
        if go_match(pattern, p):
            found.append((p, stat.S_ISDIR(e.st.st_mode)))
    found.sort()
    return found
