"""The real docker CLI (28.x) against berthd: the everyday commands of issue 2."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.waiting import wait_for

pytestmark = pytest.mark.compat


def out(r: subprocess.CompletedProcess[bytes]) -> str:
    return r.stdout.decode()


def test_version_and_info(docker) -> None:
    r = docker("version", "--format", "{{.Server.APIVersion}} {{.Server.Os}}")
    assert r.returncode == 0, r.stderr
    assert out(r).strip() == "1.50 linux"
    r = docker("info", "--format", "{{.Driver}} {{.OSType}}")
    assert r.returncode == 0, r.stderr
    assert out(r).strip() == "overlay2 linux"


def test_run_rm_prints_and_removes(docker) -> None:
    r = docker("run", "--rm", "--name", "t-hello", "busybox", "echo", "hello from berth")
    assert r.returncode == 0, r.stderr
    assert out(r) == "hello from berth\n"
    assert out(docker("ps", "-aq", "--filter", "name=t-hello")) == ""


def test_exit_codes_reach_the_cli(docker) -> None:
    assert docker("run", "--rm", "busybox", "sh", "-c", "exit 3").returncode == 3
    r = docker("run", "--rm", "busybox", "nosuchcommand")
    assert r.returncode == 127
    assert b"executable file not found" in r.stderr
    assert b"Error waiting" not in r.stderr
    r = docker("run", "--rm", "busybox", "/etc")
    assert r.returncode == 126, r.stderr
    # A loopback registry that is not there: no test may reach past this machine.
    r = docker("run", "--rm", "127.0.0.1:9/nosuchimage:1")
    assert r.returncode == 125 and b"connection refused" in r.stderr
    # A start that fails before the process exists: an error, and --rm still removes.
    r = docker("run", "--rm", "--name", "t-nouser", "-u", "nosuchuser", "busybox", "true")
    assert r.returncode == 125 and b"unable to find user nosuchuser" in r.stderr
    assert out(docker("ps", "-aq", "--filter", "name=t-nouser")) == ""


def test_stdout_and_stderr_are_separate(docker) -> None:
    r = docker("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2")
    assert out(r) == "out\n" and r.stderr == b"err\n"


def test_stdin_with_i(docker) -> None:
    r = docker("run", "--rm", "-i", "busybox", "tr", "a-z", "A-Z", input=b"piped in\n")
    assert r.returncode == 0, r.stderr
    assert out(r) == "PIPED IN\n"


def test_run_options_env_workdir_user_hostname_entrypoint(docker, tmp_path: Path) -> None:
    envf = tmp_path / "env"
    envf.write_text("FROM_FILE=yes\n# comment\n")
    r = docker(
        "run",
        "--rm",
        "-e",
        "A=1",
        "--env-file",
        str(envf),
        "-w",
        "/tmp",
        "-u",
        "65534:65534",
        "--hostname",
        "boxy",
        "--entrypoint",
        "sh",
        "busybox",
        "-c",
        'echo "$A $FROM_FILE $(pwd) $(id -u):$(id -g) $(hostname)"',
    )
    assert r.returncode == 0, r.stderr
    assert out(r) == "1 yes /tmp 65534:65534 boxy\n"


def test_detached_ps_logs_stop_rm(docker) -> None:
    r = docker(
        "run",
        "-d",
        "--name",
        "t-web",
        "--label",
        "role=web",
        "--stop-signal",
        "SIGUSR1",
        "busybox",
        "sh",
        "-c",
        "trap 'echo bye; exit 0' USR1; echo started; while :; do sleep 0.1; done",
    )
    assert r.returncode == 0, r.stderr
    cid = out(r).strip()
    assert len(cid) == 64
    wait_for(lambda: out(docker("logs", "t-web")) == "started\n", "sh to set its trap")
    ps = out(docker("ps", "--filter", "label=role=web", "--format", "{{.Names}} {{.State}}"))
    assert ps.strip() == "t-web running"
    assert out(docker("ps", "-q", "--filter", "name=t-web")).strip() == cid[:12]
    assert out(docker("logs", "t-web")) == "started\n"
    r = docker("stop", "t-web")
    assert r.returncode == 0, r.stderr
    st = json.loads(out(docker("inspect", "t-web")))[0]["State"]
    assert st["Status"] == "exited" and st["ExitCode"] == 0
    assert out(docker("logs", "--tail", "1", "t-web")) == "bye\n"
    ts = out(docker("logs", "-t", "t-web")).splitlines()[0]
    assert ts.endswith(" started") and ts[:4].isdigit()
    assert docker("rm", "t-web").returncode == 0
    assert docker("inspect", "t-web").returncode == 1


def test_logs_follow_ends_when_the_container_exits(docker) -> None:
    cid = out(
        docker("run", "-d", "busybox", "sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.2; done")
    ).strip()
    r = docker("logs", "-f", cid, timeout=20)
    assert out(r) == "1\n2\n3\n"
    docker("rm", "-f", cid)


def test_stop_timeout_then_kill(docker) -> None:
    cid = out(docker("run", "-d", "--stop-timeout", "1", "busybox", "sleep", "60")).strip()
    t0 = time.monotonic()
    assert docker("stop", cid).returncode == 0
    assert time.monotonic() - t0 < 5
    st = json.loads(out(docker("inspect", cid)))[0]["State"]
    assert st["ExitCode"] == 137
    docker("rm", cid)


def test_create_start_attach_wait(docker) -> None:
    cid = out(
        docker(
            "create", "--name", "t-cs", "busybox", "sh", "-c", "echo created-then-started; exit 4"
        )
    ).strip()
    assert json.loads(out(docker("inspect", cid)))[0]["State"]["Status"] == "created"
    r = docker("start", "-a", "t-cs")
    assert r.returncode == 4 and out(r) == "created-then-started\n"
    assert out(docker("wait", "t-cs")).strip() == "4"
    docker("rm", "t-cs")


def test_kill_rename_rm_force(docker) -> None:
    cid = out(docker("run", "-d", "--name", "t-k", "busybox", "sleep", "60")).strip()
    assert docker("rename", "t-k", "t-k2").returncode == 0
    assert json.loads(out(docker("inspect", cid)))[0]["Name"] == "/t-k2"
    r = docker("rm", "t-k2")
    assert r.returncode == 1 and b"container is running" in r.stderr
    assert docker("kill", "-s", "KILL", "t-k2").returncode == 0
    st = json.loads(out(docker("inspect", cid)))[0]["State"]
    assert st["ExitCode"] == 137 and not st["Running"]
    cid2 = out(docker("run", "-d", "busybox", "sleep", "60")).strip()
    assert docker("rm", "-f", cid2).returncode == 0
    assert docker("rm", "-f", cid).returncode == 0


def test_name_conflict_and_unknown_container(docker) -> None:
    docker("create", "--name", "t-dup", "busybox", "true")
    r = docker("create", "--name", "t-dup", "busybox", "true")
    assert r.returncode == 1 and b"is already in use" in r.stderr
    r = docker("run", "--name", "t-dup", "busybox", "true")
    assert r.returncode == 125 and b"is already in use" in r.stderr
    r = docker("stop", "nosuchcontainer")
    assert r.returncode == 1 and b"No such container: nosuchcontainer" in r.stderr
    docker("rm", "t-dup")


def test_memory_limit_oom_kill(docker) -> None:
    r = docker(
        "run",
        "--name",
        "t-oom",
        "--memory",
        "32m",
        "busybox",
        "sh",
        "-c",
        'x=$(head -c 200000000 /dev/zero | tr "\\0" a); echo survived',
    )
    assert r.returncode == 137, (r.stdout, r.stderr)
    st = json.loads(out(docker("inspect", "t-oom")))[0]["State"]
    assert st["OOMKilled"] is True
    docker("rm", "t-oom")


def test_pids_limit_and_cpus_reach_the_cgroup(docker) -> None:
    r = docker(
        "run",
        "--rm",
        "--pids-limit",
        "7",
        "--cpus",
        "0.5",
        "busybox",
        "sh",
        "-c",
        "cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null"
        " || cat /sys/fs/cgroup/pids.max /sys/fs/cgroup/cpu.max",
    )
    assert r.returncode == 0, r.stderr
    text = out(r)
    assert "7" in text.split() and ("50000" in text)


def test_images_tag_inspect_rmi(docker) -> None:
    assert "busybox" in out(docker("images", "--format", "{{.Repository}}:{{.Tag}}"))
    assert docker("tag", "busybox", "t-tagged:v1").returncode == 0
    cfg = json.loads(out(docker("image", "inspect", "t-tagged:v1")))[0]["Config"]
    assert cfg["Cmd"] == ["sh"]
    assert docker("rmi", "t-tagged:v1").returncode == 0
    assert docker("image", "inspect", "t-tagged:v1").returncode == 1


def test_save_load_import_roundtrip(docker, tmp_path: Path) -> None:
    tar = tmp_path / "bb.tar"
    assert docker("save", "-o", str(tar), "busybox").returncode == 0
    assert docker("tag", "busybox", "t-saved:1").returncode == 0
    assert docker("rmi", "t-saved:1").returncode == 0
    r = docker("load", "-i", str(tar))
    assert r.returncode == 0 and b"Loaded image" in r.stdout
    root = tmp_path / "rootfs"
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "busybox").write_bytes(Path("/bin/busybox").read_bytes())
    (root / "bin" / "busybox").chmod(0o755)
    (root / "bin" / "sh").symlink_to("busybox")
    (root / "bin" / "echo").symlink_to("busybox")
    rootfs_tar = tmp_path / "rootfs.tar"
    subprocess.run(["tar", "-C", str(root), "-cf", str(rootfs_tar), "."], check=True)
    r = docker("import", "-c", 'CMD ["echo", "imported"]', str(rootfs_tar), "t-imported:1")
    assert r.returncode == 0, r.stderr
    r = docker("run", "--rm", "t-imported:1")
    assert out(r) == "imported\n", r.stderr
    docker("rmi", "t-imported:1")


def test_tty_gets_the_console_size_and_resize(docker, daemon) -> None:
    from tests.terminal import run_on_tty

    argv = ["docker", "run", "-it", "--rm", "busybox", "stty", "size"]
    code, data = run_on_tty(argv, daemon.env, 30, 100)
    assert code == 0, data
    assert b"30 100" in data


def test_tty_run(docker) -> None:
    # A tty merges stdout and stderr and turns \n into \r\n, as with dockerd.
    r = docker("run", "--rm", "-t", "busybox", "sh", "-c", "echo out; echo err >&2")
    assert r.returncode == 0, r.stderr
    assert out(r) == "out\r\nerr\r\n"


def test_tcp_listener(busybox_tar) -> None:
    """The same API on tcp://127.0.0.1:PORT, through DOCKER_HOST."""
    import socket
    import tempfile

    from tests.conftest import Daemon, cleanup_root

    if os.geteuid() != 0:
        pytest.skip("needs root: berthd creates namespaces, mounts and cgroups")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    root = Path(tempfile.mkdtemp(prefix="bt-", dir="/tmp"))
    d = Daemon(root, ["-H", f"tcp://127.0.0.1:{port}"])
    try:
        d.start()
        d.load_image(busybox_tar)
        env = {**os.environ, "DOCKER_HOST": f"tcp://127.0.0.1:{port}"}
        r = subprocess.run(
            ["docker", "run", "--rm", "busybox", "echo", "via-tcp"],
            env=env,
            capture_output=True,
            timeout=60,
        )
        assert r.returncode == 0, r.stderr
        assert r.stdout == b"via-tcp\n"
    finally:
        d.stop()
        d.kill()
        cleanup_root(root)


def test_logs_follow_goes_on_across_policy_restarts(docker) -> None:
    r = docker(
        "run",
        "-d",
        "--name",
        "t-follow-rs",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "echo run; sleep 0.3; exit 1",
    )
    assert r.returncode == 0, r.stderr
    r = docker("logs", "-f", "t-follow-rs", timeout=30)
    assert out(r) == "run\nrun\nrun\n"
    fmt = "{{.RestartCount}} {{.State.Status}}"
    assert out(docker("inspect", "-f", fmt, "t-follow-rs")).strip() == "2 exited"
