"""A container whose shim dies is killed with it (through its cgroup) and recorded as
Exited (137): before, it was marked exited while its process ran on under nobody, and
`docker rm` left it and its veth behind."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.conftest import IS_ROOT, Daemon, docker_for

pytestmark = [pytest.mark.integration, pytest.mark.skipif(not IS_ROOT, reason="needs root")]


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_container_does_not_outlive_its_shim(daemon: Daemon) -> None:
    docker = docker_for(daemon)
    r = docker("run", "-d", "busybox", "sh", "-c", "sleep 1000 & sleep 1000")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.decode().strip()
    try:
        state = daemon.api.call("GET", f"/containers/{cid}/json")[1]["State"]
        pid = state["Pid"]
        shim = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        os.kill(shim, signal.SIGKILL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            state = daemon.api.call("GET", f"/containers/{cid}/json")[1]["State"]
            if state["Status"] == "exited":
                break
            time.sleep(0.05)
        assert state["Status"] == "exited" and state["ExitCode"] == 137, state
        deadline = time.monotonic() + 5
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(pid), "the container's process outlived its shim"
        sleepers = [
            p
            for p in os.listdir("/proc")
            if p.isdigit() and _alive(int(p)) and cid[:12] in _cgroup(int(p))
        ]
        assert sleepers == []
    finally:
        docker("rm", "-f", cid)
    # the veth goes with the netns, a moment after it is unmounted
    deadline = time.monotonic() + 10
    while (
        veths := [n for n in os.listdir("/sys/class/net") if n.startswith(f"veth{cid[:7]}")]
    ) and (time.monotonic() < deadline):
        time.sleep(0.05)
    assert veths == []


def _cgroup(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        return ""
