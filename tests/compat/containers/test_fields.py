"""Create fields berth does not implement are errors, not silence; DeviceCgroupRules is
enforced; ?platform= is checked; `docker ps` shows the command as dockerd quotes it."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest

from tests.conftest import Daemon, docker_for

pytestmark = pytest.mark.compat


@pytest.fixture
def docker(daemon: Daemon) -> Iterator:  # type: ignore[type-arg]
    yield docker_for(daemon)
    daemon.remove_all_containers()


def err(r: subprocess.CompletedProcess[bytes]) -> str:
    return r.stderr.decode()


def test_gpus_fail_the_start_with_dockerds_message(docker) -> None:  # type: ignore[no-untyped-def]
    r = docker("run", "--name", "gpu", "--gpus", "all", "busybox", "true")
    assert r.returncode == 125, err(r)
    assert 'could not select device driver "" with capabilities: [[gpu]]' in err(r)
    # as dockerd: the container is made (inspect shows the request), only the start fails
    doc = json.loads(docker("inspect", "gpu").stdout)[0]
    assert doc["HostConfig"]["DeviceRequests"][0]["Capabilities"] == [["gpu"]]
    assert doc["State"]["Status"] != "running"


def test_unsupported_limit_is_refused_by_name(docker) -> None:  # type: ignore[no-untyped-def]
    r = docker("create", "--blkio-weight", "300", "busybox", "true")
    assert r.returncode != 0 and "HostConfig.BlkioWeight is not supported" in err(r)
    r = docker("create", "--isolation", "hyperv", "busybox", "true")
    assert r.returncode != 0 and "Invalid isolation" in err(r)
    assert docker("ps", "-aq").stdout.strip() == b""  # nothing was made


_OPEN_FUSE = "mknod /tmp/f c 10 229 && echo made && exec 3<>/tmp/f && echo opened"


def test_device_cgroup_rule_is_enforced(docker) -> None:  # type: ignore[no-untyped-def]
    # /dev/fuse is denied by the default rules: the node can be made but not opened
    r = docker("run", "--rm", "busybox", "sh", "-c", _OPEN_FUSE)
    assert r.returncode != 0 and r.stdout.strip() == b"made", err(r)
    assert "Operation not permitted" in err(r)
    r = docker(
        "run", "--rm", "--device-cgroup-rule", "c 10:229 rw", "busybox", "sh", "-c", _OPEN_FUSE
    )
    assert r.returncode == 0, err(r)
    assert r.stdout.split() == [b"made", b"opened"]


def test_device_cgroup_rule_is_validated(daemon: Daemon) -> None:
    st, body = daemon.api.call(
        "POST",
        "/containers/create",
        {"Image": "busybox", "HostConfig": {"DeviceCgroupRules": ["c 1:3 rwx"]}},
    )
    assert st == 400 and body["message"] == "invalid device cgroup rule format: 'c 1:3 rwx'"


def test_platform_mismatch_is_dockerds_404(daemon: Daemon) -> None:
    st, body = daemon.api.call(
        "POST", "/v1.50/containers/create?platform=linux/s390x", {"Image": "busybox"}
    )
    assert st == 404, body
    assert body["message"].startswith(
        "image with reference busybox was found but does not match the specified platform: "
        "wanted linux/s390x, actual: linux/"
    )
    st, body = daemon.api.call("POST", "/v1.50/containers/create", {"Image": "busybox"})
    assert st == 201
    daemon.remove_all_containers()


def test_ps_command_column_quotes_like_dockerd(docker, daemon: Daemon) -> None:  # type: ignore[no-untyped-def]
    cid = docker("create", "busybox", "sh", "-c", "echo hi").stdout.decode().strip()
    st, items = daemon.api.call("GET", "/containers/json?all=1")
    assert [i["Command"] for i in items if i["Id"] == cid] == ["sh -c 'echo hi'"]
    r = docker("ps", "-a", "--no-trunc", "--format", "{{.Command}}", "--filter", f"id={cid}")
    assert r.stdout.decode().strip() == "\"sh -c 'echo hi'\""


def test_memory_reservation_swappiness_and_oom_kill_disable_reach_the_cgroup(daemon) -> None:  # type: ignore[no-untyped-def]
    """Taken at create and written to the container's memory cgroup (v1), never dropped."""
    import os

    from tests.conftest import docker_for

    base = "/sys/fs/cgroup/memory"
    if not os.path.isdir(base) or not os.path.exists(f"{base}/memory.oom_control"):
        pytest.skip("no cgroup v1 memory controller here (v2 has no swappiness or oom_control)")
    docker = docker_for(daemon)
    r = docker("run", "-d", "--memory", "64m", "--memory-reservation", "32m",
               "--memory-swappiness", "7", "--oom-kill-disable", "busybox", "sleep", "60")  # fmt: skip
    assert r.returncode == 0, r.stderr
    cid = r.stdout.decode().strip()
    try:
        pid = daemon.api.call("GET", f"/containers/{cid}/json")[1]["State"]["Pid"]
        rel = next(
            line.split(":", 2)[2]
            for line in open(f"/proc/{pid}/cgroup").read().splitlines()
            if line.split(":")[1].split(",").count("memory")
        )
        d = base + rel
        assert open(f"{d}/memory.soft_limit_in_bytes").read().strip() == str(32 << 20)
        assert open(f"{d}/memory.swappiness").read().strip() == "7"
        assert "oom_kill_disable 1" in open(f"{d}/memory.oom_control").read()
    finally:
        docker("rm", "-f", cid)
    # the docker CLI checks the range itself: the daemon is asked directly
    st, body = daemon.api.call(
        "POST", "/containers/create", {"Image": "busybox", "HostConfig": {"MemorySwappiness": 101}}
    )
    assert st == 400 and "valid memory swappiness range is 0-100" in body["message"], body
