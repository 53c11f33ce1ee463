"""Network events, `ps --filter network=`, internal networks and outbound masquerading.

The daemon has a bridge of its own (bt...). "The outside host" is a network namespace
these tests create, joined to the host by a veth pair on a private /30: traffic never
leaves namespaces the tests made."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from berth.engine.network import nat
from tests.conftest import IS_ROOT, Daemon, _make_daemon

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not IS_ROOT, reason="needs root"),
    pytest.mark.skipif(not shutil.which("docker"), reason="needs the docker CLI"),
    pytest.mark.skipif(not shutil.which("ip"), reason="needs iproute2"),
]

_TAG = os.getpid() % 100000
BRIDGE = f"btx{_TAG}"
# the link to "the outside host": host end .1, outside end .2
_NET = f"10.254.{_TAG % 250}"
HOST_IP, OUTSIDE_IP = f"{_NET}.1", f"{_NET}.2"

Run = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.fixture(scope="module")
def xdaemon(busybox_tar: Path) -> Iterator[Daemon]:
    try:
        yield from _make_daemon(busybox_tar, ["--bridge", BRIDGE])
    finally:
        subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)
        nat.remove_bridge(BRIDGE)


@pytest.fixture
def dk(xdaemon: Daemon) -> Iterator[Run]:
    made: list[str] = []

    def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        if args[:2] == ("network", "create"):
            made.append(args[-1])
        return subprocess.run(
            ["docker", *args], env=xdaemon.env, capture_output=True, text=True, timeout=timeout
        )

    yield run
    xdaemon.remove_all_containers()
    for name in made:
        run("network", "rm", name)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@pytest.fixture
def outside() -> Iterator[str]:
    """A netns playing the outside host, reachable from the host over a veth; no route
    back to any bridge subnet, so only masqueraded traffic can be answered."""
    ns, host_end = f"btout{_TAG}", f"btoh{_TAG}"
    fwd = Path("/proc/sys/net/ipv4/ip_forward")
    was = fwd.read_text().strip()
    try:
        _ip("netns", "add", ns)
        _ip("link", "add", host_end, "type", "veth", "peer", "name", "eth0", "netns", ns)
        _ip("addr", "add", f"{HOST_IP}/30", "dev", host_end)
        _ip("link", "set", host_end, "up")
        _ip("-n", ns, "addr", "add", f"{OUTSIDE_IP}/30", "dev", "eth0")
        _ip("-n", ns, "link", "set", "eth0", "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        if was != "1":
            fwd.write_text("1\n")
        yield ns
    finally:
        if fwd.read_text().strip() != was:
            fwd.write_text(was + "\n")
        subprocess.run(["ip", "link", "del", host_end], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


_LISTENER = """
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 0))
s.listen(8)
print(s.getsockname()[1], flush=True)
while True:
    c, peer = s.accept()
    print(peer[0], flush=True)
    c.sendall(peer[0].encode() + b"\\n")
    c.close()
