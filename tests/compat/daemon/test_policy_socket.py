"""The read-only socket given to a container, as the README documents it
(`-v /var/run/berth-ro.sock:/var/run/docker.sock`): the real docker CLI inside can
`docker ps` and `docker logs`, and its `docker run` fails with the policy's message."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import _LIVE_DAEMONS, IS_ROOT, Daemon, cleanup_root, docker_for

pytestmark = [pytest.mark.compat, pytest.mark.skipif(not IS_ROOT, reason="needs root")]

DOCKER_CLI = "/usr/local/bin/docker"  # statically linked: it runs in busybox as it is


@pytest.fixture(scope="module")
def ro_daemon(busybox_tar: Path) -> Iterator[tuple[Daemon, str]]:
    if not os.path.exists(DOCKER_CLI):
        pytest.skip("no static docker CLI")
    root = Path(tempfile.mkdtemp(prefix="bt-", dir="/tmp"))
    ro = str(root / "berth-ro.sock")
    d = Daemon(root, ["-H", "unix://" + ro, "--policy", f"unix://{ro}=read-only"])
    _LIVE_DAEMONS.append(d)
    try:
        d.start()
        d.load_image(busybox_tar)
        yield d, ro
        d.remove_all_containers()
        d.stop()
    finally:
        _LIVE_DAEMONS.remove(d)
        d.kill()
        cleanup_root(root)


def _inside(d: Daemon, ro: str, *cmd: str) -> subprocess.CompletedProcess[bytes]:
    """The docker CLI run in a busybox container that has the read-only socket."""
    return docker_for(d)(
        "run", "--rm",
        "-v", f"{ro}:/var/run/docker.sock",
        "-v", f"{DOCKER_CLI}:/usr/local/bin/docker:ro",
        "busybox", "/usr/local/bin/docker", *cmd,
    )  # fmt: skip


def test_a_container_with_the_read_only_socket(ro_daemon: tuple[Daemon, str]) -> None:
    d, ro = ro_daemon
    docker = docker_for(d)
    p = docker("run", "-d", "--name", "chatty", "busybox", "sh", "-c", "echo hello-ro; sleep 60")
    assert p.returncode == 0, p.stderr.decode()
    try:
        deadline = time.monotonic() + 10
        while b"hello-ro" not in docker("logs", "chatty").stdout:
            assert time.monotonic() < deadline, "the container did not log"
            time.sleep(0.05)
        p = _inside(d, ro, "ps", "--format", "{{.Names}}")
        assert p.returncode == 0, p.stderr.decode()
        assert "chatty" in p.stdout.decode().split()
        p = _inside(d, ro, "logs", "chatty")
        assert p.returncode == 0, p.stderr.decode()
        assert p.stdout.decode().strip() == "hello-ro"
        p = _inside(d, ro, "run", "--rm", "busybox", "true")
        assert p.returncode == 125, (p.returncode, p.stderr.decode())
        assert (
            "berth: the read-only policy of this socket does not allow POST /containers/create"
            in p.stderr.decode()
        )
        p = _inside(d, ro, "stop", "chatty")
        assert p.returncode != 0
        assert "does not allow POST /containers/chatty/stop" in p.stderr.decode()
        p = docker("ps", "-a", "--format", "{{.Names}} {{.State}}")
        # the refused run left nothing behind, and chatty still runs
        assert [ln for ln in p.stdout.decode().splitlines() if ln] == ["chatty running"]
    finally:
        docker("rm", "-f", "chatty")
