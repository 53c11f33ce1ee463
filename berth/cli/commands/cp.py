"""cp: files between a container and the local filesystem, through the archive endpoints
(HEAD/GET/PUT /containers/{id}/archive)."""

from __future__ import annotations

import base64
import json
import os
import sys
from typing import Any

from berth.cli.commands.common import container_path as _c
from berth.cli.context import Context, StatusError
from berth.cli.flags import Command, Flag, parse

CP = Command(
    "cp",
    "berth cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tberth cp [OPTIONS] SRC_PATH|- "
    "CONTAINER:DEST_PATH",
    "Copy files/folders between a container and the local filesystem",
    [
        Flag("archive", "a", help="Archive mode (copy all uid/gid information)"),
        Flag("follow-link", "L", help="Always follow symbol link in SRC_PATH"),
        Flag("quiet", "q", help="Suppress progress output"),
    ],
    min_args=2,
    max_args=2,
)


def _split_cp(arg: str) -> tuple[str | None, str]:
    if arg.startswith((".", "/")) or ":" not in arg:
        return None, arg
    name, _, path = arg.partition(":")
    return name, path


def cp(ctx: Context, argv: list[str]) -> int:
    """berth cp."""
    opts, args = parse(CP, argv)
    (sc, sp), (dc, dp) = _split_cp(args[0]), _split_cp(args[1])
    if sc and dc:
        raise CP.usage_error("copying between containers is not supported")
    if not sc and not dc:
        raise CP.usage_error("must specify at least one container source")
    if sc:
        return _cp_from(ctx, sc, sp, dp, opts.follow_link)
    assert dc is not None
    return _cp_to(ctx, sp, dc, dp, opts.archive)


def _stat_header(resp: Any) -> dict[str, Any]:
    raw = resp.headers.get("x-docker-container-path-stat", "")
    return json.loads(base64.b64decode(raw)) if raw else {}


def _stat(ctx: Context, name: str, path: str) -> dict[str, Any] | None:
    """HEAD /containers/{name}/archive: the path's stat, None if it does not exist.
    A HEAD answer has no body, so the transport's error reading cannot be used."""
    from berth.client.errors import APIError
    from berth.client.transport import build_path

    t = ctx.client.transport
    sock = t.connect()
    try:
        t._send(
            sock, "HEAD", build_path(t.prefix + _c(name) + "/archive", {"path": path}), {}, None
        )
        resp = t._read_head(sock)
    finally:
        sock.close()
    if resp.status == 404:
        # the container itself or the path: ask again with a body to tell which
        with t.request("GET", _c(name) + "/json"):
            pass
        return None
    if resp.status >= 400:
        raise APIError(resp.status, f"HTTP status {resp.status}")
    return _stat_header(resp)


def _cp_from(ctx: Context, name: str, src: str, dest: str, follow: bool) -> int:
    import tarfile

    t = ctx.client.transport
    st = _stat(ctx, name, src)
    if st is None:
        # the GET below reports dockerd's "Could not find the file" message
        st = {}
    if follow and st.get("linkTarget"):
        src = st["linkTarget"]
    resp = t.request("GET", _c(name) + "/archive", {"path": src})
    with resp:
        if dest == "-":
            for chunk in resp.iter_content():
                sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
            return 0
        is_dir = bool(st.get("mode", 0) & (1 << 31))
        base = os.path.basename(src.rstrip("/")) or "."
        into = dest
        rename = None
        if os.path.isdir(dest) and not (src.endswith("/.") and is_dir):
            into = dest
        elif is_dir and src.endswith("/.") and os.path.isdir(dest):
            into = dest
        else:
            if dest.endswith("/") and not os.path.exists(dest):
                raise StatusError(1, f"berth: destination directory {dest!r} does not exist")
            into, rename = os.path.dirname(os.path.abspath(dest)), os.path.basename(dest)
        with tarfile.open(fileobj=_Reader(resp), mode="r|") as tf:  # type: ignore[call-overload]
            for ti in tf:
                name_parts = ti.name.split("/", 1)
                if rename is not None and name_parts[0] in (base, ".", st.get("name")):
                    ti.name = rename + ("/" + name_parts[1] if len(name_parts) > 1 else "")
                elif src.endswith("/.") and is_dir and name_parts[0] == ".":
                    ti.name = name_parts[1] if len(name_parts) > 1 else "."
                tf.extract(ti, into, set_attrs=True, filter="fully_trusted")
    return 0


class _Reader:
    """A file-like view of a response body for tarfile's stream mode."""

    def __init__(self, resp: Any) -> None:
        self.it = resp.iter_content()
        self.buf = b""

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self.buf) < n:
            try:
                self.buf += next(self.it)
            except StopIteration:
                break
        if n < 0:
            data, self.buf = self.buf, b""
        else:
            data, self.buf = self.buf[:n], self.buf[n:]
        return data


def _cp_to(ctx: Context, src: str, name: str, dest: str, archive: bool) -> int:
    import io
    import tarfile

    t = ctx.client.transport
    target, arcname = dest, None
    st = _stat(ctx, name, dest)
    if st is None and dest.endswith("/"):
        raise StatusError(1, f"berth: destination directory {dest!r} does not exist")
    if st is None or not st.get("mode", 0) & (1 << 31):
        target, arcname = os.path.dirname(dest.rstrip("/")) or "/", os.path.basename(dest)
    if src == "-":
        body: Any = sys.stdin.buffer
    else:
        if not os.path.lexists(src):
            raise StatusError(1, f"berth: no such file or directory: {src}")
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
            if src.endswith("/.") and os.path.isdir(src):
                for n in sorted(os.listdir(src)):
                    tf.add(os.path.join(src, n), n)
            else:
                tf.add(src, arcname or os.path.basename(os.path.abspath(src)))
        body = buf.getvalue()
    q = {"path": target, "noOverwriteDirNonDir": "true", "copyUIDGID": "true" if archive else None}
    with t.request(
        "PUT", _c(name) + "/archive", q, body=body, headers={"Content-Type": "application/x-tar"}
    ) as resp:
        resp.read()
    return 0
