"""Daemon registry options: registry-mirrors, insecure-registries, max-concurrent-*.

No test here may reach docker.io: every mirror points at a registry on loopback that
holds the image, so the fallback to the hub is never needed."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import (
    _LIVE_DAEMONS,
    REPO,
    Daemon,
    cleanup_root,
    leftover_mounts,
    needs_root,
)
from tests.integration.registry.fixtures import Registry, _free_port, layer_tar, put_oci_image
from tests.integration.registry.test_registry import errors, pull, statuses


@contextmanager
def berthd(extra: list[str] | None = None, config: dict | None = None) -> Iterator[Daemon]:
    """A berthd of the test's own with these flags and this daemon.json (no images)."""
    root = Path(tempfile.mkdtemp(prefix="bt-", dir="/tmp"))
    d = Daemon(root, extra)
    (root / "daemon.json").write_text(json.dumps(config or {}))
    _LIVE_DAEMONS.append(d)
    try:
        d.start()
        yield d
        d.remove_all_containers()
        d.stop()
        assert leftover_mounts(root) == [], "berthd left mounts behind"
    finally:
        _LIVE_DAEMONS.remove(d)
        d.kill()
        cleanup_root(root)


def berthd_fails(extra: list[str], config: dict | None = None) -> str:
    """Run berthd with a configuration it must refuse; its stderr."""
    root = Path(tempfile.mkdtemp(prefix="bt-", dir="/tmp"))
    try:
        d = Daemon(root, extra)
        (root / "daemon.json").write_text(json.dumps(config or {}))
        r = subprocess.run(d.argv(), capture_output=True, text=True, timeout=30, cwd=REPO)
        assert r.returncode != 0, r
        assert not os.path.exists(d.sock)
        return r.stderr
    finally:
        cleanup_root(root)


def test_mirror_serves_hub_images(registry: Registry) -> None:
    """`docker pull NAME` with mirrors: the first (down) is skipped, the second serves it."""
    files = {"etc/mirror.txt": b"from the mirror\n"}
    mdigest, cfg_digest, diff_ids = put_oci_image(
        registry, "library/bt-mirrored", "v1", [(layer_tar(files), True)]
    )
    dead = f"http://127.0.0.1:{_free_port()}"
    with berthd(["--registry-mirror", dead, "--registry-mirror", f"http://{registry.host}"]) as d:
        info = d.api.call("GET", "/info")[1]["RegistryConfig"]
        mirrors = [dead + "/", f"http://{registry.host}/"]
        assert info["Mirrors"] == mirrors
        assert info["IndexConfigs"]["docker.io"] == {
            "Name": "docker.io",
            "Mirrors": mirrors,
            "Secure": True,
            "Official": True,
        }
        st, msgs = pull(d, "bt-mirrored", "v1")
        assert st == 200 and not errors(msgs), msgs
        assert msgs[0] == {"status": "Pulling from library/bt-mirrored", "id": "v1"}
        assert statuses(msgs)[-2:] == [
            f"Digest: {mdigest}",
            "Status: Downloaded newer image for bt-mirrored:v1",
        ]
        got = d.api.call("GET", "/images/bt-mirrored:v1/json")[1]
        assert got["Id"] == cfg_digest
        assert got["RepoTags"] == ["bt-mirrored:v1"]
        assert got["RepoDigests"] == [f"bt-mirrored@{mdigest}"]
        assert got["RootFS"]["Layers"] == diff_ids
        upper = Path(got["GraphDriver"]["Data"]["UpperDir"])
        assert (upper / "etc" / "mirror.txt").read_bytes() == b"from the mirror\n"
        # Images of other registries never go through the mirror.
        st, msgs = pull(d, f"127.0.0.1:{_free_port()}/library/bt-mirrored", "v1")
        assert st == 500 and "connection refused" in msgs["message"], msgs


@needs_root
def test_config_file_registry_options_in_info() -> None:
    cfg = {
        "registry-mirrors": ["https://mirror.example.com:5000"],
        "insecure-registries": ["reg.example.com:5000", "10.20.0.0/16", "http://plain.example"],
        "max-concurrent-downloads": 1,
        "max-concurrent-uploads": 2,
    }
    with berthd(config=cfg) as d:
        info = d.api.call("GET", "/info")[1]["RegistryConfig"]
    assert info["Mirrors"] == ["https://mirror.example.com:5000/"]
    assert info["InsecureRegistryCIDRs"] == ["::1/128", "127.0.0.0/8", "10.20.0.0/16"]
    idx = info["IndexConfigs"]
    assert set(idx) == {"docker.io", "reg.example.com:5000", "plain.example"}
    assert idx["reg.example.com:5000"] == {
        "Name": "reg.example.com:5000",
        "Mirrors": [],
        "Secure": False,
        "Official": False,
    }
    assert idx["docker.io"]["Mirrors"] == ["https://mirror.example.com:5000/"]


def test_default_registry_config_in_info(daemon: Daemon) -> None:
    info = daemon.api.call("GET", "/info")[1]["RegistryConfig"]
    assert info["InsecureRegistryCIDRs"] == ["::1/128", "127.0.0.0/8"]
    assert info["Mirrors"] == []
    assert info["IndexConfigs"]["docker.io"]["Secure"] is True


@needs_root
@pytest.mark.parametrize(
    ("extra", "config", "message"),
    [
        (["--registry-mirror", "ftp://m.example"], None, 'unsupported scheme "ftp"'),
        ([], {"registry-mirrors": ["https://m.example/?x=1"]}, "query or fragment"),
        (["--insecure-registry", "tcp://r.example"], None, "should not contain '://'"),
        (["--max-concurrent-downloads", "-1"], None, "invalid max concurrent downloads: -1"),
        ([], {"max-concurrent-uploads": -2}, "invalid max concurrent uploads: -2"),
        (
            ["--registry-mirror", "https://a.example"],
            {"registry-mirrors": ["https://b.example"]},
            "specified both as a flag and in the configuration file: registry-mirrors",
        ),
    ],
)
def test_bad_registry_options_refused(extra: list[str], config: dict | None, message: str) -> None:
    assert message in berthd_fails(extra, config)


def test_max_concurrent_downloads_one_downloads_in_turn(registry: Registry) -> None:
    layers = [(layer_tar({f"l{i}.bin": os.urandom(2 << 20)}), False) for i in range(3)]
    put_oci_image(registry, "cfg/serial", "v1", layers)
    with berthd(["--max-concurrent-downloads", "1"]) as d:
        st, msgs = pull(d, f"{registry.host}/cfg/serial", "v1")
    assert st == 200 and not errors(msgs), msgs
    # With one download at a time, a layer starts only once the one before is complete.
    active: set[str] = set()
    seen_two = False
    for m in msgs:
        if m.get("status") == "Downloading":
            active.add(m["id"])
        elif m.get("status") == "Download complete":
            active.discard(m["id"])
        seen_two = seen_two or len(active) > 1
    assert not seen_two
    assert statuses(msgs).count("Download complete") == 3
