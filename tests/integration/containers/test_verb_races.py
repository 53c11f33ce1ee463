"""Verbs racing on one container: `start` against `rm -f` sent 0-50 ms later, many times.
Every answer is one a client expects (2xx, 404, 409), and nothing is left behind: no
container, mount, netns, veth, address lease or shim. Longer runs: bench/."""

from __future__ import annotations

import os
import random
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import IS_ROOT, Daemon, leftover_mounts

pytestmark = [pytest.mark.integration, pytest.mark.skipif(not IS_ROOT, reason="needs root")]

ROUNDS = 40
_OK = {200, 201, 204, 304, 404, 409}


def _veths() -> set[str]:
    return {n for n in os.listdir("/sys/class/net") if n.startswith("veth")}


def _shims(exec_root: Path) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if os.readlink(f"/proc/{d}/cwd").startswith(str(exec_root) + "/"):
                    out.append(int(d))
            except OSError:
                pass
    return out


def _race(daemon: Daemon, cid: str, delay: float) -> dict[str, tuple[int, object]]:
    """`start`, and `rm -f` DELAY seconds later, at once; their answers."""
    got: dict[str, tuple[int, object]] = {}

    def start() -> None:
        got["start"] = daemon.api.call("POST", f"/containers/{cid}/start")

    def remove() -> None:
        time.sleep(delay)
        got["rm"] = daemon.api.call("DELETE", f"/containers/{cid}?force=1")

    threads = [threading.Thread(target=start), threading.Thread(target=remove)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return got


def test_start_racing_rm_f_leaks_nothing(daemon: Daemon) -> None:
    rng = random.Random(7)
    veths_before = _veths()
    answers: list[tuple[str, int, object]] = []
    for i in range(ROUNDS):
        st, body = daemon.api.call(
            "POST",
            f"/containers/create?name=bt-race{i}",
            {"Image": "busybox", "Cmd": ["sleep", "100"]},
        )
        assert st == 201, body
        cid = body["Id"]
        got = _race(daemon, cid, rng.uniform(0, 0.05))
        for verb, (status, body) in got.items():
            answers.append((verb, status, body))
        # a start that lost the race leaves the container to a second removal
        daemon.api.call("DELETE", f"/containers/{cid}?force=1")
    bad = [a for a in answers if a[1] not in _OK]
    assert not bad, bad[:5]
    status, left = daemon.api.call(
        "GET", "/containers/json?all=1&filters=%7B%22name%22%3A%5B%22bt-race%22%5D%7D"
    )
    assert status == 200 and left == []
    # what the removals left goes a moment later (a netns takes its veth with it)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (
        _veths() - veths_before or _shims(daemon.exec_root) or leftover_mounts(daemon.root)
    ):
        time.sleep(0.1)
    assert _veths() - veths_before == set()
    assert _shims(daemon.exec_root) == []
    assert [m for m in leftover_mounts(daemon.root) if "bt-race" in m or "/overlay/" in m] == []
    containers = daemon.data_root / "containers"
    assert [p.name for p in containers.iterdir()] == [] if containers.exists() else True
