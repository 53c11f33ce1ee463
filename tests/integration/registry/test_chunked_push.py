"""Push uploads big blobs in Content-Range pieces, and falls back to one PATCH when the
registry refuses pieces. A recording proxy in front of the real registry shows which."""

from __future__ import annotations

import hashlib
import http.client
import http.server
import io
import json
import os
import tarfile
import threading
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Daemon
from tests.integration.registry.fixtures import Registry

_MB = 1 << 20


class _Proxy:
    """Forwards to the registry; records (method, path, Content-Range, body length)."""

    def __init__(self, upstream: str, refuse_ranges: bool) -> None:
        self.seen: list[tuple[str, str, str, int]] = []
        proxy = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: Any) -> None:
                pass

            def _any(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                rng = self.headers.get("Content-Range") or ""
                proxy.seen.append((self.command, self.path, rng, len(body)))
                if rng and refuse_ranges:
                    self.send_response(416)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                conn = http.client.HTTPConnection(upstream, timeout=60)
                hdrs = {k: v for k, v in self.headers.items() if k.lower() != "content-length"}
                hdrs["Content-Length"] = str(len(body))
                conn.request(self.command, self.path, body=body, headers=hdrs)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _any

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def big_image(fresh_daemon: Daemon) -> Iterator[tuple[str, int]]:
    """An imported image with one ~20 MB layer of random bytes: (id, layer tar size)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        data = os.urandom(20 * _MB + 12345)
        ti = tarfile.TarInfo("big")
        ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data))
    tar = buf.getvalue()
    st, _, body = fresh_daemon.api.raw("POST", "/images/create?fromSrc=-", tar, {})
    assert st == 200, body
    image_id = json.loads(body.splitlines()[-1])["status"]
    yield image_id, len(tar)
    fresh_daemon.api.call("DELETE", f"/images/{image_id}?force=1")


def _push(d: Daemon, name: str) -> list[dict]:
    st, _, body = d.api.raw("POST", f"/images/{name}/push?tag=v1", b"", {})
    assert st == 200, body
    msgs = [json.loads(ln) for ln in body.splitlines() if ln.strip()]
    assert not [m for m in msgs if "errorDetail" in m], msgs
    return msgs


def _layer_blob(registry: Registry, repo: str) -> tuple[str, int]:
    st, _, body = registry.manifest(repo, "v1")
    assert st == 200
    layer = json.loads(body)["layers"][0]
    return layer["digest"], layer["size"]


@pytest.mark.parametrize("refuse", [False, True], ids=["chunked", "fallback"])
def test_push_big_blob(
    registry: Registry, fresh_daemon: Daemon, big_image: tuple[str, int], refuse: bool
) -> None:
    proxy = _Proxy(registry.host, refuse_ranges=refuse)
    repo = f"chunk/{'fb' if refuse else 'ok'}"
    name = f"{proxy.host}/{repo}"
    try:
        q = urllib.parse.urlencode({"repo": name, "tag": "v1"})
        assert fresh_daemon.api.call("POST", f"/images/{big_image[0]}/tag?{q}")[0] == 201
        msgs = _push(fresh_daemon, name)
        assert "Pushed" in [m.get("status") for m in msgs]
        digest, size = _layer_blob(registry, repo)
        assert size > 16 * _MB  # random data: three pieces of 8 MiB
        patches = [s for s in proxy.seen if s[0] == "PATCH"]
        ranged = [s for s in patches if s[2]]
        if not refuse:
            assert [(r[2], r[3]) for r in ranged] == [
                (f"0-{8 * _MB - 1}", 8 * _MB),
                (f"{8 * _MB}-{16 * _MB - 1}", 8 * _MB),
                (f"{16 * _MB}-{size - 1}", size - 16 * _MB),
            ], patches
        else:
            # One refused piece, then the whole blob in one PATCH on a new session.
            assert [(r[2], r[3]) for r in ranged] == [(f"0-{8 * _MB - 1}", 8 * _MB)], patches
            assert [p[3] for p in patches if not p[2] and p[3] > _MB] == [size], patches
        # What the registry stored is the blob, byte for byte.
        st, _, blob = registry.request("GET", f"/v2/{repo}/blobs/{digest}")
        assert st == 200 and len(blob) == size
        assert "sha256:" + hashlib.sha256(blob).hexdigest() == digest
    finally:
        fresh_daemon.api.call("DELETE", f"/images/{name}:v1")
        proxy.close()
