"""to_oci: Docker's defaults in an OCI config.json."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.runtime import capabilities
from berth.runtime.spec import (
    MASKED_PATHS,
    READONLY_PATHS,
    BindMount,
    RuntimeSpec,
    to_oci,
    write_bundle,
)

DOCKER_DEFAULT_MASK = 0x00000000A80425FB


def _spec(**kw: object) -> RuntimeSpec:
    base: dict = {"id": "c1", "rootfs": "/r", "args": ["sh"], "env": ["PATH=/bin"]}
    base.update(kw)
    return RuntimeSpec(**base)


def _mount(cfg: dict, dest: str) -> dict:
    return next(m for m in cfg["mounts"] if m["destination"] == dest)


def test_basic_fields() -> None:
    cfg = to_oci(_spec(hostname="h", domainname="d", tty=True, cwd="/w", uid=5, gid=6))
    assert cfg["ociVersion"] == "1.0.2"
    assert cfg["hostname"] == "h" and cfg["domainname"] == "d"
    p = cfg["process"]
    assert p["terminal"] is True
    assert p["args"] == ["sh"] and p["env"] == ["PATH=/bin"] and p["cwd"] == "/w"
    assert p["user"] == {"uid": 5, "gid": 6}
    assert "rlimits" not in p
    assert cfg["root"] == {"path": "/r", "readonly": False}


def test_namespaces_default_and_join() -> None:
    cfg = to_oci(_spec())
    types = [n["type"] for n in cfg["linux"]["namespaces"]]
    assert sorted(types) == sorted(["pid", "mount", "ipc", "uts", "network", "cgroup"])
    assert all("path" not in n for n in cfg["linux"]["namespaces"])

    cfg = to_oci(_spec(join_namespaces={"network": "/proc/9/ns/net"}, host_namespaces=["pid"]))
    ns = {n["type"]: n for n in cfg["linux"]["namespaces"]}
    assert ns["network"]["path"] == "/proc/9/ns/net"
    assert "pid" not in ns


def test_default_caps_are_dockers_14() -> None:
    caps = to_oci(_spec())["process"]["capabilities"]
    assert len(caps["bounding"]) == 14
    assert capabilities.mask(caps["effective"]) == DOCKER_DEFAULT_MASK
    assert caps["bounding"] == caps["permitted"] == caps["effective"]
    assert "inheritable" not in caps and "ambient" not in caps


def test_cap_add_drop() -> None:
    caps = to_oci(_spec(cap_add=["net_admin"], cap_drop=["CAP_CHOWN", "kill"]))["process"][
        "capabilities"
    ]
    assert "CAP_NET_ADMIN" in caps["bounding"]
    assert "CAP_CHOWN" not in caps["bounding"] and "CAP_KILL" not in caps["bounding"]
    assert len(caps["bounding"]) == 13


def test_cap_drop_all_then_add() -> None:
    caps = to_oci(_spec(cap_drop=["ALL"], cap_add=["NET_BIND_SERVICE"]))["process"]
    assert caps["capabilities"]["bounding"] == ["CAP_NET_BIND_SERVICE"]


def test_cap_add_all_and_privileged() -> None:
    everything = capabilities.all_caps()
    caps = to_oci(_spec(cap_add=["ALL"], cap_drop=["SYS_ADMIN"]))["process"]["capabilities"]
    assert set(caps["bounding"]) == set(everything) - {"CAP_SYS_ADMIN"}
    priv = to_oci(_spec(privileged=True))
    assert set(priv["process"]["capabilities"]["bounding"]) == set(everything)
    assert "maskedPaths" not in priv["linux"] and "readonlyPaths" not in priv["linux"]
    assert "ro" not in _mount(priv, "/sys")["options"]


def test_unknown_cap_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown capability"):
        to_oci(_spec(cap_add=["CAP_NOPE"]))


def test_non_root_gets_bounding_only() -> None:
    caps = to_oci(_spec(uid=1000))["process"]["capabilities"]
    assert set(caps) == {"bounding"}


def test_mounts_defaults_then_binds() -> None:
    cfg = to_oci(
        _spec(
            shm_size=1 << 20,
            mounts=[BindMount("/host/a", "/a", readonly=True), BindMount("/host/b", "/b")],
        )
    )
    dests = [m["destination"] for m in cfg["mounts"]]
    assert dests == [
        "/proc",
        "/dev",
        "/dev/pts",
        "/sys",
        "/sys/fs/cgroup",
        "/dev/mqueue",
        "/dev/shm",
        "/a",
        "/b",
    ]
    assert "size=65536k" in _mount(cfg, "/dev")["options"]
    assert "mode=755" in _mount(cfg, "/dev")["options"]
    pts = _mount(cfg, "/dev/pts")["options"]
    assert {"newinstance", "ptmxmode=0666", "mode=0620", "gid=5"} <= set(pts)
    assert "ro" in _mount(cfg, "/sys")["options"]
    assert _mount(cfg, "/sys/fs/cgroup")["type"] == "cgroup"
    assert "ro" in _mount(cfg, "/sys/fs/cgroup")["options"]
    assert f"size={1 << 20}" in _mount(cfg, "/dev/shm")["options"]
    a = _mount(cfg, "/a")
    assert a["type"] == "bind" and a["source"] == "/host/a"
    assert "rbind" in a["options"] and "ro" in a["options"] and "rprivate" in a["options"]
    assert "rw" in _mount(cfg, "/b")["options"]


def test_masked_and_readonly_paths() -> None:
    linux = to_oci(_spec())["linux"]
    assert linux["maskedPaths"] == list(MASKED_PATHS)
    assert "/proc/kcore" in linux["maskedPaths"] and "/sys/firmware" in linux["maskedPaths"]
    assert linux["readonlyPaths"] == list(READONLY_PATHS)
    assert "/proc/sys" in linux["readonlyPaths"]


def test_resources() -> None:
    linux = to_oci(
        _spec(
            cgroup_path="/berth/c1",
            memory=32 << 20,
            memory_swap=64 << 20,
            cpu_shares=512,
            cpu_quota=50000,
            cpu_period=100000,
            cpuset_cpus="0",
            pids_limit=10,
        )
    )["linux"]
    assert linux["cgroupsPath"] == "/berth/c1"
    res = linux["resources"]
    assert res["memory"] == {"limit": 32 << 20, "swap": 64 << 20}
    assert res["cpu"] == {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0"}
    assert res["pids"] == {"limit": 10}
    assert res["devices"][0] == {"allow": False, "access": "rwm"}


def test_no_resources_when_unset() -> None:
    res = to_oci(_spec())["linux"]["resources"]
    assert set(res) == {"devices"}


@pytest.fixture
def tmpdir_short() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="bt-", dir="/tmp"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_write_bundle(tmpdir_short: Path) -> None:
    bundle = tmpdir_short / "b"
    cfg = write_bundle(bundle, _spec(hostname="x"))
    assert json.loads((bundle / "config.json").read_text()) == cfg
    assert not (bundle / ".config.json.tmp").exists()
