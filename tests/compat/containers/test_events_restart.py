"""The docker CLI and docker-py against berthd: events, restart policies, --init,
prunes and system df."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time

import pytest

from berth.runtime import spec
from tests.conftest import Daemon
from tests.waiting import holds, wait_for

pytestmark = pytest.mark.compat


def _ok(p: subprocess.CompletedProcess[bytes]) -> str:
    assert p.returncode == 0, p.stderr.decode()
    return p.stdout.decode()


def test_docker_events_die_shows_the_exit_code(docker) -> None:  # type: ignore[no-untyped-def]
    since = f"{time.time():.9f}"
    p = docker("run", "--name", "cli-ev", "-l", "team=blue", "busybox", "sh", "-c", "exit 5")
    assert p.returncode == 5
    until = f"{time.time():.9f}"
    out = _ok(
        docker(
            "events", "--since", since, "--until", until,
            "--filter", "event=die", "--filter", "container=cli-ev", "--format", "{{json .}}",
        )
    )  # fmt: skip
    lines = [json.loads(x) for x in out.splitlines()]
    assert len(lines) == 1
    assert lines[0]["Action"] == "die" and lines[0]["Actor"]["Attributes"]["exitCode"] == "5"
    assert lines[0]["Actor"]["Attributes"]["team"] == "blue"
    # the default layout: time type action id (attributes)
    out = _ok(docker("events", "--since", since, "--until", until, "--filter", "label=team"))
    first = out.splitlines()[0]
    assert " container create " in first and "name=cli-ev" in first and "team=blue" in first


def test_docker_events_streams_live(docker, daemon: Daemon) -> None:  # type: ignore[no-untyped-def]
    proc = subprocess.Popen(
        [
            "docker",
            "events",
            "--filter",
            "container=cli-live",
            "--filter",
            "container=cli-warm",
            "--format",
            "{{.Actor.Attributes.name}} {{.Action}}",
        ],  # fmt: skip
        env=daemon.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    reader = threading.Thread(
        target=lambda: [lines.put(ln.decode().strip()) for ln in iter(proc.stdout.readline, b"")],
        daemon=True,
    )
    reader.start()
    try:
        # the stream is live once an event made after its start reaches it
        def warm_seen() -> bool:
            _ok(docker("create", "--name", "cli-warm", "busybox", "true"))
            _ok(docker("rm", "cli-warm"))
            try:
                while True:
                    if lines.get(timeout=0.5).startswith("cli-warm"):
                        return True
            except queue.Empty:
                return False

        wait_for(warm_seen, "the events stream to carry an event")
        assert docker("run", "--rm", "--name", "cli-live", "busybox", "true").returncode == 0
        seen: list[str] = []
        deadline = time.monotonic() + 20
        while "cli-live destroy" not in seen and time.monotonic() < deadline:
            try:
                ln = lines.get(timeout=1)
            except queue.Empty:
                continue
            if ln.startswith("cli-live"):
                seen.append(ln)
        assert seen == [f"cli-live {a}" for a in ("create", "attach", "start", "die", "destroy")]
    finally:
        proc.kill()
        proc.wait()


def test_docker_restart_policy_and_restart_count(docker) -> None:  # type: ignore[no-untyped-def]
    _ok(docker("run", "-d", "--name", "cli-rp", "--restart", "on-failure:2", "busybox",
               "sh", "-c", "exit 9"))  # fmt: skip
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        out = _ok(docker("inspect", "-f", "{{.RestartCount}} {{.State.Status}}", "cli-rp"))
        if out.split() == ["2", "exited"]:
            break
        time.sleep(0.1)
    assert out.split() == ["2", "exited"]
    assert _ok(docker("inspect", "-f", "{{.HostConfig.RestartPolicy.Name}}", "cli-rp")).strip() == (
        "on-failure"
    )
    _ok(docker("run", "-d", "--name", "cli-always", "--restart", "always", "busybox",
               "sh", "-c", "sleep 0.2"))  # fmt: skip
    wait_for(
        lambda: int(_ok(docker("inspect", "-f", "{{.RestartCount}}", "cli-always"))) >= 1,
        "the always policy to restart the container",
    )
    _ok(docker("stop", "-t", "1", "cli-always"))
    n = _ok(docker("inspect", "-f", "{{.RestartCount}} {{.State.Status}}", "cli-always")).split()
    assert int(n[0]) >= 1 and n[1] == "exited"
    holds(
        lambda: _ok(docker("inspect", "-f", "{{.RestartCount}}", "cli-always")).strip() == n[0],
        0.6,
        "a stopped always-container is not restarted",
    )


@pytest.mark.skipif(spec.find_init() is None, reason="install Debian's tini package")
def test_docker_run_init(docker) -> None:  # type: ignore[no-untyped-def]
    out = _ok(docker("run", "--rm", "--init", "busybox", "ps", "-o", "pid,args"))
    first = out.splitlines()[1].split(None, 1)
    assert first == ["1", "/sbin/docker-init -- ps -o pid,args"]
    assert docker("run", "--rm", "--init", "busybox", "sh", "-c", "exit 3").returncode == 3


def test_docker_container_and_system_prune(docker) -> None:  # type: ignore[no-untyped-def]
    _ok(docker("create", "--name", "cli-p1", "busybox", "true"))
    _ok(docker("create", "--name", "cli-p2", "-l", "keep=1", "busybox", "true"))
    out = _ok(docker("container", "prune", "-f", "--filter", "label!=keep"))
    assert out.startswith("Deleted Containers:\n") and out.endswith("Total reclaimed space: 0B\n")
    names = _ok(docker("ps", "-a", "--format", "{{.Names}}")).split()
    assert "cli-p1" not in names and "cli-p2" in names
    out = _ok(docker("system", "prune", "-f"))
    assert "Deleted Containers:" in out and "Total reclaimed space:" in out
    assert "cli-p2" not in _ok(docker("ps", "-a", "--format", "{{.Names}}")).split()
    assert _ok(docker("images", "-q", "busybox")).strip()  # tagged images stay


def test_docker_system_df(docker) -> None:  # type: ignore[no-untyped-def]
    _ok(docker("create", "--name", "cli-df", "busybox", "true"))
    out = _ok(docker("system", "df"))
    lines = out.splitlines()
    assert lines[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    assert lines[1].startswith("Images") and lines[2].startswith("Containers")
    assert lines[3].startswith("Local Volumes") and lines[4].startswith("Build Cache")
    assert lines[2].split()[1:3] == ["1", "0"]


docker_sdk = pytest.importorskip("docker", reason="docker-py is not installed")


@pytest.fixture
def client(daemon):  # type: ignore[no-untyped-def]
    c = docker_sdk.DockerClient(base_url=daemon.host, version="auto", timeout=60)
    yield c
    daemon.remove_all_containers()
    c.close()


def test_docker_py_events_df_and_prune(client) -> None:  # type: ignore[no-untyped-def]
    since = time.time()
    c = client.containers.run("busybox", ["sh", "-c", "exit 2"], detach=True, name="py-ev")
    assert c.wait()["StatusCode"] == 2
    got = list(client.events(since=since, until=time.time() + 0.5, decode=True,
                             filters={"container": "py-ev"}))  # fmt: skip
    assert [e["Action"] for e in got] == ["create", "start", "die"]
    df = client.df()
    assert any(x["Id"] == c.id for x in df["Containers"]) and df["BuildCache"] == []
    rep = client.containers.prune()
    assert c.id in rep["ContainersDeleted"]
    c2 = client.containers.run("busybox", ["true"], detach=True,
                               restart_policy={"Name": "on-failure", "MaximumRetryCount": 1})  # fmt: skip
    c2.wait()
    c2.reload()
    assert c2.attrs["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 1}
