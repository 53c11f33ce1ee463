"""--live-restore: containers keep running while berthd is stopped or dead, their published
ports keep answering (kernel DNAT: nothing passes through berthd), and the next berthd
adopts them with their logs, exec, stop and name resolution.

berthd runs inside a network namespace of the test's own ("the host"); a second namespace
plays a client on another host (the test_forward_drop layout)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import IS_ROOT, Daemon, Docker, docker_for, own_daemon
from tests.integration.network.conftest import HOST_IP, HOST_NS, OUT_NS, NetnsDaemon

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not IS_ROOT, reason="needs root"),
    pytest.mark.skipif(not shutil.which("iptables"), reason="needs iptables"),
]

PORT = 18090


@pytest.fixture
def lr(hosts: None, busybox_tar: Path) -> Iterator[tuple[Daemon, Docker]]:
    def make(root: Path) -> Daemon:
        d = NetnsDaemon(root, HOST_NS)
        d.extra_args = ["--live-restore"]
        return d

    with own_daemon(busybox_tar, make=make, check_mounts=False) as d:
        try:
            yield d, docker_for(d)
        finally:
            if d.proc is None or d.proc.poll() is not None:
                d.proc = None
                d.start()
            d.remove_all_containers()
            docker_for(d)("network", "rm", "bt-lr-net")
            d.extra_args = []  # the fixture's stop then stops what is left


def _from_outside(path: str = "/") -> str:
    """What a client on the other host gets from the published port ("" for nothing)."""
    busybox = shutil.which("busybox") or "/bin/busybox"
    r = subprocess.run(
        ["ip", "netns", "exec", OUT_NS, busybox, "timeout", "-s", "KILL", "5", busybox, "wget",
         "-qO-", f"http://{HOST_IP}:{PORT}{path}"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    return r.stdout


def _wait_for(fn: object, want: str, timeout: float = 15) -> str:
    deadline = time.monotonic() + timeout
    while (got := fn()) != want and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.2)
    return got  # type: ignore[no-any-return]


def _ok(r: subprocess.CompletedProcess[bytes]) -> str:
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout.decode()


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_containers_and_ports_outlive_berthd(lr: tuple[Daemon, Docker], how: int) -> None:
    d, docker = lr
    assert _ok(docker("info", "-f", "{{.LiveRestoreEnabled}}")) == "true\n"
    _ok(docker("network", "create", "bt-lr-net"))
    script = (
        "echo started; mkdir -p /www && echo hello > /www/index.html && "
        "exec httpd -f -p 8080 -h /www"
    )
    _ok(docker("run", "-d", "--name", "bt-lr-srv", "--network", "bt-lr-net", "-p",
               f"{PORT}:8080", "busybox", "sh", "-c", script))  # fmt: skip
    _ok(docker("run", "-d", "--name", "bt-lr-cli", "--network", "bt-lr-net", "busybox",
               "sleep", "600"))  # fmt: skip
    assert _wait_for(_from_outside, "hello\n") == "hello\n"
    pids = [
        int(_ok(docker("inspect", "-f", "{{.State.Pid}}", n)).strip())
        for n in ("bt-lr-srv", "bt-lr-cli")
    ]
    assert d.proc is not None
    d.proc.send_signal(how)
    d.proc.wait(timeout=60)
    d.proc = None
    # berthd is gone; its containers are not, and the port answers without it
    assert all(_alive(p) for p in pids)
    assert _from_outside() == "hello\n"
    d.start()
    assert _ok(docker("inspect", "-f", "{{.State.Status}}", "bt-lr-srv")) == "running\n"
    assert "started" in _ok(docker("logs", "bt-lr-srv"))
    # exec and the embedded DNS, in the adopted containers
    got = _ok(docker("exec", "bt-lr-cli", "sh", "-c",
                     "timeout -s KILL 5 wget -qO- http://bt-lr-srv:8080/; true"))  # fmt: skip
    assert got == "hello\n"
    assert _wait_for(_from_outside, "hello\n") == "hello\n"
    _ok(docker("stop", "-t", "1", "bt-lr-srv"))
    assert not _alive(pids[0]) or _wait_gone(pids[0])
    # its DNAT went with it: the port no longer answers
    assert _from_outside() == ""
    rules = subprocess.run(["ip", "netns", "exec", HOST_NS, "iptables-save", "-t", "nat"],
                           capture_output=True, text=True).stdout  # fmt: skip
    assert f"--dport {PORT}" not in rules


def _wait_gone(pid: int) -> bool:
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _alive(pid)


def test_without_live_restore_a_stop_stops_them(lr: tuple[Daemon, Docker]) -> None:
    d, docker = lr
    d.stop()
    d.proc = None
    d.extra_args = []
    d.start()
    assert _ok(docker("info", "-f", "{{.LiveRestoreEnabled}}")) == "false\n"
    pid = int(
        _ok(docker("inspect", "-f", "{{.State.Pid}}",
                   _ok(docker("run", "-d", "busybox", "sleep", "600")).strip())).strip()
    )  # fmt: skip
    assert d.stop() == 0
    d.proc = None
    assert _wait_gone(pid)