"""


@pytest.fixture
def listener(outside: str) -> Iterator[tuple[int, subprocess.Popen[str]]]:
    """A TCP server inside the outside netns: prints (and answers with) each peer's address."""
    p = subprocess.Popen(
        ["ip", "netns", "exec", outside, sys.executable, "-c", _LISTENER, OUTSIDE_IP],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert p.stdout is not None
        port = int(p.stdout.readline())
        yield port, p
    finally:
        p.kill()
        p.wait(10)


def _peers(p: subprocess.Popen[str]) -> list[str]:
    p.kill()
    out, _ = p.communicate(timeout=10)
    return out.split()


def test_outbound_is_masqueraded_to_the_host_address(
    dk: Run, listener: tuple[int, subprocess.Popen[str]]
) -> None:
    port, proc = listener
    r = dk("run", "--rm", "busybox", "sh", "-c",
           f"ip -4 addr show eth0; echo hi | nc -w 5 {OUTSIDE_IP} {port}")  # fmt: skip
    assert r.returncode == 0, r.stderr
    # the container's own address is on the bridge subnet, not the outside link
    ctr = r.stdout.split("inet ")[1].split("/")[0]
    assert not ctr.startswith(_NET + ".")
    # the outside host saw (and answered) the host's address on that link
    assert r.stdout.strip().splitlines()[-1] == HOST_IP
    assert _peers(proc) == [HOST_IP]


def test_internal_network_has_no_way_out(
    dk: Run, listener: tuple[int, subprocess.Popen[str]]
) -> None:
    port, proc = listener
    # the control: a container on a normal network gets through to the listener
    r = dk("run", "--rm", "busybox", "sh", "-c", f"echo hi | nc -w 5 {OUTSIDE_IP} {port}")
    assert r.stdout.strip() == HOST_IP, (r.stdout, r.stderr)
    net = "bt" + uuid.uuid4().hex[:8]
    assert dk("network", "create", "--internal", net).returncode == 0
    assert dk("network", "inspect", "-f", "{{.Internal}}", net).stdout.strip() == "true"
    r = dk("run", "--rm", "--network", net, "busybox", "sh", "-c",
           f"ip route; echo hi | nc -w 3 {OUTSIDE_IP} {port}; echo rc=$?")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "default" not in r.stdout
    assert "rc=0" not in r.stdout and "rc=" in r.stdout
    # a route added by hand does not help either: the host drops what leaves the bridge
    gw = dk("network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", net).stdout.strip()
    r = dk("run", "--rm", "--network", net, "--cap-add", "NET_ADMIN", "busybox", "sh", "-c",
           f"ip route add {OUTSIDE_IP}/32 via {gw} 2>&1; "
           f"echo hi | nc -w 3 {OUTSIDE_IP} {port}; echo rc=$?")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "rc=0" not in r.stdout and "rc=" in r.stdout
    assert _peers(proc) == [HOST_IP]


def _events(dk: Run, since: str, until: str, *flt: str) -> list[dict]:  # type: ignore[type-arg]
    args = ["events", "--since", since, "--until", until, "--format", "{{json .}}"]
    for f in flt:
        args += ["--filter", f]
    r = dk(*args)
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def test_network_events_through_docker_events(dk: Run) -> None:
    net = "bt" + uuid.uuid4().hex[:8]
    since = f"{time.time() - 1:.3f}"
    r = dk("network", "create", net)
    assert r.returncode == 0, r.stderr
    nid = r.stdout.strip()
    r = dk("run", "-d", "--name", net + "c", "--network", net, "busybox", "sleep", "60")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    assert dk("network", "disconnect", net, cid).returncode == 0
    assert dk("network", "connect", net, cid).returncode == 0
    assert dk("rm", "-f", cid).returncode == 0
    assert dk("network", "rm", net).returncode == 0
    until = f"{time.time() + 1:.3f}"
    evs = _events(dk, since, until, "type=network", f"network={net}")
    got = [(e["Action"], e["Actor"]["ID"], e["Actor"]["Attributes"]) for e in evs]
    named = {"name": net, "type": "bridge"}
    joined = {**named, "container": cid}
    assert got == [
        ("create", nid, named),
        ("connect", nid, joined),
        ("disconnect", nid, joined),
        ("connect", nid, joined),
        ("disconnect", nid, joined),
        ("destroy", nid, named),
    ]
    assert all(e["Type"] == "network" and e["scope"] == "local" for e in evs)
    assert all("status" not in e and "id" not in e for e in evs)
    # in dockerd's order around the container's own: connect before start, die before
    # the last disconnect
    # (filters of different kinds must all match, as with dockerd: so none here)
    evs = _events(dk, since, until)
    mine = [e for e in evs if cid in (e["Actor"]["ID"], e["Actor"]["Attributes"].get("container"))]
    order = [(e["Type"], e["Action"]) for e in mine if e["Action"] != "kill"]
    want = ("network", "connect")
    assert order.index(want) < order.index(("container", "start"))
    last_disc = len(order) - 1 - order[::-1].index(("network", "disconnect"))
    assert order.index(("container", "die")) < last_disc
    # the default bridge logs them too (the plain `docker run` case)
    since = f"{time.time() - 0.5:.3f}"
    r = dk("run", "--rm", "busybox", "true")
    assert r.returncode == 0, r.stderr
    evs = _events(dk, since, f"{time.time() + 1:.3f}", "type=network", "network=bridge")
    assert [e["Action"] for e in evs] == ["connect", "disconnect"]
    assert evs[0]["Actor"]["Attributes"]["name"] == "bridge"


def test_ps_filter_network(dk: Run) -> None:
    net = "bt" + uuid.uuid4().hex[:8]
    assert dk("network", "create", net).returncode == 0
    nid = dk("network", "inspect", "-f", "{{.Id}}", net).stdout.strip()
    on = dk("run", "-d", "--network", net, "busybox", "sleep", "60").stdout.strip()
    off = dk("run", "-d", "busybox", "sleep", "60").stdout.strip()
    none = dk("run", "-d", "--network", "none", "busybox", "sleep", "60").stdout.strip()
    created = dk("create", "--network", net, "busybox", "true").stdout.strip()
    assert on and off and none and created

    def ps(*flt: str) -> set[str]:
        args = ["ps", "-a", "-q", "--no-trunc"]
        for f in flt:
            args += ["--filter", f]
        r = dk(*args)
        assert r.returncode == 0, r.stderr
        return set(r.stdout.split())

    assert ps(f"network={net}") == {on, created}
    assert ps(f"network={nid[:10]}") == {on, created}
    assert ps("network=bridge") == {off}
    assert ps("network=none") == {none}
    assert ps(f"network={net}", "network=bridge") == {on, created, off}
    assert ps(f"network={net}", "status=running") == {on}
    assert ps("network=nosuchnet") == set()
    # a prefix of the name is not the name (only ids match by prefix)
    assert ps(f"network={net[:-1]}") == set()
    # disconnected: no longer listed
    assert dk("network", "disconnect", net, on).returncode == 0
    assert ps(f"network={net}") == {created}
