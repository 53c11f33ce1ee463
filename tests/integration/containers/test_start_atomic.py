"""A start that fails after the container's process exists (here a fault point: nothing
on this machine makes the health monitor's setup fail for real) leaves no wedged
container: it is killed and recorded, and stop/rm and berthd's own shutdown finish."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import _LIVE_DAEMONS, IS_ROOT, Daemon, cleanup_root, docker_for

pytestmark = [pytest.mark.integration, pytest.mark.skipif(not IS_ROOT, reason="needs root")]


class FaultyDaemon(Daemon):
    def argv(self) -> list[str]:
        return ["env", "BERTH_TEST_FAULT=start:after-process", *super().argv()]


@pytest.fixture
def faulty(busybox_tar: Path) -> Iterator[Daemon]:
    root = Path(tempfile.mkdtemp(prefix="bt-atom-", dir="/tmp"))
    d = FaultyDaemon(root)
    _LIVE_DAEMONS.append(d)
    try:
        d.start()
        d.load_image(busybox_tar)
        yield d
    finally:
        _LIVE_DAEMONS.remove(d)
        if d.proc is not None:
            d.remove_all_containers()
        d.stop()
        cleanup_root(root)


def test_a_start_failing_after_the_process_began_wedges_nothing(faulty: Daemon) -> None:
    docker = docker_for(faulty)
    r = docker("run", "-d", "--name", "bt-atom", "busybox", "sleep", "1000", timeout=30)
    assert r.returncode != 0
    assert b"failed to start container" in r.stderr and b"Traceback" not in r.stderr
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        st = faulty.api.call("GET", "/containers/bt-atom/json")[1]["State"]
        if st["Status"] == "exited":
            break
        time.sleep(0.05)
    assert st["Status"] == "exited" and st["ExitCode"] == 137, st
    assert docker("rm", "-f", "bt-atom", timeout=30).returncode == 0
    assert faulty.stop(timeout=30) == 0  # no hang on SIGTERM
