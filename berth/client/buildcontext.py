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
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from berth.client.contexttar import BLOCK, member, tar_stream, walk
from berth.client.errors import ContextError

__all__ = ["BuildContext", "ContextError", "from_directory", "from_reader", "from_url",
           "git_checkout", "gzipped", "local_dir", "detect_type"]  # fmt: skip

DEFAULT_DOCKERFILE = "Dockerfile"
_READ = 1 << 20
# Go's archive reader looks at twice a tar header to tell a tar from a Dockerfile
_PEEK = 2 * BLOCK
_COMPRESSED = (b"\x1f\x8b\x08", b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd")


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


def from_directory(
    context_dir: str, rel_dockerfile: str, dockerfile_data: bytes | None = None
) -> BuildContext:
    """The tar of a context directory (resolved by local_dir). DOCKERFILE_DATA, for a
    Dockerfile from stdin or from outside the directory, is added under a random name."""
    from_stdin = rel_dockerfile == "-"
    excludes = read_dockerignore(context_dir)
    patterns = trim_build_files(excludes, rel_dockerfile, from_stdin)
    entries = walk(context_dir, patterns, excludes)
    if dockerfile_data is None:
        return BuildContext(tar_stream(entries, {}, None), rel_dockerfile)
    name = ".dockerfile." + secrets.token_hex(10)
    return BuildContext(tar_stream(entries, {name: dockerfile_data}, f"\n{name}\n".encode()), name)


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
        tarfile.TarInfo.frombuf(head[:BLOCK], "utf-8", "surrogateescape")
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
    tar = member(DEFAULT_DOCKERFILE, data, 0o644) + b"\0" * (2 * BLOCK)
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
