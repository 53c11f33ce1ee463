"""Blob uploads (the push side of the distribution API): open a session, PATCH the bytes
(in `client.chunk_size` pieces with Content-Range when the blob is larger; as one
streamed request when it is small or the registry refuses pieces), then PUT to close it
with the digest (which the registry checks)."""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from typing import IO

from berth.engine.errors import EngineError, SystemError_
from berth.engine.images.registry import auth
from berth.engine.images.registry.client import Progress, RegistryClient

# Registries that answer the first Content-Range piece with one of these take no pieces.
_NO_CHUNKS = (400, 405, 411, 416, 501)


def upload_blob(
    client: RegistryClient,
    path: str,
    digest: str,
    size: int,
    open_src: Callable[[], IO[bytes]],
    progress: Progress,
    location: str | None = None,
) -> None:
    """Upload the blob `open_src()` reads (`size` bytes, `digest`) to repository `path`;
    `location` is an upload session already open (a mount the registry turned down)."""
    scopes = [auth.repo_scope(path, "pull,push")]
    min_chunk = 0
    if location is None:
        location, min_chunk = _start(client, path, scopes)
    chunk = max(client.chunk_size, min_chunk)
    done = None
    if size > chunk:
        done = _pieces(client, location, digest, size, open_src, progress, chunk, scopes)
        if done is None:
            progress(0)
            location, _ = _start(client, path, scopes)
    if done is None:
        done = _whole(client, location, digest, size, open_src, progress, scopes)
    sep = "&" if "?" in done else "?"
    url = done + sep + urllib.parse.urlencode({"digest": digest})
    resp = client.request("PUT", url, scopes, {"Content-Length": "0"}, b"")
    client.check(resp, f"blob upload {digest}", (201, 204))
    resp.close()


def _start(client: RegistryClient, path: str, scopes: list[str]) -> tuple[str, int]:
    """POST a new upload session: (its location, the registry's minimum chunk size)."""
    resp = client.request("POST", f"/v2/{path}/blobs/uploads/", scopes, body=b"")
    client.check(resp, "blob upload", (202,))
    with resp:
        resp.read_small()
        location = urllib.parse.urljoin(client.base() + "/", resp.header("Location"))
        try:
            min_chunk = int(resp.header("OCI-Chunk-Min-Length") or 0)
        except ValueError:
            min_chunk = 0
    return location, min_chunk


def _whole(
    client: RegistryClient,
    location: str,
    digest: str,
    size: int,
    open_src: Callable[[], IO[bytes]],
    progress: Progress,
    scopes: list[str],
) -> str:
    """The blob in one streamed PATCH; the location to PUT to."""

    def body() -> IO[bytes]:
        return _Counting(open_src(), progress)  # type: ignore[return-value]

    resp = client.request(
        "PATCH",
        location,
        scopes,
        {"Content-Type": "application/octet-stream", "Content-Length": str(size)},
        body,
    )
    client.check(resp, f"blob upload {digest}", (202, 204))
    with resp:
        resp.read_small()
        return urllib.parse.urljoin(location, resp.header("Location") or location)


def _pieces(
    client: RegistryClient,
    location: str,
    digest: str,
    size: int,
    open_src: Callable[[], IO[bytes]],
    progress: Progress,
    chunk: int,
    scopes: list[str],
) -> str | None:
    """PATCH the blob piece by piece; the location to PUT to, or None when the registry
    refuses the first piece (no chunked uploads there: the caller falls back)."""
    for start in range(0, size, chunk):
        n = min(chunk, size - start)

        def body(start: int = start, n: int = n) -> IO[bytes]:
            return _Part(open_src(), start, n, progress)  # type: ignore[return-value]

        resp = client.request(
            "PATCH",
            location,
            scopes,
            {
                "Content-Type": "application/octet-stream",
                "Content-Length": str(n),
                "Content-Range": f"{start}-{start + n - 1}",
            },
            body,
        )
        if start == 0 and resp.status in _NO_CHUNKS:
            resp.read_small()
            resp.close()
            _abandon(client, location, scopes)
            return None
        client.check(resp, f"blob upload {digest}", (202,))
        with resp:
            resp.read_small()
            location = urllib.parse.urljoin(location, resp.header("Location") or location)
    return location


def _abandon(client: RegistryClient, location: str, scopes: list[str]) -> None:
    """Cancel an upload session (best effort: the registry expires it anyway)."""
    try:
        client.request("DELETE", location, scopes, {"Content-Length": "0"}, b"").close()
    except EngineError:
        pass


class _Part:
    """Bytes [start, start+length) of a file, reporting progress as an offset in the file."""

    def __init__(self, f: IO[bytes], start: int, length: int, progress: Progress) -> None:
        f.seek(start)
        self.f = f
        self.start = start
        self.left = length
        self.progress = progress

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            self.f.close()
            return b""
        data = self.f.read(self.left if n < 0 else min(n, self.left))
        if not data:
            self.f.close()
            raise SystemError_("blob upload: the source file is shorter than its size")
        self.left -= len(data)
        self.start += len(data)
        self.progress(self.start)
        return data


class _Counting:
    """A file wrapper that reports how much of it has been read (for push progress)."""

    def __init__(self, f: IO[bytes], progress: Progress) -> None:
        self.f = f
        self.progress = progress
        self.done = 0

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        if not data:
            self.f.close()
        self.done += len(data)
        self.progress(self.done)
        return data
