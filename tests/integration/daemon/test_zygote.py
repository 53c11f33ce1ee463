"""The shim zygote is supervised: killed, it is reaped and replaced, and the next
`docker run` works (before, every start failed with "zygote is gone" until a restart)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import procs
from tests.conftest import IS_ROOT, Daemon, docker_for, own_daemon

pytestmark = [pytest.mark.integration, pytest.mark.skipif(not IS_ROOT, reason="needs root")]


@pytest.fixture
def own(busybox_tar: Path) -> Iterator[Daemon]:
    with own_daemon(busybox_tar) as d:
        yield d


def _children(pid: int) -> dict[int, str]:
    """pid -> state of each child of PID."""
    return {child: state for child, (state, _) in procs.children(pid).items()}


def _zygote(d: Daemon) -> int:
    assert d.proc is not None
    deadline = time.monotonic() + 15
    while True:
        live = [p for p, st in _children(d.proc.pid).items() if st != "Z"]
        if len(live) == 1 or time.monotonic() > deadline:
            assert len(live) == 1, _children(d.proc.pid)
            return live[0]
        time.sleep(0.05)


@pytest.mark.parametrize("when", ["idle", "noticed"])
def test_a_killed_zygote_is_replaced(own: Daemon, when: str) -> None:
    docker = docker_for(own)
    for round in range(2):
        first = _zygote(own)
        os.kill(first, signal.SIGKILL)
        if when == "noticed":
            # the pidfd told berthd: a new zygote, and the dead one reaped (no zombie)
            deadline = time.monotonic() + 15
            while (first in _children(own.proc.pid) or _zygote(own) == first) and (  # type: ignore[union-attr]
                time.monotonic() < deadline
            ):
                time.sleep(0.05)
            assert first not in _children(own.proc.pid)  # type: ignore[union-attr]
        r = docker("run", "--rm", "busybox", "echo", f"ok{round}")
        assert r.returncode == 0 and r.stdout == f"ok{round}\n".encode(), r.stderr
        assert _zygote(own) != first
    assert "died: starting another" in own.log.read_text()
    info = own.api.call("GET", "/info")[1]
    assert not any("zygote" in w for w in info["Warnings"] or [])
