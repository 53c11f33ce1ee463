"""A container's netns and endpoint, made with plain rtnetlink requests (network/rtnl.py),
read back with iproute2 (`ip -j`, a tool of its own): the loopback up, the veth pair's
host end up on the bridge with the MTU, the container's end named, with its MAC, MTU,
addresses (IPv4, IPv6 without DAD, link-local) and default routes; removal takes the host
end and leaves a link of the same name of another kind alone."""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from berth.engine.network import bridge
from tests.conftest import IS_ROOT

pytestmark = [pytest.mark.integration, pytest.mark.skipif(not IS_ROOT, reason="needs root")]

BR = "btrtnl0"


def _ip(*args: str, netns: str | None = None) -> Any:
    pre = ["ip", "netns", "exec", netns] if netns else []
    out = subprocess.run([*pre, "ip", "-j", *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout or "[]")


def _exists(link: str) -> bool:
    return subprocess.run(["ip", "link", "show", link], capture_output=True).returncode == 0


@pytest.fixture
def br() -> Iterator[str]:
    subprocess.run(["ip", "link", "add", BR, "type", "bridge"], check=True)
    try:
        subprocess.run(["ip", "link", "set", BR, "up"], check=True)
        subprocess.run(["ip", "addr", "add", "10.251.0.1/24", "dev", BR], check=True)
        yield BR
    finally:
        subprocess.run(["ip", "link", "del", BR], check=False)


@pytest.fixture
def cid() -> Iterator[str]:
    cid = secrets.token_hex(32)
    try:
        yield cid
    finally:
        bridge.delete_netns(cid)


def test_endpoint_as_iproute2_sees_it(br: str, cid: str) -> None:
    bridge.create_netns(cid)
    ns = bridge.netns_name(cid)
    (lo,) = _ip("link", "show", "lo", netns=ns)
    assert "UP" in lo["flags"]
    spec = bridge.EndpointSpec(
        cid=cid, bridge=br, ifname="eth0", address="10.251.0.7", prefixlen=24,
        gateway="10.251.0.1", mac="02:42:0a:fb:00:07", default_route=True, mtu=1400,
        address6="fd00:b7::7", prefixlen6=64, gateway6="fd00:b7::1",
        link_local=("169.254.9.9",),
    )  # fmt: skip
    bridge.add_endpoint(spec)
    (host,) = _ip("-d", "link", "show", bridge.host_veth_name(cid, "eth0"))
    assert host["master"] == br and host["mtu"] == 1400 and "UP" in host["flags"]
    assert host["linkinfo"]["info_kind"] == "veth"
    (peer,) = _ip("-d", "addr", "show", "eth0", netns=ns)
    assert peer["address"] == "02:42:0a:fb:00:07" and peer["mtu"] == 1400
    assert "UP" in peer["flags"] and peer["linkinfo"]["info_kind"] == "veth"
    addrs = {(a["local"], a["prefixlen"]) for a in peer["addr_info"]}
    assert {("10.251.0.7", 24), ("fd00:b7::7", 64), ("169.254.9.9", 16)} <= addrs
    v6 = next(a for a in peer["addr_info"] if a["local"] == "fd00:b7::7")
    assert not v6.get("tentative"), "an address without DAD is usable at once"
    routes = {(r["dst"], r.get("gateway")) for r in _ip("route", "show", netns=ns)}
    assert ("default", "10.251.0.1") in routes
    routes6 = {(r["dst"], r.get("gateway")) for r in _ip("-6", "route", "show", netns=ns)}
    assert ("default", "fd00:b7::1") in routes6
    bridge.remove_endpoint(cid, "eth0")
    assert _ip("link", "show", "master", br) == []


def test_a_stale_pair_of_the_same_name_is_replaced(br: str, cid: str) -> None:
    # a restart of the same container before the kernel destroyed its last pair
    name = bridge.host_veth_name(cid, "eth0")
    subprocess.run(
        ["ip", "link", "add", name, "type", "veth", "peer", "name", "btstale0"], check=True
    )
    bridge.create_netns(cid)
    spec = bridge.EndpointSpec(
        cid=cid, bridge=br, ifname="eth0", address="10.251.0.8", prefixlen=24,
        gateway="10.251.0.1", mac="02:42:0a:fb:00:08", default_route=True,
    )  # fmt: skip
    try:
        bridge.add_endpoint(spec)
        assert [x["ifname"] for x in _ip("link", "show", "master", br)] == [name]
        assert not _exists("btstale0")
    finally:
        bridge.remove_endpoint(cid, "eth0")


def test_removal_leaves_a_link_of_another_kind(cid: str) -> None:
    name = bridge.host_veth_name(cid, "eth0")
    subprocess.run(["ip", "link", "add", name, "type", "bridge"], check=True)
    try:
        bridge.remove_endpoint(cid, "eth0")
        assert _exists(name)
    finally:
        subprocess.run(["ip", "link", "del", name], check=False)
