"""Networking against a real berthd: bridges, veths, netns, published ports and names.

The daemon here has a bridge of its own (--bridge bt...), so that it shares nothing with
the other daemons of the session; test networks are named bt*. Traffic stays on loopback
and on the bridges these tests create."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.engine.network import bridge, nat
from tests.conftest import IS_ROOT, Daemon, _make_daemon
from tests.waiting import wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not IS_ROOT, reason="needs root"),
    pytest.mark.skipif(not shutil.which("docker"), reason="needs the docker CLI"),
]

BRIDGE = f"btb{os.getpid() % 100000}"


@pytest.fixture(scope="module")
def ndaemon(busybox_tar: Path) -> Iterator[Daemon]:
    try:
        yield from _make_daemon(busybox_tar, ["--bridge", BRIDGE])
    finally:
        subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)
        nat.remove_bridge(BRIDGE)


@pytest.fixture
def dk(ndaemon: Daemon) -> Iterator:  # type: ignore[type-arg]
    made: list[str] = []

    def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        if args[:2] == ("network", "create"):
            made.append(args[-1])
        return subprocess.run(
            ["docker", *args], env=ndaemon.env, capture_output=True, text=True, timeout=timeout
        )

    yield run
    ndaemon.remove_all_containers()
    for name in made:
        run("network", "rm", name)


def _net() -> str:
    return "bt" + uuid.uuid4().hex[:8]


def _exited(pid: int) -> bool:
    """PID has exited (a zombie its shim has not reaped yet counts)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] == "Z"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ok(p: subprocess.CompletedProcess[str]) -> str:
    assert p.returncode == 0, p.stderr
    return p.stdout


def _gone(path: Path, within: float = 5.0) -> bool:
    """The kernel destroys a veth with its namespace a moment after the namespace goes."""
    deadline = time.monotonic() + within
    while path.exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _inspect(dk, ref: str) -> dict:  # type: ignore[no-untyped-def,type-arg]
    return json.loads(_ok(dk("inspect", ref)))[0]


def test_default_bridge_address_route_and_hosts(dk) -> None:  # type: ignore[no-untyped-def]
    cid = _ok(dk("run", "-d", "busybox", "sleep", "30")).strip()
    ns = _inspect(dk, cid)["NetworkSettings"]
    ep = ns["Networks"]["bridge"]
    assert ns["IPAddress"] == ep["IPAddress"] and ep["IPAddress"]
    assert ep["IPPrefixLen"] == 16 and ep["Gateway"] and len(ep["EndpointID"]) == 64
    out = _ok(dk("exec", cid, "sh", "-c", "ip -4 addr show eth0; ip route; cat /etc/hosts"))
    assert f"inet {ep['IPAddress']}/16" in out
    assert f"default via {ep['Gateway']}" in out
    assert f"{ep['IPAddress']}\t{cid[:12]}" in out
    # the host reaches the container over the bridge
    assert _ok(dk("exec", cid, "cat", "/sys/class/net/eth0/mtu")).strip() == "1500"


def test_an_interface_that_cannot_be_made_fails_the_start_and_gives_all_back(dk) -> None:  # type: ignore[no-untyped-def]
    # The veth pair is made while the process is set up behind its start gate: a link of
    # berth's name (another kind, an admin's) makes it fail there, after the shim's start
    # began. The start fails as before, and nothing of the run is left.
    cid = _ok(dk("create", "busybox", "sh", "-c", "echo ran")).strip()
    link = bridge.host_veth_name(cid, "eth0")
    subprocess.run(["ip", "link", "add", link, "type", "bridge"], check=True)
    try:
        r = dk("start", "-a", cid)
        assert r.returncode != 0 and "ran" not in r.stdout
        assert "failed to create task for container" in r.stderr, r.stderr
        st = _inspect(dk, cid)["State"]
        assert st["Status"] == "created" and st["ExitCode"] == 128 and st["Error"], st
        assert not os.path.exists(bridge.netns_path(cid))
        ep = _inspect(dk, cid)["NetworkSettings"]["Networks"]["bridge"]
        assert ep["IPAddress"] == ""
        assert not [d for d in Path("/sys/fs/cgroup/memory").rglob(f"*{cid}*") if d.is_dir()]
    finally:
        subprocess.run(["ip", "link", "del", link], check=True)
    assert _ok(dk("start", "-a", cid)).strip() == "ran"  # and the next start works


