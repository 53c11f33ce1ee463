"""berthd's signals: SIGHUP reloads what dockerd reloads live (and says what needs a
restart), SIGUSR1 dumps the tasks' stacks, and SIGTERM's shutdown is bounded."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import IS_ROOT, Daemon, docker_for, own_daemon

pytestmark = [pytest.mark.integration, pytest.mark.skipif(not IS_ROOT, reason="needs root")]


@pytest.fixture
def own() -> Iterator[Daemon]:
    with own_daemon(None, start=False) as d:
        yield d


def _wait_log(d: Daemon, text: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while True:
        log = d.log.read_text(errors="replace")
        if text in log or time.monotonic() > deadline:
            assert text in log, log[-3000:]
            return log
        time.sleep(0.05)


def test_sighup_applies_live_options_and_names_the_others(own: Daemon) -> None:
    (own.root / "daemon.json").write_text(json.dumps({"labels": ["a=1"]}))
    own.start()
    assert own.proc is not None
    assert own.api.call("GET", "/info")[1]["Labels"] == ["a=1"]
    (own.root / "daemon.json").write_text(
        json.dumps(
            {
                "labels": ["a=2", "b=3"],
                "debug": True,
                "max-concurrent-downloads": 7,
                "shutdown-timeout": 4,
                "bridge": "bt-other0",
            }
        )
    )
    own.proc.send_signal(signal.SIGHUP)
    log = _wait_log(own, "reload: bridge changed: restart berthd to apply it")
    assert "reload: labels: ['a=1'] -> ['a=2', 'b=3']" in log
    info = own.api.call("GET", "/info")[1]
    assert info["Labels"] == ["a=2", "b=3"] and info["Debug"] is True
    assert own.proc.poll() is None  # SIGHUP is a reload, not an outage
    # the bridge is the one it started with
    assert docker_for(own)("network", "inspect", "-f", "{{.Options}}", "bridge").returncode == 0


def test_a_bad_configuration_on_sighup_changes_nothing(own: Daemon) -> None:
    (own.root / "daemon.json").write_text(json.dumps({"labels": ["a=1"]}))
    own.start()
    assert own.proc is not None
    (own.root / "daemon.json").write_text('{"labels": ["a=9"], "no-such-option": 1}')
    own.proc.send_signal(signal.SIGHUP)
    _wait_log(own, "reload: the configuration was not applied")
    assert own.api.call("GET", "/info")[1]["Labels"] == ["a=1"]
    assert own.proc.poll() is None


def test_sigusr1_dumps_the_tasks(own: Daemon) -> None:
    own.start()
    assert own.proc is not None
    own.proc.send_signal(signal.SIGUSR1)
    log = _wait_log(own, "task dump (SIGUSR1)")
    assert "tasks ===" in log
    assert own.api.raw("GET", "/_ping")[0] == 200


def test_shutdown_is_bounded_when_a_container_will_not_stop(own: Daemon, busybox_tar: Path) -> None:
    own.extra_args = ["--shutdown-timeout", "1"]
    own.start()
    own.load_image(busybox_tar)
    docker = docker_for(own)
    r = docker("run", "-d", "--stop-timeout", "1", "busybox", "sleep", "1000")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.decode().strip()
    pid = own.api.call("GET", f"/containers/{cid}/json")[1]["State"]["Pid"]
    shim = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    # a shim that answers nothing: the stop berthd asks of it never completes
    os.kill(shim, signal.SIGSTOP)
    try:
        assert own.proc is not None
        proc = own.proc
        proc.send_signal(signal.SIGTERM)
        # 1 s + the container's 1 s and 5 s of grace, then at most 10 s for the kills
        proc.wait(timeout=60)
        assert "shutdown did not finish within 6 s" in own.log.read_text()
    finally:
        os.kill(shim, signal.SIGCONT)
    # the shim carries out the kill it was sent
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                break
        except OSError:
            break
        time.sleep(0.05)
    own.proc = None
    own.extra_args = []
    own.start()  # the next berthd takes over what is left, and the fixture removes it
