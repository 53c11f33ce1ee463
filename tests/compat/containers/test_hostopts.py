"""Host options and log drivers through the real docker CLI, each checked by its effect
inside the container (or on the log files)."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.compat


def ok(r: subprocess.CompletedProcess[bytes]) -> str:
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return r.stdout.decode()


def run(docker, *args: str) -> str:  # type: ignore[no-untyped-def]
    return ok(docker("run", "--rm", *args))


def test_ulimit(docker) -> None:
    out = run(
        docker, "--ulimit", "nofile=1024:2048", "busybox", "sh", "-c", "ulimit -n; ulimit -Hn"
    )
    assert out.split() == ["1024", "2048"]
    out = run(
        docker, "--ulimit", "nproc=100:200", "--ulimit", "core=-1", "busybox",
        "sh", "-c", "ulimit -u; ulimit -Hu; ulimit -c",
    )  # fmt: skip
    assert out.split() == ["100", "200", "unlimited"]


def test_ulimit_above_the_daemons_hard_limit_is_refused_clearly(docker) -> None:
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY:
        pytest.skip("no hard limit on open files here")
    r = docker("run", "--rm", "--ulimit", f"nofile=64:{hard + 1}", "busybox", "true")
    assert r.returncode != 0
    assert b"RLIMIT_NOFILE" in r.stderr and b"CAP_SYS_RESOURCE" in r.stderr, r.stderr


@pytest.mark.skipif(not os.path.exists("/dev/fuse"), reason="no /dev/fuse on this host")
def test_device(docker) -> None:
    assert "No such file" in docker("run", "--rm", "busybox", "ls", "/dev/fuse").stderr.decode()
    st = os.stat("/dev/fuse")
    out = run(docker, "--device", "/dev/fuse", "busybox", "stat", "-c", "%t:%T %F", "/dev/fuse")
    assert (
        out.strip() == f"{os.major(st.st_rdev):x}:{os.minor(st.st_rdev):x} character special file"
    )
    # the device cgroup lets it be opened (fuse itself refuses a read without a mount)
    r = docker("run", "--rm", "--device", "/dev/fuse", "busybox", "cat", "/dev/fuse")
    assert b"read error" in r.stderr, r.stderr
    # mode r: opening for writing is denied by the device cgroup
    r = docker(
        "run", "--rm", "--device", "/dev/fuse:/dev/myfuse:r", "busybox",
        "sh", "-c", "ls /dev/myfuse && echo x > /dev/myfuse",
    )  # fmt: skip
    assert r.returncode != 0 and b"Operation not permitted" in r.stderr, r.stderr


def test_device_missing(docker) -> None:
    r = docker("run", "--rm", "--device", "/dev/berth-nope", "busybox", "true")
    assert r.returncode != 0
    assert (
        b'error gathering device information while adding custom device "/dev/berth-nope": '
        b"no such file or directory" in r.stderr
    )


def test_sysctl(docker) -> None:
    out = run(
        docker,
        "--sysctl",
        "net.ipv4.ip_forward=1",
        "busybox",
        "cat",
        "/proc/sys/net/ipv4/ip_forward",
    )
    assert out.strip() == "1"
    out = run(
        docker, "--sysctl", "kernel.shmmax=1000000", "busybox", "cat", "/proc/sys/kernel/shmmax"
    )
    assert out.strip() == "1000000"
    r = docker(
        "run", "--rm", "--network", "host", "--sysctl", "net.ipv4.ip_forward=1", "busybox", "true"
    )
    assert r.returncode == 125
    assert b'sysctl "net.ipv4.ip_forward" not allowed in host network namespace' in r.stderr


def test_shm_size(docker) -> None:
    out = run(docker, "--shm-size", "10m", "busybox", "df", "-k", "/dev/shm")
    assert out.splitlines()[1].split()[1] == "10240"
    out = run(docker, "busybox", "df", "-k", "/dev/shm")
    assert out.splitlines()[1].split()[1] == "65536"


def test_read_only(docker) -> None:
    r = docker("run", "--rm", "--read-only", "busybox", "touch", "/x")
    assert r.returncode == 1 and b"Read-only file system" in r.stderr
    assert run(docker, "--read-only", "busybox", "touch", "/dev/shm/x") == ""


def test_cap_add_drop(docker) -> None:
    def capeff(*flags: str) -> int:
        out = run(docker, *flags, "busybox", "grep", "CapEff", "/proc/self/status")
        return int(out.split()[1], 16)

    base = capeff()
    assert base & (1 << 0)  # CAP_CHOWN
    assert not capeff("--cap-drop", "chown") & (1 << 0)
    assert capeff("--cap-add", "NET_ADMIN") & (1 << 12)
    assert not base & (1 << 12)
    r = docker("run", "--rm", "--cap-add", "bogus", "busybox", "true")
    assert b'unknown capability: "CAP_BOGUS"' in r.stderr


def test_privileged(docker) -> None:
    with open("/proc/self/status") as f:
        own = next(int(ln.split()[1], 16) for ln in f if ln.startswith("CapBnd:"))
    out = run(docker, "--privileged", "busybox", "grep", "CapEff", "/proc/self/status")
    assert int(out.split()[1], 16) == own
    # host devices are there, and nothing is masked
    host_loop = os.path.exists("/dev/loop0")
    out = run(
        docker, "--privileged", "busybox", "sh", "-c",
        "ls /dev/loop0 2>/dev/null; wc -c < /proc/keys; grep ' /sys ' /proc/mounts",
    )  # fmt: skip
    lines = out.splitlines()
    if host_loop:
        assert lines[0] == "/dev/loop0"
    assert int(lines[-2]) > 0  # /proc/keys is not /dev/null
    assert " rw," in lines[-1]
    out = run(docker, "busybox", "sh", "-c", "wc -c < /proc/keys; ls /dev/loop0 2>&1; true")
    assert out.splitlines()[0] == "0" and "No such file" in out


def _ns(name: str) -> str:
    return os.readlink(f"/proc/self/ns/{name}")


def test_ipc_modes(docker) -> None:
    assert run(docker, "--ipc", "host", "busybox", "readlink", "/proc/1/ns/ipc").strip() == _ns(
        "ipc"
    )
    assert run(docker, "busybox", "readlink", "/proc/1/ns/ipc").strip() != _ns("ipc")
    ok(docker("run", "-d", "--name", "t-ipc-donor", "--ipc", "shareable", "busybox",
              "sh", "-c", "echo shared > /dev/shm/x; exec sleep 60"))  # fmt: skip
    ok(docker("run", "-d", "--name", "t-ipc-private", "busybox", "sleep", "60"))
    donor_pid = ok(docker("inspect", "-f", "{{.State.Pid}}", "t-ipc-donor")).strip()
    out = run(
        docker, "--ipc", "container:t-ipc-donor", "busybox", "sh", "-c",
        "cat /dev/shm/x; readlink /proc/self/ns/ipc",
    )  # fmt: skip
    assert out.splitlines() == ["shared", os.readlink(f"/proc/{donor_pid}/ns/ipc")]
    r = docker("run", "--rm", "--ipc", "container:t-ipc-private", "busybox", "true")
    assert b"non-shareable IPC (hint: use IpcMode:shareable for the donor container)" in r.stderr
    r = docker("run", "--rm", "--ipc", "none", "busybox", "ls", "/dev/shm")
    assert r.returncode != 0 and b"No such file or directory" in r.stderr
    ok(docker("rm", "-f", "t-ipc-donor", "t-ipc-private"))
    assert not [ln for ln in open("/proc/self/mounts") if "/mounts/shm" in ln and "/bt-" in ln]


def test_pid_modes(docker) -> None:
    out = run(
        docker, "--pid", "host", "busybox", "sh", "-c", "readlink /proc/self/ns/pid; ps -o pid"
    )
    lines = out.split()
    assert lines[0] == _ns("pid")
    assert str(os.getpid()) in lines[1:]
    ok(docker("run", "-d", "--name", "t-pid-donor", "busybox", "sleep", "60"))
    out = run(docker, "--pid", "container:t-pid-donor", "busybox", "ps", "-o", "pid,args")
    assert "sleep 60" in out
    # with the host's pid namespace nothing takes leftovers along when init exits
    marker = "sleep 3131"
    run(docker, "--pid", "host", "busybox", "sh", "-c", f"{marker} >/dev/null & echo started")
    left = subprocess.run(["pgrep", "-f", marker], capture_output=True)
    assert left.stdout == b""


def test_uts_host(docker) -> None:
    assert run(docker, "--uts", "host", "busybox", "hostname").strip() == socket.gethostname()
    assert run(docker, "busybox", "hostname").strip() != socket.gethostname()


def test_cgroupns(docker) -> None:
    own = run(docker, "--cgroupns", "host", "busybox", "sh", "-c", "readlink /proc/self/ns/cgroup")
    assert own.strip() == _ns("cgroup")
    out = run(docker, "--cgroupns", "private", "busybox", "sh", "-c",
              "readlink /proc/self/ns/cgroup; grep memory /proc/self/cgroup")  # fmt: skip
    ns, line = out.splitlines()
    assert ns != _ns("cgroup")
    if "memory" in line:
        assert line.endswith(":/")


def test_namespace_mode_errors(docker) -> None:
    r = docker("run", "--rm", "--ipc", "bogus", "busybox", "true")
    assert b"invalid IPC mode: bogus" in r.stderr


def _log_files(docker, name: str) -> list[Path]:  # type: ignore[no-untyped-def]
    path = Path(ok(docker("inspect", "-f", "{{.LogPath}}", name)).strip())
    return sorted(path.parent.glob(path.name + "*"))


def test_json_file_rotation(docker) -> None:
    ok(docker(
        "run", "--name", "t-rot", "--log-opt", "max-size=1k", "--log-opt", "max-file=3",
        "busybox", "sh", "-c", "for i in $(seq 1 300); do echo line-$i; done",
    ))  # fmt: skip
    files = _log_files(docker, "t-rot")
    cid = ok(docker("inspect", "-f", "{{.Id}}", "t-rot")).strip()
    assert [f.name for f in files] == [f"{cid}-json.log", f"{cid}-json.log.1", f"{cid}-json.log.2"]
    for f in files:
        # rotation happens before an entry that would go to a file already at max-size
        assert f.stat().st_size < 1000 + 100
    lines = ok(docker("logs", "t-rot")).split()
    n = sum(len(f.read_bytes().splitlines()) for f in files)
    assert lines == [f"line-{i}" for i in range(301 - n, 301)]
    assert lines[-1] == "line-300" and len(lines) > 20
    tail = ok(docker("logs", "--tail", "25", "t-rot")).split()
    assert tail == [f"line-{i}" for i in range(276, 301)]


def test_json_file_rotation_while_following(docker) -> None:
    ok(docker(
        "run", "-d", "--name", "t-rotf", "--log-opt", "max-size=500", "--log-opt", "max-file=2",
        "busybox", "sh", "-c", "sleep 1; for i in $(seq 1 100); do echo l-$i; sleep 0.01; done",
    ))  # fmt: skip
    out = ok(docker("logs", "-f", "t-rotf")).split()
    assert out == [f"l-{i}" for i in range(1, 101)]


def test_max_file_one_truncates(docker) -> None:
    ok(docker(
        "run", "--name", "t-rot1", "--log-opt", "max-size=1k",
        "busybox", "sh", "-c", "for i in $(seq 1 100); do echo line-$i; done",
    ))  # fmt: skip
    files = _log_files(docker, "t-rot1")
    assert len(files) == 1
    assert ok(docker("logs", "t-rot1")).split()[-1] == "line-100"


def test_log_opt_errors(docker) -> None:
    r = docker("run", "--rm", "--log-opt", "max-size=abc", "busybox", "true")
    assert b"failed to initialize logging driver: invalid size: 'abc'" in r.stderr
    r = docker("run", "--rm", "--log-opt", "bogus=1", "busybox", "true")
    assert b"unknown log opt 'bogus' for json-file log driver" in r.stderr
    r = docker("run", "--rm", "--log-driver", "syslog", "busybox", "true")
    assert b"logger: no log driver named 'syslog' is registered" in r.stderr


def test_log_driver_none(docker) -> None:
    ok(docker("run", "--name", "t-lognone", "--log-driver", "none", "busybox", "echo", "hi"))
    r = docker("logs", "t-lognone")
    assert r.returncode == 1
    assert b"configured logging driver does not support reading" in r.stderr
    assert ok(docker("inspect", "-f", "{{.LogPath}}", "t-lognone")).strip() == ""


def test_log_driver_local(docker) -> None:
    ok(docker("run", "--name", "t-loglocal", "--log-driver", "local",
              "busybox", "sh", "-c", "echo out; echo err >&2"))  # fmt: skip
    r = docker("logs", "t-loglocal")
    assert r.stdout == b"out\n" and r.stderr == b"err\n"
    # like dockerd, the local driver's file is not part of the API
    assert ok(docker("inspect", "-f", "{{.LogPath}}", "t-loglocal")).strip() == ""
    r = docker("run", "--rm", "--log-driver", "local", "--log-opt", "labels=a", "busybox", "true")
    assert b"unknown log opt 'labels' for log driver local" in r.stderr
