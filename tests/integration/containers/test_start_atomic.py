"""A start that fails after the container's process exists (here a fault point: nothing
on this machine makes the health monitor's setup fail for real) leaves no wedged
container: it is killed and recorded, and stop/rm and berthd's own shutdown finish."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import IS_ROOT, Daemon, docker_for, own_daemon

pytestmark = [pytest.mark.integration, pytest.mark.skipif(not IS_ROOT, reason="needs root")]


class FaultyDaemon(Daemon):
    def argv(self) -> list[str]:
        return ["env", "BERTH_TEST_FAULT=start:after-process", *super().argv()]


@pytest.fixture
def faulty(busybox_tar: Path) -> Iterator[Daemon]:
    with own_daemon(busybox_tar, make=FaultyDaemon) as d:
        yield d


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


class SaveFailsDaemon(Daemon):
    armed = True

    def argv(self) -> list[str]:
        pre = ["env", "BERTH_TEST_FAULT=exit:before-save"] if self.armed else []
        return [*pre, *super().argv()]


def test_an_exit_the_store_missed_is_read_back_from_the_shims_record(
    busybox_tar: Path,
) -> None:
    """The store could not record an exit (a full disk; here a fault point): the shim's
    exit.json stays until it has, and the next berthd reads the real exit code from it
    (before: the bundle went first, and the exit became 255)."""
    with own_daemon(busybox_tar, make=SaveFailsDaemon) as d:
        assert isinstance(d, SaveFailsDaemon)
        r = docker_for(d)("run", "-d", "--name", "bt-exit3", "busybox", "sh", "-c", "exit 3")
        assert r.returncode == 0, r.stderr
        deadline = time.monotonic() + 15
        while "cleaning up after container" not in d.log.read_text():
            assert time.monotonic() < deadline, d.log.read_text()[-2000:]
            time.sleep(0.05)
        d.kill()  # nothing else gets a chance to write the state
        d.armed = False
        d.start()
        st = d.api.call("GET", "/containers/bt-exit3/json")[1]["State"]
        assert (st["Status"], st["ExitCode"]) == ("exited", 3), st
