"""docker exec through the real docker CLI and docker-py against berthd."""

from __future__ import annotations

import json
import os
import shutil
import time
from typing import Any

import pytest

pytestmark = pytest.mark.compat


def _run(docker: Any, *args: str) -> str:
    r = docker("run", "-d", *args)
    assert r.returncode == 0, r.stderr
    return r.stdout.decode().strip()


@pytest.fixture
def ctr(docker: Any) -> str:
    return _run(docker, "busybox", "sleep", "1000")


def test_output_and_exit_code(docker: Any, ctr: str) -> None:
    r = docker("exec", ctr, "sh", "-c", "echo out; echo err >&2; exit 3")
    assert r.returncode == 3
    assert r.stdout == b"out\n" and r.stderr == b"err\n"
    assert docker("exec", ctr, "true").returncode == 0


def test_command_that_cannot_run(docker: Any, ctr: str) -> None:
    r = docker("exec", ctr, "nosuch")
    assert r.returncode == 127
    assert r.stdout.decode() == (
        "OCI runtime exec failed: exec failed: unable to start container process: "
        'exec: "nosuch": executable file not found in $PATH: unknown\r\n'
    )
    r = docker("exec", ctr, "/etc")
    assert r.returncode == 126
    assert b'exec: "/etc": permission denied' in r.stdout


def test_user(docker: Any) -> None:
    cid = _run(docker, "-u", "nobody", "busybox", "sleep", "1000")
    # the container's user by default, -u overrides (resolved in the container's /etc/passwd)
    assert docker("exec", cid, "id").stdout == b"uid=65534(nobody) gid=65534(nobody)\n"
    r = docker("exec", "-u", "root", cid, "id", "-u")
    assert r.stdout == b"0\n"
    r = docker("exec", "-u", "1234:5678", cid, "id")
    assert r.stdout == b"uid=1234 gid=5678\n"
    r = docker("exec", "-u", "nosuch", cid, "id")
    assert r.returncode == 1
    assert r.stderr.decode().strip() == (
        "Error response from daemon: unable to find user nosuch: no matching entries in passwd file"
    )


def test_workdir_and_env(docker: Any) -> None:
    cid = _run(docker, "-w", "/etc", "-e", "A=from-run", "-e", "B=1", "busybox", "sleep", "1000")
    assert docker("exec", cid, "pwd").stdout == b"/etc\n"
    assert docker("exec", "-w", "/tmp", cid, "pwd").stdout == b"/tmp\n"
    env = docker("exec", "-e", "B=2", "-e", "C=3", cid, "env").stdout.decode().splitlines()
    assert env[0].startswith("PATH=") and env[1] == f"HOSTNAME={cid[:12]}"
    # the container's Env in its order (B replaced in place), then the exec's new ones, then HOME
    config_env = docker("inspect", "-f", "{{json .Config.Env}}", cid).stdout.decode()
    want = [e.replace("B=1", "B=2") for e in json.loads(config_env) if not e.startswith("PATH=")]
    assert sorted(want[:2]) == ["A=from-run", "B=2"]
    assert env[2:] == [*want, "C=3", "HOME=/root"]
    tty_env = docker("exec", "-t", cid, "env").stdout.decode().splitlines()
    assert "TERM=xterm" in tty_env and "TERM=xterm" not in env
    r = docker("exec", "-w", "/nonexistent", cid, "pwd")
    assert r.returncode == 127 and b'chdir to cwd ("/nonexistent")' in r.stdout


def test_stdin_until_eof(docker: Any, ctr: str) -> None:
    data = b"".join(b"line %d\n" % i for i in range(20000))
    r = docker("exec", "-i", ctr, "sh", "-c", "cat; echo done", input=data)
    assert r.returncode == 0
    assert r.stdout == data + b"done\n"
    # without -i the process's stdin is empty
    r = docker("exec", ctr, "cat", input=b"ignored")
    assert r.returncode == 0 and r.stdout == b""


def test_tty(docker: Any, ctr: str) -> None:
    r = docker("exec", "-t", ctr, "sh", "-c", "tty; echo err >&2")
    assert r.returncode == 0
    # a pty of the container's own devpts; stderr comes through it too
    assert r.stdout == b"/dev/pts/0\r\nerr\r\n"


def test_tty_size_follows_the_terminal(docker: Any, daemon: Any, ctr: str) -> None:
    from tests.terminal import run_on_tty

    exe = shutil.which("docker") or "/usr/local/bin/docker"
    code, data = run_on_tty([exe, "exec", "-it", ctr, "stty", "size"], daemon.env, 33, 111)
    assert code == 0, data
    assert b"33 111" in data


def test_detached(docker: Any, ctr: str) -> None:
    r = docker("exec", "-d", ctr, "sh", "-c", "echo lost; touch /tmp/ran; sleep 2")
    assert r.returncode == 0 and r.stdout == b""
    ids = docker("inspect", "-f", "{{len .ExecIDs}}", ctr).stdout.strip()
    assert ids == b"1"
    deadline = time.monotonic() + 10
    while docker("exec", ctr, "test", "-e", "/tmp/ran").returncode != 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_joins_every_namespace_and_the_cgroup(docker: Any, ctr: str) -> None:
    script = (
        "for n in cgroup ipc mnt net pid uts; do "
        '[ "$(readlink /proc/1/ns/$n)" = "$(readlink /proc/self/ns/$n)" ] || echo differs $n; '
        "done; "
        "cmp /proc/1/cgroup /proc/self/cgroup >/dev/null || echo differs cgroup-membership; "
        "hostname; cat /proc/1/cmdline | tr '\\0' ' '"
    )
    r = docker("exec", ctr, "sh", "-c", script)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode() == f"{ctr[:12]}\nsleep 1000 "
    pid = docker("inspect", "-f", "{{.State.Pid}}", ctr).stdout.decode().strip()
    # seen from the host too: the exec is not in our namespaces
    r = docker("exec", ctr, "readlink", "/proc/self/ns/mnt")
    assert r.stdout.decode().strip() == os.readlink(f"/proc/{pid}/ns/mnt")
    assert r.stdout.decode().strip() != os.readlink("/proc/self/ns/mnt")