def test_network_none_and_host_unchanged(dk) -> None:  # type: ignore[no-untyped-def]
    out = _ok(dk("run", "--rm", "--network", "none", "busybox", "ls", "/sys/class/net"))
    assert out.split() == ["lo"]
    out = _ok(dk("run", "--rm", "--network", "host", "busybox", "ls", "/sys/class/net"))
    assert BRIDGE in out.split()


def test_names_and_aliases_resolve_on_a_user_network(dk) -> None:  # type: ignore[no-untyped-def]
    net = _net()
    _ok(dk("network", "create", net))
    _ok(
        dk(
            "run",
            "-d",
            "--name",
            "web",
            "--network",
            net,
            "--network-alias",
            "www",
            "busybox",
            "httpd",
            "-f",
            "-p",
            "80",
            "-h",
            "/etc",
        )
    )
    web_id = _inspect(dk, "web")["Id"]
    script = "wget -qO- http://web/hostname; wget -qO- http://www/hostname"
    out = _ok(dk("run", "--rm", "--network", net, "busybox", "sh", "-c", script))
    assert out.split() == [web_id[:12], web_id[:12]]
    # a container started later is found by one started earlier, and gone once removed
    _ok(dk("run", "-d", "--name", "late", "--network", net, "busybox", "sleep", "30"))
    out = _ok(dk("exec", "web", "nslookup", "late", "127.0.0.11"))
    late_ip = _inspect(dk, "late")["NetworkSettings"]["Networks"][net]["IPAddress"]
    assert late_ip in out
    _ok(dk("rm", "-f", "late"))
    p = dk("exec", "web", "nslookup", "late", "127.0.0.11")
    assert late_ip not in p.stdout


def test_published_port_on_loopback(dk) -> None:  # type: ignore[no-untyped-def]
    port = _free_port()
    _ok(
        dk(
            "run",
            "-d",
            "--name",
            "pub",
            "-p",
            f"127.0.0.1:{port}:80",
            "busybox",
            "httpd",
            "-f",
            "-p",
            "80",
            "-h",
            "/etc",
        )
    )
    cid = _inspect(dk, "pub")["Id"]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/hostname", timeout=10) as r:
        assert r.read().decode().strip() == cid[:12]
    assert _ok(dk("port", "pub")).strip() == f"80/tcp -> 127.0.0.1:{port}"
    ps = _ok(dk("ps", "--format", "{{.Ports}}", "--filter", "name=pub")).strip()
    assert ps == f"127.0.0.1:{port}->80/tcp"
    ports = _inspect(dk, "pub")["NetworkSettings"]["Ports"]
    assert ports == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
    # bound to that address only
    with pytest.raises(OSError), socket.create_connection(("127.0.0.2", port), timeout=2):
        pass
    # the same port again: dockerd's error, and nothing left of the second container
    p = dk("run", "-d", "--name", "pub2", "-p", f"127.0.0.1:{port}:80", "busybox", "sleep", "9")
    assert p.returncode != 0
    assert f"Bind for 127.0.0.1:{port} failed: port is already allocated" in p.stderr
    pub2 = _inspect(dk, "pub2")["Id"]
    assert not os.path.exists(f"/run/netns/berth-{pub2[:12]}")
    assert _gone(Path(f"/sys/class/net/veth{pub2[:7]}0"))


_UDP_ECHO = """
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 7000))
print("ready", flush=True)
while True:
    d, a = s.recvfrom(100)
    s.sendto(d, a)
"""


def test_random_and_udp_ports(dk) -> None:  # type: ignore[no-untyped-def]
    _ok(
        dk(
            "run",
            "-d",
            "--name",
            "udp",
            "-p",
            "127.0.0.1::7000/udp",
            "--expose",
            "81",
            "-P",
            "busybox",
            "sleep",
            "60",
        )
    )
    cid = _inspect(dk, "udp")["Id"]
    ports = _inspect(dk, "udp")["NetworkSettings"]["Ports"]
    hp = int(ports["7000/udp"][0]["HostPort"])
    assert hp > 0 and ports["7000/udp"][0]["HostIp"] == "127.0.0.1"
    assert int(ports["81/tcp"][0]["HostPort"]) > 0  # -P published the exposed port
    # busybox has no UDP server: the echo runs in the container's network namespace
    echo = subprocess.Popen(
        ["ip", "netns", "exec", f"berth-{cid[:12]}", sys.executable, "-c", _UDP_ECHO],
        stdout=subprocess.PIPE,
    )
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1)
    try:
        assert echo.stdout is not None and echo.stdout.readline() == b"ready\n"
        for _ in range(5):
            s.sendto(b"ping", ("127.0.0.1", hp))
            try:
                data, _ = s.recvfrom(100)
                break
            except TimeoutError:
                continue
        else:
            pytest.fail("no UDP echo through the published port")
        assert data == b"ping"
    finally:
        s.close()
        echo.kill()
        echo.wait()


