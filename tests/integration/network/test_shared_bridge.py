"""Two berthds on one default bridge: the one that stops leaves it to the other (as dockerd
leaves docker0), and a bridge that went away anyway is made again before a container is
attached: no veth is ever left without its master."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.engine.network import nat
from tests.conftest import _LIVE_DAEMONS, IS_ROOT, Daemon, cleanup_root, docker_for

pytestmark = [pytest.mark.integration, pytest.mark.skipif(not IS_ROOT, reason="needs root")]

BRIDGE = f"btsh{os.getpid() % 100000}"


@pytest.fixture
def two(busybox_tar: Path) -> Iterator[tuple[Daemon, Daemon]]:
    made: list[Daemon] = []
    try:
        for _ in range(2):
            root = Path(tempfile.mkdtemp(prefix="bt-sh-", dir="/tmp"))
            d = Daemon(root, ["--bridge", BRIDGE])
            made.append(d)
            _LIVE_DAEMONS.append(d)
            d.start()
            d.load_image(busybox_tar)
        yield made[0], made[1]
    finally:
        for d in made:
            _LIVE_DAEMONS.remove(d)
            if d.proc is not None:
                d.remove_all_containers()
            d.stop()
            cleanup_root(d.root)
        subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)
        nat.remove_bridge(BRIDGE)


def _master_of_eth0(docker: object, cid: str) -> str:
    pid = subprocess.run(
        ["docker", "inspect", "-f", "{{.State.Pid}}", cid],
        env=docker,  # type: ignore[arg-type]
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    out = subprocess.run(
        ["nsenter", "-t", pid, "-n", "ip", "-j", "-d", "link", "show", "eth0"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    peer = json.loads(out)[0]["link_index"]
    host = json.loads(
        subprocess.run(["ip", "-j", "link", "show"], capture_output=True, text=True).stdout
    )
    return next(ln.get("master", "") for ln in host if ln["ifindex"] == peer)


def test_the_daemon_that_stops_leaves_the_shared_bridge(two: tuple[Daemon, Daemon]) -> None:
    first, second = two
    assert os.path.exists(f"/sys/class/net/{BRIDGE}")
    assert first.stop() == 0
    first.proc = None
    # no container on it at that moment, and it is still there for the other daemon
    assert os.path.exists(f"/sys/class/net/{BRIDGE}")
    r = docker_for(second)("run", "-d", "busybox", "sleep", "60")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.decode().strip()
    assert _master_of_eth0(second.env, cid) == BRIDGE


def test_a_bridge_gone_meanwhile_is_made_again(two: tuple[Daemon, Daemon]) -> None:
    _, second = two
    subprocess.run(["ip", "link", "del", BRIDGE], check=True)
    r = docker_for(second)("run", "-d", "busybox", "sleep", "60")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.decode().strip()
    assert _master_of_eth0(second.env, cid) == BRIDGE