def test_capabilities(docker: Any) -> None:
    cid = _run(docker, "--cap-drop", "NET_RAW", "busybox", "sleep", "1000")

    def caps(*flags: str) -> dict[str, str]:
        r = docker("exec", *flags, cid, "grep", "^Cap", "/proc/self/status")
        return dict(line.split(":\t") for line in r.stdout.decode().splitlines())

    init = docker("exec", cid, "grep", "^CapBnd", "/proc/1/status").stdout.decode()
    own = caps()
    assert own["CapBnd"] == own["CapEff"] == init.split(":\t")[1].strip()
    assert not int(own["CapEff"], 16) & (1 << 13)  # NET_RAW dropped
    with open("/proc/self/status") as f:
        host = next(ln for ln in f if ln.startswith("CapBnd")).split(":\t")[1].strip()
    priv = caps("--privileged")
    assert priv["CapEff"] == priv["CapBnd"] == host
    assert caps("-u", "nobody")["CapEff"] == "0000000000000000"


def test_stopped_container(docker: Any) -> None:
    cid = _run(docker, "busybox", "true")
    docker("wait", cid)
    r = docker("exec", cid, "true")
    assert r.returncode == 1
    assert (
        r.stderr.decode().strip() == f"Error response from daemon: container {cid} is not running"
    )


def test_exec_ends_with_its_container(docker: Any, daemon: Any, ctr: str) -> None:
    st, body = daemon.api.call("POST", f"/containers/{ctr}/exec", {"Cmd": ["sleep", "100"]})
    assert st == 201
    eid = body["Id"]
    assert daemon.api.call("POST", f"/exec/{eid}/start", {"Detach": True})[0] == 200
    assert daemon.api.call("GET", f"/exec/{eid}/json")[1]["Running"] is True
    assert docker("kill", ctr).returncode == 0
    deadline = time.monotonic() + 10
    while (info := daemon.api.call("GET", f"/exec/{eid}/json")[1])["Running"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert info["ExitCode"] == 137
    assert docker("inspect", "-f", "{{.ExecIDs}}", ctr).stdout == b"[]\n"


# ---- docker-py ----------------------------------------------------------------------------


@pytest.fixture
def client(daemon: Any) -> Any:
    docker_sdk = pytest.importorskip("docker", reason="docker-py is not installed")
    c = docker_sdk.DockerClient(base_url=daemon.host, version="auto", timeout=60)
    yield c
    daemon.remove_all_containers()
    c.close()


def test_docker_py_exec_run(client: Any) -> None:
    c = client.containers.run("busybox", ["sleep", "1000"], detach=True, environment=["X=1"])
    res = c.exec_run(["sh", "-c", "echo $X $Y; pwd; id -u; echo e >&2; exit 2"],
                     environment={"Y": "2"}, workdir="/tmp", user="nobody")  # fmt: skip
    assert res.exit_code == 2
    assert res.output == b"1 2\n/tmp\n65534\ne\n"
    res = c.exec_run(["sh", "-c", "echo o; echo e >&2"], demux=True)
    assert res.exit_code == 0 and res.output == (b"o\n", b"e\n")
    res = c.exec_run(["sh", "-c", "for i in 1 2 3; do echo $i; done"], stream=True)
    assert b"".join(res.output) == b"1\n2\n3\n"
    res = c.exec_run("tty", tty=True)
    assert res.output == b"/dev/pts/0\r\n"


def test_docker_py_low_level(client: Any) -> None:
    c = client.containers.run("busybox", ["sleep", "1000"], detach=True)
    api = client.api
    eid = api.exec_create(c.id, ["sh", "-c", "sleep 0.5; stty size"], tty=True)["Id"]
    info = api.exec_inspect(eid)
    assert info["Running"] is False and info["ExitCode"] is None and info["ContainerID"] == c.id
    assert info["ProcessConfig"] == {
        "tty": True,
        "privileged": False,
        "entrypoint": "sh",
        "arguments": ["-c", "sleep 0.5; stty size"],
    }
    assert c.attrs["ExecIDs"] is None and client.containers.get(c.id).attrs["ExecIDs"] == [eid]
    sock = api.exec_start(eid, socket=True, tty=True)
    api.exec_resize(eid, height=40, width=100)
    out = b""
    while chunk := sock._sock.recv(4096):
        out += chunk
    sock.close()
    assert out == b"40 100\r\n"
    info = api.exec_inspect(eid)
    assert info["Running"] is False and info["ExitCode"] == 0 and info["Pid"] > 0
    with pytest.raises(Exception) as e:
        api.exec_inspect("nosuch")
    assert "No such exec instance: nosuch" in str(e.value)


def test_paused_container(docker: Any, ctr: str) -> None:
    r = docker("pause", ctr)
    if r.returncode != 0:
        pytest.skip(f"pause is not available: {r.stderr.decode().strip()}")
    try:
        r = docker("exec", ctr, "true")
        assert r.returncode == 1
        assert r.stderr.decode().strip() == (
            f"Error response from daemon: container {ctr} is paused, unpause the container "
            "before exec"
        )
    finally:
        docker("unpause", ctr)
    assert docker("exec", ctr, "true").returncode == 0
