"""Host options through the Engine API: create-time validation (status and dockerd's text),
the defaults dockerd fills in, and the runtime effects the docker CLI cannot ask for."""

from __future__ import annotations

import time
from typing import Any

import pytest

from berth.runtime import cgroups


def create(daemon, host: dict[str, Any], cmd: list[str] | None = None) -> tuple[int, Any]:  # type: ignore[no-untyped-def]
    return daemon.api.call(
        "POST",
        "/containers/create",
        {"Image": "busybox", "Cmd": cmd or ["true"], "HostConfig": host},
    )


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ({"Sysctls": {"kernel.foo": "1"}}, 'sysctl "kernel.foo" is not whitelisted'),
        ({"Sysctls": {"kernel.hostname": "x"}}, 'sysctl "kernel.hostname" is not whitelisted'),
        (
            {"Sysctls": {"net.ipv4.ip_forward": "1"}, "NetworkMode": "host"},
            'sysctl "net.ipv4.ip_forward" not allowed in host network namespace',
        ),
        (
            {"Sysctls": {"kernel.shmmax": "1"}, "IpcMode": "host"},
            'sysctl "kernel.shmmax" is not allowed in the hosts ipc namespace',
        ),
        ({"IpcMode": "bogus"}, "invalid IPC mode: bogus"),
        ({"PidMode": "bogus"}, "invalid PID mode: bogus"),
        ({"UTSMode": "container:x"}, "invalid UTS mode: container:x"),
        ({"CgroupnsMode": "bogus"}, "invalid cgroup namespace mode: bogus"),
        ({"Ulimits": [{"Name": "bogus", "Soft": 1, "Hard": 1}]}, "invalid ulimit type: bogus"),
        (
            {"Ulimits": [{"Name": "nofile", "Soft": 20, "Hard": 10}]},
            "ulimit soft limit must be less than or equal to hard limit: 20 > 10",
        ),
        (
            {"Devices": [{"PathOnHost": "/dev/null", "CgroupPermissions": "rwx"}]},
            "invalid device mode: rwx",
        ),
        (
            {"LogConfig": {"Type": "json-file", "Config": {"bogus": "1"}}},
            "unknown log opt 'bogus' for json-file log driver",
        ),
        (
            {"LogConfig": {"Type": "local", "Config": {"tag": "1"}}},
            "unknown log opt 'tag' for log driver local",
        ),
        (
            {"LogConfig": {"Type": "gelf", "Config": {}}},
            "logger: no log driver named 'gelf' is registered",
        ),
        (
            {"LogConfig": {"Type": "json-file", "Config": {"mode": "fast"}}},
            "logger: logging mode not supported: fast",
        ),
    ],
)
def test_create_refuses(daemon, host: dict[str, Any], message: str) -> None:  # type: ignore[no-untyped-def]
    status, body = create(daemon, host)
    assert status == 400, body
    assert body["message"] == message


def test_allowed_sysctls_and_defaults(daemon) -> None:  # type: ignore[no-untyped-def]
    status, body = create(
        daemon,
        {
            "Sysctls": {
                "kernel.domainname": "x",
                "fs.mqueue.msg_max": "20",
                "net.core.somaxconn": "1",
            },
            "LogConfig": {"Type": "none", "Config": {"anything": "goes"}},
        },
    )
    assert status == 201, body
    status, info = daemon.api.call("GET", f"/containers/{body['Id']}/json")
    hc = info["HostConfig"]
    assert hc["IpcMode"] == "private"
    assert hc["CgroupnsMode"] == ("private" if cgroups.is_v2() else "host")
    assert hc["ShmSize"] == 64 * 1024 * 1024
    assert info["LogPath"] == ""


def _run(daemon, host: dict[str, Any], cmd: list[str]) -> tuple[int, bytes]:  # type: ignore[no-untyped-def]
    status, body = create(daemon, host, cmd)
    assert status == 201, body
    cid = body["Id"]
    status, err = daemon.api.call("POST", f"/containers/{cid}/start")
    assert status == 204, err
    status, res = daemon.api.call("POST", f"/containers/{cid}/wait")
    assert status == 200
    _, _, logs = daemon.api.raw("GET", f"/containers/{cid}/logs?stdout=1&stderr=1")
    daemon.api.call("DELETE", f"/containers/{cid}?force=1")
    return res["StatusCode"], _demux(logs)


def _demux(raw: bytes) -> bytes:
    out = b""
    while len(raw) >= 8:
        n = int.from_bytes(raw[4:8], "big")
        out += raw[8 : 8 + n]
        raw = raw[8 + n :]
    return out


def test_sysctls_reach_the_container(daemon) -> None:  # type: ignore[no-untyped-def]
    code, out = _run(
        daemon,
        {"Sysctls": {"fs.mqueue.msg_max": "20", "kernel.domainname": "berth.test"}},
        ["sh", "-c", "cat /proc/sys/fs/mqueue/msg_max /proc/sys/kernel/domainname"],
    )
    assert code == 0, out
    assert out.split() == [b"20", b"berth.test"]


def test_ulimit_unlimited_through_the_api(daemon) -> None:  # type: ignore[no-untyped-def]
    code, out = _run(
        daemon, {"Ulimits": [{"Name": "core", "Soft": -1, "Hard": -1}]}, ["sh", "-c", "ulimit -c"]
    )
    assert (code, out) == (0, b"unlimited\n")


def test_pid_join_needs_a_running_container(daemon) -> None:  # type: ignore[no-untyped-def]
    status, body = create(daemon, {}, ["true"])
    donor = body["Id"]
    status, body = create(daemon, {"PidMode": f"container:{donor}"}, ["true"])
    assert status == 201
    status, err = daemon.api.call("POST", f"/containers/{body['Id']}/start")
    assert status == 409, err
    assert err["message"] == f"failed to join PID namespace: container {donor} is not running"
    for cid in (donor, body["Id"]):
        daemon.api.call("DELETE", f"/containers/{cid}?force=1")


def test_shareable_shm_is_unmounted_after_exit(daemon) -> None:  # type: ignore[no-untyped-def]
    status, body = create(
        daemon, {"IpcMode": "shareable", "ShmSize": 1 << 20}, ["sh", "-c", "df -k /dev/shm"]
    )
    cid = body["Id"]
    assert daemon.api.call("POST", f"/containers/{cid}/start")[0] == 204
    daemon.api.call("POST", f"/containers/{cid}/wait")
    _, _, logs = daemon.api.raw("GET", f"/containers/{cid}/logs?stdout=1")
    assert _demux(logs).splitlines()[1].split()[1] == b"1024"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with open("/proc/self/mounts") as f:
            if not any(cid in ln for ln in f):
                break
        time.sleep(0.05)
    with open("/proc/self/mounts") as f:
        assert not [ln for ln in f if cid in ln]
    daemon.api.call("DELETE", f"/containers/{cid}?force=1")
