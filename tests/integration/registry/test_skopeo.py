"""Images put into the registry by an independent client (Debian's skopeo): an OCI-format
image, and one with zstd-compressed layers. berth pulls them into an empty store and runs
them."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Daemon
from tests.integration.registry.fixtures import Registry, layer_tar
from tests.integration.registry.test_registry import errors, pull, statuses
from tests.integration.registry.test_registry_config import berthd

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@pytest.fixture
def workdir() -> Iterator[Path]:
    if not shutil.which("skopeo"):
        pytest.skip("skopeo is not installed (apt-get install skopeo)")
    d = Path(tempfile.mkdtemp(prefix="bt-sk-", dir="/tmp"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def with_layer(src: Path, dst: Path, files: dict[str, bytes]) -> str:
    """Write `src` (a docker-archive) to `dst` with one more layer holding `files`;
    return the new layer's diff_id."""
    with tarfile.open(src) as tf:
        members = {m.name: tf.extractfile(m).read() for m in tf if m.isfile()}  # type: ignore[union-attr]
    man = json.loads(members["manifest.json"])[0]
    cfg = json.loads(members[man["Config"]])
    layer = layer_tar(files)
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    cfg["rootfs"]["diff_ids"].append(diff_id)
    cfg_bytes = json.dumps(cfg).encode()
    cfg_name = hashlib.sha256(cfg_bytes).hexdigest() + ".json"
    layer_name = diff_id.split(":")[1] + "/layer.tar"
    new_man = [{"Config": cfg_name, "RepoTags": None, "Layers": [*man["Layers"], layer_name]}]
    out = {
        "manifest.json": json.dumps(new_man).encode(),
        cfg_name: cfg_bytes,
        layer_name: layer,
        **{name: members[name] for name in man["Layers"]},
    }
    with tarfile.open(dst, "w") as tf:
        for name, data in out.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return diff_id


def skopeo_copy(src: Path, dest: str, *extra: str) -> None:
    r = subprocess.run(
        [
            "skopeo",
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
            "--format",
            "oci",
            *extra,
            f"docker-archive:{src}",
            f"docker://{dest}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr


def run_in(d: Daemon, image: str, *cmd: str) -> str:
    r = subprocess.run(
        ["docker", "run", "--rm", image, *cmd],
        env=d.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    return r.stdout


def pull_and_check(d: Daemon, registry: Registry, repo: str, tag: str) -> dict:
    st_reg, served, body = registry.manifest(repo, tag)
    assert st_reg == 200
    man = json.loads(body)
    assert man["mediaType"] == OCI_MANIFEST
    name = f"{registry.host}/{repo}"
    st, msgs = pull(d, name, tag)
    assert st == 200 and not errors(msgs), msgs
    assert statuses(msgs)[-2:] == [
        f"Digest: {served}",
        f"Status: Downloaded newer image for {name}:{tag}",
    ]
    got = d.api.call("GET", f"/images/{name}:{tag}/json")[1]
    assert got["Id"] == man["config"]["digest"]
    assert got["RepoDigests"] == [f"{name}@{served}"]
    return man


def test_skopeo_oci_image_pulls_and_runs(
    registry: Registry, busybox_tar: Path, workdir: Path
) -> None:
    src = workdir / "oci.tar"
    diff_id = with_layer(busybox_tar, src, {"etc/flavour": b"oci\n"})
    skopeo_copy(src, f"{registry.host}/sk/oci:v1")
    with berthd() as d:
        man = pull_and_check(d, registry, "sk/oci", "v1")
        assert all(x["mediaType"].startswith("application/vnd.oci.") for x in man["layers"])
        got = d.api.call("GET", f"/images/{registry.host}/sk/oci:v1/json")[1]
        assert got["RootFS"]["Layers"][-1] == diff_id
        assert run_in(d, f"{registry.host}/sk/oci:v1", "cat", "/etc/flavour") == "oci\n"


def test_skopeo_zstd_layer_pulls_and_runs(
    registry: Registry, busybox_tar: Path, workdir: Path
) -> None:
    pytest.importorskip("zstandard")
    src = workdir / "zstd.tar"
    # A layer nobody has pushed before: skopeo cannot reuse a gzip copy of it.
    payload = os.urandom(1 << 20)
    diff_id = with_layer(busybox_tar, src, {"data/random.bin": payload, "etc/flavour": b"zstd\n"})
    skopeo_copy(
        src, f"{registry.host}/sk/zstd:v1", "--dest-compress", "--dest-compress-format", "zstd"
    )
    with berthd() as d:
        man = pull_and_check(d, registry, "sk/zstd", "v1")
        top = man["layers"][-1]
        assert top["mediaType"] == "application/vnd.oci.image.layer.v1.tar+zstd"
        blob = registry.blob_file(top["digest"]).read_bytes()
        assert blob[:4] == b"\x28\xb5\x2f\xfd"  # really zstd on the wire
        got = d.api.call("GET", f"/images/{registry.host}/sk/zstd:v1/json")[1]
        assert got["RootFS"]["Layers"][-1] == diff_id
        image = f"{registry.host}/sk/zstd:v1"
        assert run_in(d, image, "cat", "/etc/flavour") == "zstd\n"
        sha = run_in(d, image, "sha256sum", "/data/random.bin").split()[0]
        assert sha == hashlib.sha256(payload).hexdigest()
