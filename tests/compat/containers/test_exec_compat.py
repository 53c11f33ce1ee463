"""docker exec as dockerd runs it: Env over the container's, 126/127 for what cannot run, and
exec records that outlive a berthd restart (and go with their container)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IS_ROOT, docker_for, own_daemon

docker_sdk = pytest.importorskip("docker", reason="docker-py is not installed")

pytestmark = [
    pytest.mark.compat,
    pytest.mark.skipif(not IS_ROOT, reason="needs root: berthd runs containers"),
]


def _wait_for(what: str, ok: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = ok()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_env_overrides_the_containers(daemon: Any) -> None:
    client = docker_sdk.DockerClient(base_url=daemon.host, version="auto", timeout=60)
    try:
        c = client.containers.run("busybox", ["sleep", "1000"], environment={"A": "run", "B": "b"},
                                  detach=True)  # fmt: skip
        code, out = c.exec_run(["env"], environment={"A": "exec", "C": "c"})
        env = out.decode().splitlines()
        assert code == 0
        assert "A=exec" in env and "B=b" in env and "C=c" in env and "A=run" not in env
        # the container itself keeps its own
        assert c.exec_run(["sh", "-c", "echo $A"]).output == b"run\n"
    finally:
        daemon.remove_all_containers()
        client.close()


def test_126_and_127_as_docker_exec_reports_them(docker: Any, daemon: Any) -> None:
    cid = docker("run", "-d", "busybox", "sleep", "1000").stdout.decode().strip()
    r = docker("exec", cid, "nosuch")
    assert r.returncode == 127
    assert r.stdout.decode() == (
        "OCI runtime exec failed: exec failed: unable to start container process: "
        'exec: "nosuch": executable file not found in $PATH: unknown\r\n'
    )
    r = docker("exec", cid, "/etc/passwd")
    assert r.returncode == 126 and b'exec: "/etc/passwd": permission denied' in r.stdout
    st, ex = daemon.api.call("POST", f"/containers/{cid}/exec", {"Cmd": ["/nosuch/bin"]})
    assert st == 201
    st, _ = daemon.api.call("POST", f"/exec/{ex['Id']}/start", {"Detach": True})
    assert st == 400
    st, info = daemon.api.call("GET", f"/exec/{ex['Id']}/json")
    assert (info["ExitCode"], info["Running"]) == (127, False)


def test_exec_records_survive_a_restart(busybox_tar: Path) -> None:
    with own_daemon(busybox_tar) as d:
        docker = docker_for(d)
        cid = docker("run", "-d", "busybox", "sleep", "1000").stdout.decode().strip()
        assert docker("exec", cid, "sh", "-c", "exit 3").returncode == 3
        # the shell waits for a file: it ends when the test says so, not after a sleep
        long = ["sh", "-c", "while [ ! -e /tmp/go ]; do sleep 0.05; done; exit 7"]
        _, created = d.api.call("POST", f"/containers/{cid}/exec", {"Cmd": long})
        running = created["Id"]
        assert d.api.call("POST", f"/exec/{running}/start", {"Detach": True})[0] == 200
        _, info = d.api.call("GET", f"/containers/{cid}/json")
        assert info["ExecIDs"] == [running]
        finished = None
        # the finished exec's id, from the exec_die event that named it
        _, _, body = d.api.raw("GET", f"/events?since=0&until={int(time.time()) + 1}")
        for line in body.decode().splitlines():
            if '"exec_die"' in line and '"exitCode":"3"' in line:
                finished = line.split('"execID":"')[1].split('"')[0]
        assert finished is not None, body
        d.kill()  # shims and containers live on without berthd
        d.start()
        st, info = d.api.call("GET", f"/exec/{running}/json")
        assert st == 200 and info["Running"] is True and info["Pid"] > 0, info
        st, info = d.api.call("GET", f"/exec/{finished}/json")
        assert st == 200 and (info["Running"], info["ExitCode"]) == (False, 3), info
        assert d.api.call("GET", f"/containers/{cid}/json")[1]["ExecIDs"] == [running]
        assert docker("exec", cid, "touch", "/tmp/go").returncode == 0
        info = _wait_for(
            "the exec's exit after the restart",
            lambda: (i := d.api.call("GET", f"/exec/{running}/json")[1])["ExitCode"] == 7 and i,
        )
        assert info["Running"] is False
        assert docker("rm", "-f", cid).returncode == 0
        # gone with their container, as in dockerd
        for eid in (running, finished):
            st, body = d.api.call("GET", f"/exec/{eid}/json")
            assert (st, body) == (404, {"message": f"No such exec instance: {eid}"})