def test_networks_do_not_reach_each_other(dk) -> None:  # type: ignore[no-untyped-def]
    a, b = _net(), _net()
    _ok(dk("network", "create", a))
    _ok(dk("network", "create", b))
    _ok(
        dk(
            "run",
            "-d",
            "--name",
            "srv",
            "--network",
            a,
            "busybox",
            "httpd",
            "-f",
            "-p",
            "80",
            "-h",
            "/etc",
        )
    )
    ip = _inspect(dk, "srv")["NetworkSettings"]["Networks"][a]["IPAddress"]
    srv_id = _inspect(dk, "srv")["Id"]
    same = dk(
        "run",
        "--rm",
        "--network",
        a,
        "busybox",
        "sh",
        "-c",
        f"timeout -s KILL 3 wget -qO- http://{ip}/hostname; echo rc=$?",
    )
    assert same.stdout.split() == [srv_id[:12], "rc=0"], same.stderr
    other = dk(
        "run",
        "--rm",
        "--network",
        b,
        "busybox",
        "sh",
        "-c",
        f"timeout -s KILL 3 wget -qO- http://{ip}/hostname; echo rc=$?",
    )
    # dropped between the bridges: killed by the timeout, nothing received
    assert other.stdout.split() == ["rc=137"], other.stderr


def test_container_removal_frees_veth_netns_and_lease(dk) -> None:  # type: ignore[no-untyped-def]
    net = _net()
    _ok(dk("network", "create", "--subnet", "10.213.7.0/24", net))
    _ok(
        dk(
            "run",
            "-d",
            "--name",
            "one",
            "--network",
            net,
            "--ip",
            "10.213.7.9",
            "busybox",
            "sleep",
            "60",
        )
    )
    cid = _inspect(dk, "one")["Id"]
    assert "inet 10.213.7.9/24" in _ok(dk("exec", "one", "ip", "-4", "addr", "show", "eth0"))
    bridge = "br-" + json.loads(_ok(dk("network", "inspect", net)))[0]["Id"][:12]
    assert Path(f"/sys/class/net/veth{cid[:7]}0").exists()
    assert Path(f"/run/berth/leases/{bridge}/10.213.7.9").exists()
    p = dk("network", "rm", net)
    assert p.returncode != 0 and "has active endpoints" in p.stderr
    _ok(dk("rm", "-f", "one"))
    assert _gone(Path(f"/sys/class/net/veth{cid[:7]}0"))
    assert not os.path.exists(f"/run/netns/berth-{cid[:12]}")
    assert not Path(f"/run/berth/leases/{bridge}/10.213.7.9").exists()
    # the address is free again
    _ok(dk("run", "--rm", "--network", net, "--ip", "10.213.7.9", "busybox", "true"))
    _ok(dk("network", "rm", net))
    assert not Path(f"/sys/class/net/{bridge}").exists()


def test_bad_input(dk, ndaemon: Daemon) -> None:  # type: ignore[no-untyped-def]
    net, net2 = _net(), _net()
    _ok(dk("network", "create", "--subnet", "10.214.0.0/16", net))
    p = dk("network", "create", "--subnet", "10.214.3.0/24", net2)
    assert "Pool overlaps with other one on this address space" in p.stderr
    p = dk("run", "--rm", "--network", net, "--ip", "10.9.9.9", "busybox", "true")
    assert "It does not belong to any of this network's subnets" in p.stderr
    p = dk("run", "--rm", "--network", "btnosuch", "busybox", "true")
    assert "network btnosuch not found" in p.stderr
    status, body = ndaemon.api.call("DELETE", "/networks/btnosuch")
    assert status == 404
    status, body = ndaemon.api.call("POST", "/networks/create", {"Name": net})
    assert status == 409 and f"network with name {net} already exists" in body["message"]
    _ok(dk("run", "-d", "--name", "held", "--network", net, "busybox", "sleep", "30"))
    nid = json.loads(_ok(dk("network", "inspect", net)))[0]["Id"]
    status, body = ndaemon.api.call("DELETE", f"/networks/{net}")
    assert status == 403
    assert body["message"] == (
        f"error while removing network: network {net} id {nid} has active endpoints"
    )


