"""berthd SIGKILLed at random moments under a mixed workload (containers run and removed
in parallel, volumes and networks made and removed, images tagged and untagged, pulled
from a local registry and removed), then
started again, round after round: every object it lists can be inspected and removed,
and once all is removed nothing of any container is left. (20 rounds: bench/soak.)"""

from __future__ import annotations

import http.client
import os
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import IS_ROOT, Daemon, ids_on_disk, leftover_mounts, own_daemon, shims_of
from tests.integration.registry.fixtures import Registry, layer_tar, put_oci_image, registry

__all__ = ["registry"]

pytestmark = [pytest.mark.integration, pytest.mark.skipif(not IS_ROOT, reason="needs root")]

ROUNDS = int(os.environ.get("BERTH_KILL_ROUNDS", "5"))


@pytest.fixture
def own(busybox_tar: Path) -> Iterator[Daemon]:
    with own_daemon(busybox_tar) as d:
        yield d


def _work(d: Daemon, stop: threading.Event, seed: int, pullable: list[str]) -> None:
    """Random operations until STOP (or until berthd is gone: errors are expected).
    PULLABLE: image references in the local registry."""
    rng = random.Random(seed)
    n = 0
    while not stop.is_set():
        n += 1
        name = f"bt-k{seed}-{n}"
        try:
            op = rng.choice(["run", "run", "rm", "volume", "network", "tag", "pull"])
            if op == "run":
                st, body = d.api.call(
                    "POST", f"/containers/create?name={name}",
                    {"Image": "busybox", "Cmd": ["sleep", "300"], "HostConfig": {"AutoRemove": rng.random() < 0.3}},
                )  # fmt: skip
                if st == 201:
                    d.api.call("POST", f"/containers/{body['Id']}/start")
            elif op == "rm":
                st, items = d.api.call("GET", "/containers/json?all=1")
                if st == 200 and items:
                    d.api.call("DELETE", f"/containers/{rng.choice(items)['Id']}?force=1")
            elif op == "volume":
                d.api.call("POST", "/volumes/create", {"Name": name})
                d.api.call("DELETE", f"/volumes/{name}")
            elif op == "network":
                d.api.call("POST", "/networks/create", {"Name": name})
                d.api.call("DELETE", f"/networks/{name}")
            elif op == "tag":
                d.api.call("POST", f"/images/busybox/tag?repo=bt-tag&tag={name}")
                d.api.call("DELETE", f"/images/bt-tag:{name}")
            else:
                ref = rng.choice(pullable)
                repo, _, tag = ref.rpartition(":")
                d.api.call("POST", f"/images/create?fromImage={repo}&tag={tag}")
                if rng.random() < 0.5:
                    d.api.call("DELETE", f"/images/{ref}")
        except (OSError, ValueError, http.client.HTTPException):
            time.sleep(0.02)  # berthd is down: the round's end is near


def test_sigkill_rounds_under_load_leave_a_consistent_host(own: Daemon, registry: Registry) -> None:
    rng = random.Random(11)
    pullable = []
    for i in range(3):
        layers = [(layer_tar({f"bt-kill-{i}-{j}": os.urandom(64 * 1024)}), True) for j in range(3)]
        put_oci_image(registry, f"bt-kill/img{i}", "v1", layers)
        pullable.append(f"{registry.host}/bt-kill/img{i}:v1")
    seen: set[str] = set()
    for rnd in range(ROUNDS):
        stop = threading.Event()
        workers = [
            threading.Thread(target=_work, args=(own, stop, rnd * 10 + i, pullable))
            for i in range(3)
        ]
        for w in workers:
            w.start()
        time.sleep(rng.uniform(0.5, 2.0))
        own.kill()  # SIGKILL, mid-whatever
        stop.set()
        for w in workers:
            w.join(60)
        seen |= ids_on_disk(own)
        own.start(timeout=60)
        status, listed = own.api.call("GET", "/containers/json?all=1")
        assert status == 200
        for c in listed:
            st, body = own.api.call("GET", f"/containers/{c['Id']}/json")
            assert st == 200, body
        assert ids_on_disk(own) <= {c["Id"] for c in listed}, f"round {rnd}"
        running = [c for c in listed if c["State"] == "running"]
        assert len(shims_of(own)) == len(running), f"round {rnd}: {listed}"
        for kind in ("networks", "volumes"):
            assert own.api.call("GET", f"/{kind}")[0] == 200
        status, images = own.api.call("GET", "/images/json")
        assert status == 200
        for img in images:
            st, body = own.api.call("GET", f"/images/{img['Id']}/json")
            assert st == 200, f"round {rnd}: listed image {img['Id']} not inspectable: {body}"
        ips = [
            own.api.call("GET", f"/containers/{c['Id']}/json")[1]["NetworkSettings"]["IPAddress"]
            for c in running
        ]
        assert len(set(ips)) == len(ips), f"round {rnd}: one address twice: {ips}"
    assert seen, "the workload made no container: the rounds proved nothing"
    # everything can be removed, and then nothing is left
    status, listed = own.api.call("GET", "/containers/json?all=1")
    for c in listed:
        seen.add(c["Id"])
        assert own.api.call("DELETE", f"/containers/{c['Id']}?force=1")[0] in (204, 404)
    for n in own.api.call("GET", "/networks")[1]:
        if n["Name"].startswith("bt-k"):
            assert own.api.call("DELETE", f"/networks/{n['Id']}")[0] == 204
    for img in own.api.call("GET", "/images/json")[1]:
        if any("bt-kill/" in t for t in img.get("RepoTags") or []):
            st, body = own.api.call("DELETE", f"/images/{img['Id']}?force=1")
            assert st == 200, body
    # a pull is still whole after the rounds
    repo, _, tag = pullable[0].rpartition(":")
    st, _ = own.api.call("POST", f"/images/create?fromImage={repo}&tag={tag}")
    assert st == 200
    assert own.api.call("GET", f"/images/{pullable[0]}/json")[0] == 200
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and (shims_of(own) or _net_left(seen)):
        time.sleep(0.1)
    assert shims_of(own) == []
    assert _net_left(seen) == []
    assert ids_on_disk(own) == set()
    assert [m for m in leftover_mounts(own.root) if "/overlay/" in m] == []


def _net_left(ids: set[str]) -> list[str]:
    out = [f"netns {c[:12]}" for c in ids if os.path.exists(f"/run/netns/berth-{c[:12]}")]
    links = os.listdir("/sys/class/net")
    return out + [n for n in links for c in ids if n.startswith(f"veth{c[:7]}")]
