"""A real registry (Debian's docker-registry) on 127.0.0.1, started by the tests, and a
small independent HTTP client to put content into it and read it back."""

from __future__ import annotations

import base64
import gzip
import hashlib
import http.client
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

REGISTRY_BIN = shutil.which("docker-registry") or "/usr/bin/docker-registry"
USER, PASSWORD = "berth", "s3cret-pw"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Registry:
    def __init__(self, with_auth: bool) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="bt-reg-", dir="/tmp"))
        self.port = _free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.auth = (USER, PASSWORD) if with_auth else None
        auth_cfg = ""
        if with_auth:
            out = subprocess.run(
                ["htpasswd", "-Bbn", USER, PASSWORD], check=True, capture_output=True
            ).stdout
            (self.root / "htpasswd").write_bytes(out)
            auth_cfg = (
                f"auth:\n  htpasswd:\n    realm: berth-test\n    path: {self.root}/htpasswd\n"
            )
        cfg = self.root / "config.yml"
        cfg.write_text(
            "version: 0.1\nlog:\n  level: warn\n"
            f"storage:\n  filesystem:\n    rootdirectory: {self.root}/data\n"
            "  delete:\n    enabled: true\n"
            f"http:\n  addr: {self.host}\n" + auth_cfg
        )
        self.log = open(self.root / "registry.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [REGISTRY_BIN, "serve", str(cfg)],
            stdout=self.log,
            stderr=self.log,
            stdin=subprocess.DEVNULL,
            cwd="/",
        )
        deadline = time.monotonic() + 15
        while True:
            try:
                if self.request("GET", "/v2/", auth=False)[0] in (200, 401):
                    return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"registry did not start: {self.log_text()}")
            time.sleep(0.05)

    def log_text(self) -> str:
        return (self.root / "registry.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.root, ignore_errors=True)

    # ---- an independent client (not berth's) ------------------------------------
    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        auth: bool = True,
    ) -> tuple[int, dict[str, str], bytes]:
        hdrs = dict(headers or {})
        if auth and self.auth:
            hdrs["Authorization"] = (
                "Basic " + base64.b64encode(":".join(self.auth).encode()).decode()
            )
        conn = http.client.HTTPConnection(self.host, timeout=30)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()

    def manifest(self, repo: str, ref: str, accept: str = "") -> tuple[int, str, bytes]:
        """(status, Docker-Content-Digest, body) of a manifest."""
        accept = accept or (
            "application/vnd.docker.distribution.manifest.v2+json, "
            "application/vnd.docker.distribution.manifest.list.v2+json, "
            "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json"
        )
        st, h, body = self.request("GET", f"/v2/{repo}/manifests/{ref}", headers={"Accept": accept})
        return st, h.get("docker-content-digest", ""), body

    def put_blob(self, repo: str, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        st, h, _ = self.request("POST", f"/v2/{repo}/blobs/uploads/", b"")
        assert st == 202, st
        loc = urllib.parse.urlsplit(h["location"])
        q = (loc.query + "&" if loc.query else "") + urllib.parse.urlencode({"digest": digest})
        st, _, body = self.request(
            "PUT",
            f"{loc.path}?{q}",
            data,
            {"Content-Type": "application/octet-stream", "Content-Length": str(len(data))},
        )
        assert st == 201, (st, body)
        return digest

    def put_manifest(self, repo: str, ref: str, data: bytes, media_type: str) -> str:
        st, h, body = self.request(
            "PUT", f"/v2/{repo}/manifests/{ref}", data, {"Content-Type": media_type}
        )
        assert st == 201, (st, body)
        return h["docker-content-digest"]

    def blob_file(self, digest: str) -> Path:
        hx = digest.split(":", 1)[1]
        return self.root / "data/docker/registry/v2/blobs/sha256" / hx[:2] / hx / "data"


def layer_tar(files: dict[str, bytes]) -> bytes:
    """An uncompressed layer tar with the given regular files."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mode = 0o644
            ti.mtime = 1700000000
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


def put_oci_image(
    reg: Registry, repo: str, tag: str, layers: list[tuple[bytes, bool]]
) -> tuple[str, str, list[str]]:
    """Put an OCI image whose layers are (tar, gzipped?) into the registry with an
    independent client. Returns (manifest digest, config digest, diff_ids)."""
    descs, diff_ids = [], []
    for tar, gz in layers:
        diff_ids.append("sha256:" + hashlib.sha256(tar).hexdigest())
        blob = gzip.compress(tar, mtime=0) if gz else tar
        d = reg.put_blob(repo, blob)
        descs.append(
            {"mediaType": OCI_LAYER_GZIP if gz else OCI_LAYER, "digest": d, "size": len(blob)}
        )
    cfg = json.dumps(
        {
            "architecture": _host_arch(),
            "os": "linux",
            "config": {"Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "created": "2024-01-01T00:00:00Z",
        }
    ).encode()
    cfg_digest = reg.put_blob(repo, cfg)
    man = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": cfg_digest, "size": len(cfg)},
            "layers": descs,
        }
    ).encode()
    return reg.put_manifest(repo, tag, man, OCI_MANIFEST), cfg_digest, diff_ids


def _host_arch() -> str:
    m = os.uname().machine
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(m, m)


def _need_registry() -> None:
    if not os.path.exists(REGISTRY_BIN):
        pytest.skip("docker-registry is not installed (apt-get install docker-registry)")
    if os.geteuid() != 0:
        pytest.skip("needs root: berthd creates namespaces, mounts and cgroups")


@pytest.fixture(scope="session")
def registry() -> Iterator[Registry]:
    """A registry without auth, shared by the session."""
    _need_registry()
    reg = Registry(with_auth=False)
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def auth_registry() -> Iterator[Registry]:
    """A registry with htpasswd Basic auth (USER / PASSWORD)."""
    _need_registry()
    if not shutil.which("htpasswd"):
        pytest.skip("htpasswd is not installed (apt-get install apache2-utils)")
    reg = Registry(with_auth=True)
    yield reg
    reg.stop()


@pytest.fixture
def own_registry() -> Iterator[Registry]:
    """A registry of the test's own (for tests that damage its storage)."""
    _need_registry()
    reg = Registry(with_auth=False)
    yield reg
    reg.stop()


def auth_header(user: str, password: str, server: str) -> str:
    raw = json.dumps({"username": user, "password": password, "serveraddress": server})
    return base64.urlsafe_b64encode(raw.encode()).decode()


def json_lines(body: bytes) -> list[dict]:
    return [json.loads(ln) for ln in body.splitlines() if ln.strip()]