def test_connect_disconnect_and_inspect(dk) -> None:  # type: ignore[no-untyped-def]
    net = _net()
    _ok(
        dk(
            "network",
            "create",
            "--label",
            "k=v",
            "--subnet",
            "10.215.0.0/24",
            "--gateway",
            "10.215.0.254",
            "--ip-range",
            "10.215.0.128/25",
            net,
        )
    )
    info = json.loads(_ok(dk("network", "inspect", net)))[0]
    assert info["IPAM"]["Config"] == [
        {"Subnet": "10.215.0.0/24", "Gateway": "10.215.0.254", "IPRange": "10.215.0.128/25"}
    ]
    assert info["Labels"] == {"k": "v"} and info["Driver"] == "bridge"
    _ok(dk("run", "-d", "--name", "c1", "busybox", "sleep", "60"))
    _ok(dk("network", "connect", "--alias", "c1alias", net, "c1"))
    ep = _inspect(dk, "c1")["NetworkSettings"]["Networks"][net]
    assert ep["IPAddress"] == "10.215.0.129" and ep["Gateway"] == "10.215.0.254"
    assert "inet 10.215.0.129/24" in _ok(dk("exec", "c1", "ip", "-4", "addr"))
    ls = _ok(dk("network", "ls", "--format", "{{.Name}} {{.Driver}}")).split("\n")
    assert f"{net} bridge" in ls and "bridge bridge" in ls and "none null" in ls
    cont = json.loads(_ok(dk("network", "inspect", net)))[0]["Containers"]
    assert [v["Name"] for v in cont.values()] == ["c1"]
    _ok(dk("network", "disconnect", net, "c1"))
    assert net not in _inspect(dk, "c1")["NetworkSettings"]["Networks"]
    assert "10.215.0.129" not in _ok(dk("exec", "c1", "ip", "-4", "addr"))
    _ok(dk("rm", "-f", "c1"))
    assert net in _ok(dk("network", "prune", "-f"))


def test_daemon_crash_keeps_network_and_ports(busybox_tar: Path) -> None:
    """After a kill -9 of berthd the containers run on; the next berthd publishes their
    ports again, answers their names, and a container that died meanwhile loses its
    netns and lease."""
    bridge = f"btc{os.getpid() % 100000}"
    gen = _make_daemon(busybox_tar, ["--bridge", bridge])
    d = next(gen)
    net = _net()

    def dk(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["docker", *args], env=d.env, capture_output=True, text=True, timeout=60
        )

    try:
        port = _free_port()
        _ok(dk("network", "create", net))
        _ok(dk("run", "-d", "--name", "web", "--network", net, "-p", f"127.0.0.1:{port}:80",
               "busybox", "httpd", "-f", "-p", "80", "-h", "/etc"))  # fmt: skip
        _ok(dk("run", "-d", "--name", "short", "--network", net, "busybox", "sleep", "2"))
        short = _inspect(dk, "short")["Id"]
        short_pid = _inspect(dk, "short")["State"]["Pid"]
        web = _inspect(dk, "web")["Id"]
        d.kill()
        # "short" exits while no daemon watches
        wait_for(lambda: _exited(short_pid), "the container's process to exit")
        d.start()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/hostname", timeout=10) as r:
            assert r.read().decode().strip() == web[:12]
        out = _ok(dk("run", "--rm", "--network", net, "busybox", "wget", "-qO-",
                     "http://web/hostname"))  # fmt: skip
        assert out.strip() == web[:12]
        assert _inspect(dk, "short")["State"]["Status"] == "exited"
        assert not os.path.exists(f"/run/netns/berth-{short[:12]}")
        assert _inspect(dk, "short")["NetworkSettings"]["Networks"][net]["IPAddress"] == ""
    finally:
        with contextlib.suppress(StopIteration):
            d.remove_all_containers()
            dk("network", "rm", net)
            next(gen)
        subprocess.run(["ip", "link", "del", bridge], capture_output=True)
        nat.remove_bridge(bridge)
