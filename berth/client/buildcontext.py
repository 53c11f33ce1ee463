"""The build context `berth build` sends: a directory tarred here, a tar (or a Dockerfile)
read from stdin, a remote tar, or a Git checkout, by docker/cli's rules
(`cli/command/image/build/context.go`), messages included.

A directory's tar is what docker/cli's `archive.TarWithOptions` makes of it: members in
lexical walk order, directories ending in "/", symbolic links sent as links, hard links
as links to the first name, file modes kept, uid/gid 0 with no user or group names,
mtimes in whole seconds, PAX where a name needs it. `.dockerignore` decides what is left
out, except that the Dockerfile and `.dockerignore` themselves are always sent (the
daemon drops them). A Dockerfile from outside the directory (or from stdin) travels as
`.dockerfile.<random>`, named in `.dockerignore` so that COPY never sees it.

The tar is produced lazily, chunk by chunk, so that a large context is never held in
memory; everything that can fail by docker's rules (a missing Dockerfile, an unreadable
file) is found by the walk before the first byte is sent.
"""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
import tarfile
import tempfile
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

DEFAULT_DOCKERFILE = "Dockerfile"
_BLOCK = 512
_READ = 1 << 20
# Go's archive reader looks at twice a tar header to tell a tar from a Dockerfile
_PEEK = 2 * _BLOCK
_COMPRESSED = (b"\x1f\x8b\x08", b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd")


class ContextError(Exception):
    """The context cannot be prepared; the message is docker/cli's, shown as is."""


@dataclass
class BuildContext:
    """What to send: the body's chunks and the Dockerfile's name inside it ("" lets the
    daemon pick its default). close() removes any temporary directory behind it."""

    chunks: Iterable[bytes]
    dockerfile: str
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for fn in self.cleanups:
            fn()
        self.cleanups.clear()


# ---- which kind of context ------------------------------------------------------------
def is_url(spec: str) -> bool:
    """urlutil.IsURL."""
    return spec.startswith(("http://", "https://"))


def is_git_url(spec: str) -> bool:
    """urlutil.IsGitURL: an http(s) URL ending in .git (maybe with a #fragment), or git://,
    github.com/, git@."""
    if is_url(spec):
        path = spec.split("#", 1)[0]
        if path.endswith(".git") and ("#" not in spec or spec.split("#", 1)[1]):
            return True
    return spec.startswith(("git://", "github.com/", "git@"))


def detect_type(spec: str) -> str:
    """build.DetectContextType: "stdin", "local", "git" or "remote"."""
    if spec == "-":
        return "stdin"
    if os.path.exists(spec):
        return "local"
    if is_git_url(spec):
        return "git"
    if is_url(spec):
        return "remote"
    raise ContextError(f'unable to prepare context: path "{spec}" not found')


# ---- paths, as Go resolves them --------------------------------------------------------
def _go_err(op: str, path: str, exc: OSError) -> str:
    return f"{op} {path}: {(exc.strerror or str(exc)).lower()}"


def eval_symlinks(path: str) -> str:
    """filepath.EvalSymlinks, with its error text: the first missing component is named
    ("lstat /ctx/Dockerfile: no such file or directory")."""
    try:
        return os.path.realpath(path, strict=True)
    except OSError:
        pass
    prefix = "/" if path.startswith("/") else ""
    for comp in [c for c in path.split("/") if c]:
        prefix = os.path.join(prefix, comp) if prefix else comp
        try:
            os.lstat(prefix)
        except OSError as exc:
            raise ContextError(_go_err("lstat", prefix, exc)) from None
    return os.path.realpath(path)  # a loop, say: realpath's own answer then


def resolve_context_dir(given: str) -> str:
    """resolveAndValidateContextPath: the absolute, symlink-free context directory."""
    absdir = os.path.abspath(given)
    try:
        absdir = eval_symlinks(absdir)
    except ContextError as exc:
        raise ContextError(f"unable to evaluate symlinks in context path: {exc}") from None
    try:
        st = os.lstat(absdir)
    except OSError as exc:
        raise ContextError(f'unable to stat context directory "{absdir}": {exc}') from None
    if not stat.S_ISDIR(st.st_mode):
        raise ContextError(f"context must be a directory: {absdir}")
    return absdir


def dockerfile_rel_path(context_dir: str, given: str) -> str:
    """getDockerfileRelPath: the Dockerfile relative to the context ("../x" when outside;
    "-" stays "-"). Without -f, Dockerfile, else dockerfile if only that one exists."""
    if given == "-":
        return given
    path = given
    if not path:
        path = os.path.join(context_dir, DEFAULT_DOCKERFILE)
        if not os.path.lexists(path):
            alt = os.path.join(context_dir, DEFAULT_DOCKERFILE.lower())
            if os.path.lexists(alt):
                path = alt
    if not os.path.isabs(path):
        path = os.path.join(context_dir, path)
    try:
        path = eval_symlinks(path)
    except ContextError as exc:
        raise ContextError(f"unable to evaluate symlinks in Dockerfile path: {exc}") from None
    try:
        os.lstat(path)
    except FileNotFoundError:
        raise ContextError(f'cannot locate Dockerfile: "{path}"') from None
    except OSError as exc:
        raise ContextError(f"unable to stat Dockerfile: {_go_err('lstat', path, exc)}") from None
    return os.path.relpath(path, context_dir)


def local_dir(spec: str, dockerfile: str) -> tuple[str, str]:
    """GetContextFromLocalDir: (absolute context dir, Dockerfile relative to it). A -f
    path is relative to the working directory, not to the context."""
    context_dir = resolve_context_dir(spec)
    if dockerfile and dockerfile != "-":
        dockerfile = os.path.abspath(dockerfile)
    return context_dir, dockerfile_rel_path(context_dir, dockerfile)


# ---- .dockerignore ---------------------------------------------------------------------
def read_dockerignore(context_dir: str) -> list[str]:
    """build.ReadDockerignore: the patterns of the context's .dockerignore ([] if none)."""
    from berth import dockerignore

    try:
        with open(os.path.join(context_dir, ".dockerignore"), encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise ContextError(f"error reading .dockerignore: {exc.strerror or exc}") from None
    return dockerignore.read(text)


def trim_build_files(excludes: list[str], dockerfile: str, from_stdin: bool) -> list[str]:
    """TrimBuildFilesFromExcludes: the Dockerfile and .dockerignore are always sent (the
    daemon needs them and removes them from what COPY sees)."""
    from berth.dockerignore import Matcher

    out = list(excludes)
    if Matcher(excludes).matches(".dockerignore"):
        out.append("!.dockerignore")
    if Matcher(excludes).matches(dockerfile) and not from_stdin:
        out.append("!" + dockerfile)
    return out


# ---- the directory's tar ---------------------------------------------------------------
@dataclass
class _Entry:
    path: str  # on the host
    name: str  # in the tar
    st: os.stat_result
    link: str = ""


def _walk(context_dir: str, patterns: list[str], check: list[str]) -> list[_Entry]:
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
    pad = left + (-size % _BLOCK)
    if pad:
        yield b"\0" * pad


def _member(name: str, data: bytes, mode: int = 0o600, mtime: int | None = None) -> bytes:
    when = int(time.time()) if mtime is None else mtime
    return _info(name, None, mode, len(data), when) + data + b"\0" * (-len(data) % _BLOCK)


def _tar(
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
                buf += _member(
                    e.name, data + ignore_add, stat.S_IMODE(st.st_mode), int(st.st_mtime)
                )
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
        buf += _member(".dockerignore", b".dockerignore" + ignore_add)
    for name, data in extra.items():
        buf += _member(name, data)
    buf += b"\0" * (2 * _BLOCK)
    yield bytes(buf)


def from_directory(
    context_dir: str, rel_dockerfile: str, dockerfile_data: bytes | None = None
) -> BuildContext:
    """The tar of a context directory (resolved by local_dir). DOCKERFILE_DATA, for a
    Dockerfile from stdin or from outside the directory, is added under a random name."""
    from_stdin = rel_dockerfile == "-"
    excludes = read_dockerignore(context_dir)
    patterns = trim_build_files(excludes, rel_dockerfile, from_stdin)
    entries = _walk(context_dir, patterns, excludes)
    if dockerfile_data is None:
        return BuildContext(_tar(entries, {}, None), rel_dockerfile)
    name = ".dockerfile." + secrets.token_hex(10)
    return BuildContext(_tar(entries, {name: dockerfile_data}, f"\n{name}\n".encode()), name)


# ---- stdin and remote contexts ----------------------------------------------------------
def _peek(src: BinaryIO) -> bytes:
    head = b""
    while len(head) < _PEEK:
        data = src.read(_PEEK - len(head))
        if not data:
            break
        head += data
    return head


def is_archive(head: bytes) -> bool:
    """isArchive: compressed (gzip, bzip2, xz, zstd), or a valid tar header first."""
    if head.startswith(_COMPRESSED):
        return True
    try:
        tarfile.TarInfo.frombuf(head[:_BLOCK], "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True


def _rest(head: bytes, src: BinaryIO) -> Iterator[bytes]:
    if head:
        yield head
    while data := src.read(_READ):
        yield data


def from_reader(src: BinaryIO, dockerfile: str) -> BuildContext:
    """GetContextFromReader: a tar (maybe compressed) is sent as it comes, with -f naming
    the Dockerfile inside; anything else is a Dockerfile, sent alone in a tar."""
    head = _peek(src)
    if is_archive(head):
        return BuildContext(_rest(head, src), dockerfile)
    if dockerfile == "-":
        raise ContextError("build context is not an archive")
    if dockerfile:
        raise ContextError(
            "ambiguous Dockerfile source: both stdin and flag correspond to Dockerfiles"
        )
    data = b"".join(_rest(head, src))
    tar = _member(DEFAULT_DOCKERFILE, data, 0o644) + b"\0" * (2 * _BLOCK)
    return BuildContext([tar], DEFAULT_DOCKERFILE)


def from_url(url: str, dockerfile: str) -> BuildContext:
    """GetContextFromURL: download a tar or a Dockerfile."""
    import urllib.error
    import urllib.request

    try:
        resp = urllib.request.urlopen(url, timeout=60)  # noqa: S310 - the user's own URL
    except urllib.error.HTTPError as exc:
        body = exc.read().strip().decode("utf-8", "replace")
        raise ContextError(
            f"unable to download remote context {url}: failed to GET {url} with status "
            f"{exc.code} {exc.reason}: {body}"
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ContextError(f"unable to download remote context {url}: {reason}") from None
    try:
        ctx = from_reader(resp, dockerfile)
    except BaseException:
        resp.close()
        raise
    ctx.cleanups.append(resp.close)
    return ctx


def git_checkout(url: str) -> tuple[str, str]:
    """git.Clone: fetch REF (after '#', default master) of the repository into a temporary
    directory; (the directory to remove, the context directory: SUBDIR after ':')."""
    import shutil
    from urllib.parse import urlsplit, urlunsplit

    if not (url.startswith("git@") or urlsplit(url).scheme in ("git", "http", "https", "ssh")):
        url = "https://" + url
    if url.startswith("git@"):
        remote, _, fragment = url.partition("#")
    else:
        parts = urlsplit(url)
        fragment = parts.fragment
        remote = urlunsplit(parts._replace(fragment=""))
    ref, _, subdir = fragment.partition(":")
    ref = ref or "master"
    if ref.startswith("-"):
        raise ContextError(f"invalid refspec: {ref}")
    root = tempfile.mkdtemp(prefix="docker-build-git")
    env = {**os.environ, "GIT_PROTOCOL_FROM_USER": "0"}

    def git(*args: str) -> subprocess.CompletedProcess[bytes]:
        # protocol.file.allow=never: a repository must not pull host paths in as submodules
        return subprocess.run(
            ["git", "-c", "protocol.file.allow=never", *args],
            cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip

    try:
        if shutil.which("git") is None:
            raise ContextError("unable to find 'git': exec: \"git\": executable file not found")
        git("init")
        git("remote", "add", "origin", remote)
        r = git("fetch", "--depth", "1", "origin", "--", ref)
        if r.returncode != 0:
            r = git("fetch", "origin", "--", ref)
        if r.returncode != 0:
            raise ContextError(f"error fetching: {r.stdout.decode(errors='replace').strip()}")
        r = git("checkout", ref)
        if r.returncode != 0 and git("checkout", "FETCH_HEAD").returncode != 0:
            raise ContextError(f"error checking out {ref}: {r.stdout.decode().strip()}")
        r = git("submodule", "update", "--init", "--recursive", "--depth=1")
        if r.returncode != 0:
            raise ContextError(f"error initializing submodules: {r.stdout.decode().strip()}")
        ctx = root
        if subdir:
            ctx = os.path.realpath(os.path.join(root, subdir))
            if ctx != root and not ctx.startswith(root + "/"):
                raise ContextError(f'error setting git context, "{subdir}" not within git root')
            if not os.path.isdir(ctx):
                raise ContextError(f"error setting git context, not a directory: {ctx}")
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return root, ctx


# ---- compression ------------------------------------------------------------------------
def gzipped(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """build.Compress: the body gzip-compressed (the daemon detects it)."""
    try:
        # ISA-L deflates several times faster than zlib: --compress is for slow links,
        # and must not make a fast one slower than needed
        from isal import isal_zlib

        z: Any = isal_zlib.compressobj(2, isal_zlib.DEFLATED, 31)
    except ImportError:
        z = zlib.compressobj(6, zlib.DEFLATED, 31)
    for chunk in chunks:
        out = z.compress(chunk)
        if out:
            yield out
    yield z.flush()
