"""Verbs racing on one container: `start` against `rm -f` sent 0-50 ms later (and other
pairs), many times.
Every answer is one a client expects (2xx, 404, 409), and nothing is left behind: no
container, mount, netns, veth, address lease or shim. Longer runs: bench/."""

from __future__ import annotations

import os
import random
import threading
import time

import pytest

from tests.conftest import IS_ROOT, Daemon, leftover_mounts, shims_of

pytestmark = [pytest.mark.integration, pytest.mark.skipif(not IS_ROOT, reason="needs root")]

ROUNDS = 40
_OK = {200, 201, 204, 304, 404, 409}


def _veths(cids: list[str]) -> set[str]:
    """The host ends of these containers' veths (berth names them veth<id7>...)."""
    prefixes = tuple(f"veth{cid[:7]}" for cid in cids)
    return {n for n in os.listdir("/sys/class/net") if prefixes and n.startswith(prefixes)}


_VERBS = {
    "start": ("POST", "/containers/{}/start"),
    "rm -f": ("DELETE", "/containers/{}?force=1"),
    "stop": ("POST", "/containers/{}/stop?t=1"),
    "kill": ("POST", "/containers/{}/kill"),
    "restart": ("POST", "/containers/{}/restart?t=1"),
    "rename": ("POST", "/containers/{}/rename?name=bt-race-renamed-{}"),
    "pause": ("POST", "/containers/{}/pause"),
    "update": ("POST", "/containers/{}/update"),
}
_BODIES = {"update": {"Memory": 64 * 1024 * 1024, "MemorySwap": -1}}


def _race(
    daemon: Daemon, cid: str, first: str, second: str, delay: float
) -> dict[str, tuple[int, object]]:
    """FIRST, and SECOND DELAY seconds later, at once; their answers."""
    got: dict[str, tuple[int, object]] = {}

    def call(verb: str, wait: float) -> None:
        time.sleep(wait)
        method, path = _VERBS[verb]
        got[verb] = daemon.api.call(method, path.format(cid, cid[:12]), _BODIES.get(verb))

    threads = [
        threading.Thread(target=call, args=(first, 0.0)),
        threading.Thread(target=call, args=(second, delay)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return got


@pytest.mark.parametrize(
    ("first", "second", "running"),
    [
        ("start", "rm -f", False),
        ("stop", "rm -f", True),
        ("kill", "restart", True),
        ("restart", "rm -f", True),
        ("rename", "rm -f", True),
        ("pause", "kill", True),
        ("update", "stop", True),
    ],
)
def test_racing_verbs_leak_nothing(daemon: Daemon, first: str, second: str, running: bool) -> None:
    rng = random.Random(7)
    cids: list[str] = []
    answers: list[tuple[str, int, object]] = []
    for i in range(ROUNDS):
        st, body = daemon.api.call(
            "POST",
            f"/containers/create?name=bt-race{i}",
            {"Image": "busybox", "Cmd": ["sleep", "100"]},
        )
        assert st == 201, body
        cid = body["Id"]
        cids.append(cid)
        if running:
            assert daemon.api.call("POST", f"/containers/{cid}/start")[0] == 204
        got = _race(daemon, cid, first, second, rng.uniform(0, 0.05))
        for verb, (status, body) in got.items():
            answers.append((verb, status, body))
        # whatever the race left, a removal takes away
        status, body = daemon.api.call("DELETE", f"/containers/{cid}?force=1")
        assert status in (204, 404), body
    bad = [a for a in answers if a[1] not in _OK]
    assert not bad, bad[:5]
    status, left = daemon.api.call(
        "GET", "/containers/json?all=1&filters=%7B%22name%22%3A%5B%22bt-race%22%5D%7D"
    )
    assert status == 200 and left == []
    # what the removals left goes a moment later (a netns takes its veth with it)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (
        _veths(cids) or shims_of(daemon) or leftover_mounts(daemon.root)
    ):
        time.sleep(0.1)
    assert _veths(cids) == set()
    assert shims_of(daemon) == []
    assert [m for m in leftover_mounts(daemon.root) if "bt-race" in m or "/overlay/" in m] == []
    containers = daemon.data_root / "containers"
    assert [p.name for p in containers.iterdir()] == [] if containers.exists() else True
