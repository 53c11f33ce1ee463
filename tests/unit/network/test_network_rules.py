"""The network service's rules, on a real database in a temp dir with the host faked
(tests/unit/network/fake_host.py) and the container service faked: create's checks and
their messages, connect/disconnect, address allocation and release, prune, and what
reconcile decides. The real host is exercised by tests/integration/network."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from berth.engine.db import Database
from berth.engine.errors import (
    Conflict,
    EngineError,
    Forbidden,
    InvalidParameter,
    NotFound,
    SystemError_,
)
from berth.engine.network.bridge import Link
from berth.engine.network.model import Network
from berth.engine.network.service import NetworkService
from tests.unit.network.fake_containers import Bus, Config, Container, Containers, HostConfig
from tests.unit.network.fake_host import FakeHost

T = TypeVar("T")


def run(aw: Awaitable[T]) -> T:
    async def go() -> T:
        out = await aw
        await asyncio.sleep(0)  # events queued with call_soon (detach's disconnects)
        return out

    return asyncio.run(go())


@dataclass
class Env:
    svc: NetworkService
    host: FakeHost
    containers: Containers
    bus: Bus
    path: Path

    def create(self, **body: Any) -> Network:
        n, warning = run(self.svc.create(body))
        assert warning == ""
        return n

    def container(
        self, name: str, net: str = "default", networking: Any = None, **kw: Any
    ) -> Container:
        c = self.containers.add(Container(name, host_config=HostConfig(network_mode=net), **kw))
        self.svc.plan(c, networking)
        return c

    def start(self, c: Container) -> str | None:
        c.state.running = True
        return run(self.svc.attach(c))

    def stop(self, c: Container) -> None:
        c.state.running = False
        run(self.svc.detach(c))

    def restarted(self) -> NetworkService:
        return NetworkService(
            Database(self.path / "berth.db"),
            containers=self.containers,
            events=self.bus,
            host=self.host,
        )


@pytest.fixture
def env(tmp_path: Path) -> Env:
    host = FakeHost()
    containers, bus = Containers(), Bus()
    svc = NetworkService(
        Database(tmp_path / "berth.db"), containers=containers, events=bus, host=host
    )
    return Env(svc, host, containers, bus, tmp_path)


def _fails(env: Env, kind: type[EngineError], message: str, **body: Any) -> None:
    before = [n.id for n in env.svc.store.all()]
    made = len(env.host.called("ensure_bridge"))
    with pytest.raises(kind) as info:
        run(env.svc.create(body))
    assert info.value.message == message
    # nothing is made or kept of a refused network
    assert [n.id for n in env.svc.store.all()] == before
    assert len(env.host.called("ensure_bridge")) == made


# ---- create: names and drivers ------------------------------------------------
@pytest.mark.parametrize(
    ("body", "kind", "message"),
    [
        ({"Name": 7}, InvalidParameter, "network name is required"),
        ({"Name": "bridge"}, Forbidden, "bridge is a pre-defined network and cannot be created"),
        ({"Name": "none", "Driver": "macvlan"}, Forbidden,
         "none is a pre-defined network and cannot be created"),
        ({"Name": "n", "Driver": "host"}, Forbidden,
         'only one instance of "host" network is allowed'),
        ({"Name": "n", "Driver": "null"}, Forbidden,
         'only one instance of "null" network is allowed'),
        ({"Name": "n", "Driver": "overlay"}, NotFound, 'plugin "overlay" not found'),
        ({"Name": "  "}, InvalidParameter, "invalid name:   "),
    ],
)  # fmt: skip
def test_names_and_drivers_refused(
    env: Env, body: dict[str, Any], kind: type[EngineError], message: str
) -> None:
    _fails(env, kind, message, **body)


def test_a_duplicate_name_is_a_conflict(env: Env) -> None:
    env.create(Name="n1")
    with pytest.raises(Conflict, match="^network with name n1 already exists$"):
        run(env.svc.create({"Name": "n1", "CheckDuplicate": False}))
    assert [n.name for n in env.svc.list()].count("n1") == 1


# ---- create: what berth refuses ----------------------------------------------
@pytest.mark.parametrize(
    ("body", "kind", "message"),
    [
        ({"IPAM": {"Driver": "infoblox"}}, NotFound, 'plugin "infoblox" not found'),
        ({"Ingress": True}, Forbidden, "ingress networks are a swarm feature: berth has no swarm"),
        ({"ConfigOnly": True}, InvalidParameter,
         "config-only networks (--config-only, --config-from) are not supported by berth"),
        ({"ConfigFrom": {"Network": "base"}}, InvalidParameter,
         "config-only networks (--config-only, --config-from) are not supported by berth"),
        ({"Scope": "swarm"}, InvalidParameter,
         "scope 'swarm' is not supported by berth: its networks are local"),
        ({"EnableIPv4": False}, InvalidParameter,
         "IPv4 cannot be disabled: berth's networks always have IPv4"),
        ({"Options": {"com.docker.network.bridge.enable_icc": "yes"}}, InvalidParameter,
         "failed to parse com.docker.network.bridge.enable_icc value: invalid syntax"),
        ({"Options": {"com.docker.network.bridge.enable_ip_masquerade": ""}}, InvalidParameter,
         "failed to parse com.docker.network.bridge.enable_ip_masquerade value: invalid syntax"),
        ({"Options": {"com.docker.network.driver.mtu": "67"}}, InvalidParameter,
         "invalid MTU value '67': it must be a number from 68 to 65535"),
        ({"Options": {"com.docker.network.driver.mtu": "big"}}, InvalidParameter,
         "invalid MTU value 'big': it must be a number from 68 to 65535"),
        ({"Options": {"com.docker.network.bridge.host_binding_ipv4": "::1"}}, InvalidParameter,
         "failed to parse com.docker.network.bridge.host_binding_ipv4 value: ::1"),
    ],
)  # fmt: skip
def test_refused_drivers_and_options(
    env: Env, body: dict[str, Any], kind: type[EngineError], message: str
) -> None:
    _fails(env, kind, message, Name="n", **body)


def test_the_first_refusal_answers(env: Env) -> None:
    # dockerd's order: the IPAM driver before swarm, options before addresses
    _fails(env, NotFound, 'plugin "x" not found', Name="n", IPAM={"Driver": "x"}, Ingress=True)
    bad = {"Options": {"com.docker.network.driver.mtu": "1"}, "IPAM": {"Config": [{"Subnet": "x"}]}}
    with pytest.raises(InvalidParameter, match="^invalid MTU value"):
        run(env.svc.create({"Name": "n", **bad}))


def test_good_options_are_kept_and_reach_the_host(env: Env) -> None:
    opts = {
        "com.docker.network.bridge.enable_icc": "false",
        "com.docker.network.bridge.enable_ip_masquerade": "1",
        "com.docker.network.driver.mtu": "9000",
        "com.docker.network.bridge.name": "lan7",
    }
    n = env.create(Name="n", Options=opts, Labels={"a": "b"}, Internal=True, Attachable=True)
    assert n.bridge == "lan7" and n.options == opts and n.mtu == 9000
    assert n.internal and n.attachable and n.labels == {"a": "b"}
    assert env.host.called("ensure_bridge") == [("lan7", n.gateway, 16, 9000)]
    assert env.host.bridge_rules["lan7"] == [(n.id, n.subnet, True, False, True)]
    assert env.bus.events == [("network", "create", n.id, {"name": "n", "type": "bridge"})]


# ---- create: addresses ------------------------------------------------------------
def _ipam(*cfgs: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return {"IPAM": {"Config": list(cfgs), **kw}}


@pytest.mark.parametrize(
    ("cfg", "kind", "message"),
    [
        ({"Subnet": "10.1.0.0/33"}, InvalidParameter, "invalid CIDR address: 10.1.0.0/33"),
        ({"Subnet": "nope"}, InvalidParameter, "invalid CIDR address: nope"),
        ({"Gateway": "10.1.0.1"}, InvalidParameter, "gateway or ip-range given without a subnet"),
        ({"IPRange": "10.1.0.0/25"}, InvalidParameter,
         "gateway or ip-range given without a subnet"),
        ({"Subnet": "10.1.0.0/24", "Gateway": "10.1.0.300"}, InvalidParameter,
         "invalid gateway address 10.1.0.300"),
        ({"Subnet": "10.1.0.0/24", "Gateway": "10.2.0.1"}, Forbidden,
         "invalid pool request: gateway address 10.2.0.1 does not belong to subnet 10.1.0.0/24"),
        ({"Subnet": "10.1.0.0/24", "IPRange": "10.1.1.0/25"}, Forbidden,
         "invalid pool request: ip-range 10.1.1.0/25 does not belong to subnet 10.1.0.0/24"),
        ({"Subnet": "10.1.0.0/24", "IPRange": "10.1.0.0/x"}, InvalidParameter,
         "invalid CIDR address: 10.1.0.0/x"),
        ({"Subnet": "10.1.0.0/24", "AuxiliaryAddresses": {"r": "10.1.0.999"}}, InvalidParameter,
         "invalid auxiliary address r=10.1.0.999"),
        ({"Subnet": "10.1.0.0/24", "AuxiliaryAddresses": {"r": "10.9.0.5"}}, Forbidden,
         "invalid pool request: auxiliary address: (r:10.9.0.5) must belong to the master pool:"
         " 10.1.0.0/24"),
        ({"Subnet": "fd00:1::/64"}, InvalidParameter,
         "invalid network config: IPv6 subnet configured but IPv6 is not enabled (use --ipv6)"),
    ],
)  # fmt: skip
def test_bad_subnets_gateways_and_ranges(
    env: Env, cfg: dict[str, Any], kind: type[EngineError], message: str
) -> None:
    _fails(env, kind, message, Name="n", **_ipam(cfg))


def test_the_subnet_given_is_kept_with_its_gateway_and_range(env: Env) -> None:
    n = env.create(Name="n", **_ipam({"Subnet": "10.1.0.7/24", "IPRange": "10.1.0.128/25"}))
    assert (n.subnet, n.gateway, n.ip_range) == ("10.1.0.0/24", "10.1.0.1", "10.1.0.128/25")
    n2 = env.create(Name="n2", **_ipam({"Subnet": "10.2.0.0/24", "Gateway": "10.2.0.254"}))
    assert n2.gateway == "10.2.0.254"
    api = n2.to_api()
    assert api["IPAM"]["Config"] == [{"Subnet": "10.2.0.0/24", "Gateway": "10.2.0.254"}]


def test_a_subnet_overlapping_another_network_is_refused(env: Env) -> None:
    env.create(Name="a", **_ipam({"Subnet": "10.5.0.0/16"}))
    overlap = "invalid pool request: Pool overlaps with other one on this address space"
    _fails(env, Forbidden, overlap, Name="b", **_ipam({"Subnet": "10.5.3.0/24"}))
    default = env.svc.get("bridge").subnet
    _fails(env, Forbidden, overlap, Name="c", **_ipam({"Subnet": default}))


def test_picked_subnets_skip_networks_and_host_routes(env: Env) -> None:
    assert env.svc.get("bridge").subnet == "172.17.0.0/16"
    env.host.routed = [ipaddress.IPv4Network("172.18.0.0/16")]
    a = env.create(Name="a")
    assert (a.subnet, a.gateway) == ("172.19.0.0/16", "172.19.0.1")
    b = env.create(Name="b")
    assert b.subnet == "172.20.0.0/16"


def test_custom_address_pools_are_cut_into_subnets(env: Env) -> None:
    env.svc.options = {"default-address-pools": [{"base": "10.66.0.0/16", "size": 24}]}
    assert env.create(Name="a").subnet == "10.66.0.0/24"
    assert env.create(Name="b").subnet == "10.66.1.0/24"


def test_ipv6_networks(env: Env) -> None:
    n = env.create(Name="v6", EnableIPv6=True, **_ipam({"Subnet": "10.3.0.0/24"},
                                                        {"Subnet": "fd00:3::/64"}))  # fmt: skip
    assert (n.enable_ipv6, n.subnet6, n.gateway6) == (True, "fd00:3::/64", "fd00:3::1")
    assert env.host.called("ensure_address6") == [(n.bridge, "fd00:3::1", 64)]
    # none given: a unique-local /64 of its own
    auto = env.create(Name="auto", EnableIPv6=True)
    sub6 = ipaddress.IPv6Network(auto.subnet6)
    assert sub6.prefixlen == 64 and sub6.subnet_of(ipaddress.IPv6Network("fd00::/8"))
    overlap = "invalid pool request: Pool overlaps with other one on this address space"
    _fails(env, Forbidden, overlap, Name="x", EnableIPv6=True, **_ipam({"Subnet": "fd00:3::/80"}))
    _fails(env, Forbidden,
           "invalid pool request: gateway address fd00:9::1 does not belong to subnet fd00:4::/64",
           Name="y", EnableIPv6=True,
           **_ipam({"Subnet": "fd00:4::/64", "Gateway": "fd00:9::1"}))  # fmt: skip
    _fails(env, Forbidden,
           "invalid pool request: ip-range fd00:5::/48 does not belong to subnet fd00:4::/64",
           Name="z", EnableIPv6=True,
           **_ipam({"Subnet": "fd00:4::/64", "IPRange": "fd00:5::/48"}))  # fmt: skip


def test_ipam_options_and_aux_addresses_are_kept_and_never_allocated(env: Env) -> None:
    aux = {"router": "10.4.0.2", "printer": "10.4.0.3"}
    n = env.create(
        Name="n",
        **_ipam({"Subnet": "10.4.0.0/29", "AuxiliaryAddresses": aux}, Options={"foo": "bar"}),
    )
    assert n.aux_addresses == aux and n.ipam_options == {"foo": "bar"}
    assert n.to_api()["IPAM"]["Options"] == {"foo": "bar"}
    c = env.container("c", "n")
    env.start(c)
    assert c.networks["n"]["IPAddress"] == "10.4.0.4"
    # after a restart too: the leases come back from the records
    svc = env.restarted()
    svc.restore_leases()
    assert {"10.4.0.2", "10.4.0.3", "10.4.0.4"} <= svc.leases.used(n.id)


def test_a_failed_host_setup_leaves_no_network(env: Env) -> None:
    env.host.fail["add_bridge_rules"] = OSError("iptables broke")
    with pytest.raises(OSError, match="iptables broke"):
        run(env.svc.create({"Name": "n"}))
    assert env.svc.store.find("n") is None and env.restarted().store.find("n") is None
    made = env.host.called("ensure_bridge")[0][0]
    assert made not in env.host.links  # the bridge it made is taken back
    assert "create" not in env.bus.actions()


def test_a_link_that_is_not_a_bridge_is_refused(env: Env) -> None:
    env.host.links["eth9"] = Link(9, "dummy", ())
    _fails(env, InvalidParameter, "existing interface eth9 is not a bridge",
           Name="n", Options={"com.docker.network.bridge.name": "eth9"})  # fmt: skip


# ---- list, remove ---------------------------------------------------------------
def test_list_filters(env: Env) -> None:
    env.create(Name="front", Labels={"tier": "web"})
    env.create(Name="back")
    names = lambda **f: [n.name for n in env.svc.list(f)]  # noqa: E731
    assert names(type=["custom"]) == ["front", "back"]
    assert names(type=["builtin"]) == ["bridge", "host", "none"]
    assert names(name=["ron"]) == ["front"]
    assert names(label=["tier=web"]) == ["front"] and names(label=["tier=db"]) == []
    assert names(driver=["null"]) == ["none"]


def test_predefined_networks_cannot_be_removed(env: Env) -> None:
    for name in ("bridge", "host", "none"):
        with pytest.raises(Forbidden, match=f"^{name} is a pre-defined network and cannot be"):
            run(env.svc.remove(name))
    with pytest.raises(NotFound, match="^network nope not found$"):
        run(env.svc.remove("nope"))


def test_a_network_in_use_is_not_removed(env: Env) -> None:
    n = env.create(Name="n")
    c = env.container("c", "n")  # created, never started: still a user
    with pytest.raises(Forbidden) as info:
        run(env.svc.remove("n"))
    assert info.value.message == (
        f"error while removing network: network n id {n.id} has active endpoints"
    )
    del env.containers.by_id[c.id]
    run(env.svc.remove(n.id[:12]))
    assert env.svc.store.find("n") is None and n.bridge not in env.host.links
    assert n.bridge not in env.host.bridge_rules
    assert env.bus.actions() == ["create", "destroy"]


# ---- endpoints ------------------------------------------------------------------
def test_start_makes_the_endpoint_and_stop_releases_it(env: Env) -> None:
    n = env.create(Name="n", **_ipam({"Subnet": "10.8.0.0/24"}))
    a, b = env.container("a", "n"), env.container("b", "n")
    assert env.start(a) == env.host.netns_path(a.id)
    env.start(b)
    ep = a.networks["n"]
    assert (ep["IPAddress"], ep["Gateway"], ep["IPPrefixLen"]) == ("10.8.0.2", "10.8.0.1", 24)
    assert ep["MacAddress"] == "02:42:0a:08:00:02" and ep["DNSNames"] == ["a", a.id[:12]]
    assert b.networks["n"]["IPAddress"] == "10.8.0.3"
    spec = env.host.endpoints[(a.id, "eth0")]
    assert spec.bridge == n.bridge and spec.default_route and spec.address == "10.8.0.2"
    assert env.host.claims[(n.bridge, "10.8.0.2")] == a.id
    env.stop(a)
    assert a.networks["n"]["IPAddress"] == "" and a.networks["n"]["MacAddress"] == ""
    assert (n.bridge, "10.8.0.2") not in env.host.claims and a.id[:12] not in env.host.netns
    c = env.container("c", "n")
    env.start(c)
    assert c.networks["n"]["IPAddress"] == "10.8.0.2"  # released, so handed out again
    assert env.bus.actions() == ["create", "connect", "connect", "disconnect", "connect"]


def test_addresses_another_daemon_holds_are_skipped(env: Env) -> None:
    n = env.create(Name="n", **_ipam({"Subnet": "10.8.0.0/24", "IPRange": "10.8.0.64/26"}))
    env.host.claims[(n.bridge, "10.8.0.65")] = "someone-else"
    c = env.container("c", "n")
    env.start(c)
    assert c.networks["n"]["IPAddress"] == "10.8.0.66"


def test_a_full_network_says_so(env: Env) -> None:
    env.create(Name="n", **_ipam({"Subnet": "10.8.0.0/30"}))
    env.start(env.container("a", "n"))
    b = env.container("b", "n")
    with pytest.raises(Forbidden) as info:
        env.start(b)
    assert info.value.message == (
        "no available IPv4 addresses on this network's address pools: 10.8.0.0/30"
    )
    assert b.id[:12] not in env.host.netns  # the failed start took its netns back


def test_a_failed_endpoint_gives_its_addresses_back(env: Env) -> None:
    n = env.create(Name="n", EnableIPv6=True, **_ipam({"Subnet": "10.8.0.0/24"}))
    env.host.fail["add_endpoint"] = OSError("netlink broke")
    c = env.container("c", "n")
    with pytest.raises(OSError):
        env.start(c)
    assert env.svc.leases.used(n.id) == set()
    assert not [k for k in env.host.claims if k[0] == n.bridge]


def test_static_addresses(env: Env) -> None:
    env.create(Name="n", EnableIPv6=True, **_ipam({"Subnet": "10.9.0.0/24"},
                                                   {"Subnet": "fd00:9::/64"}))  # fmt: skip
    want = {"IPAMConfig": {"IPv4Address": "10.9.0.50", "IPv6Address": "fd00:9::50"}}
    c = env.container("c", "n", networking={"EndpointsConfig": {"n": want}})
    env.start(c)
    ep = c.networks["n"]
    assert (ep["IPAddress"], ep["GlobalIPv6Address"]) == ("10.9.0.50", "fd00:9::50")
    assert ep["IPAMConfig"] == {"IPv4Address": "10.9.0.50", "IPv6Address": "fd00:9::50"}
    twin = env.container("twin", "n", networking={"EndpointsConfig": {"n": want}})
    with pytest.raises(Forbidden, match="^Address already in use$"):
        env.start(twin)


@pytest.mark.parametrize(
    ("net", "cfg", "message"),
    [
        ("n", {"IPAMConfig": {"IPv4Address": "10.10.0.5"}},
         "Invalid address 10.10.0.5: It does not belong to any of this network's subnets"),
        ("n", {"IPAMConfig": {"IPv4Address": "10.9.0"}}, "invalid IPv4 address: 10.9.0"),
        ("n", {"IPAMConfig": {"IPv6Address": "fd00::5"}},
         "Invalid address fd00::5: It does not belong to any of this network's subnets"),
        ("n", {"IPAMConfig": {"IPv6Address": "zz::"}}, "invalid IPv6 address: zz::"),
        ("n", {"IPAMConfig": {"LinkLocalIPs": ["10.9.0.9"]}},
         "invalid link-local IP address: 10.9.0.9"),
        ("n", {"MacAddress": "02:42:xx:00:00:01"}, "invalid MAC address 02:42:xx:00:00:01"),
        ("bridge", {"IPAMConfig": {"IPv4Address": "172.17.0.9"}},
         "user specified IP address is supported on user defined networks only"),
        ("bridge", {"Aliases": ["db"]},
         "network-scoped alias is supported only for containers in user defined networks"),
    ],
)  # fmt: skip
def test_endpoint_settings_refused(env: Env, net: str, cfg: dict[str, Any], message: str) -> None:
    env.create(Name="n", **_ipam({"Subnet": "10.9.0.0/24"}))
    c = env.containers.add(Container("c", host_config=HostConfig(network_mode=net)))
    with pytest.raises(InvalidParameter) as info:
        env.svc.plan(c, {"EndpointsConfig": {net: cfg}})
    assert info.value.message == message
    # and the same through connect, to a running container
    other = env.container("o")
    other.state.running = True
    if net == "n":
        with pytest.raises(InvalidParameter) as info:
            run(env.svc.connect(other, "n", cfg))
        assert info.value.message == message and "n" not in other.networks


def test_connect_and_disconnect_a_running_container(env: Env) -> None:
    n = env.create(Name="n", **_ipam({"Subnet": "10.11.0.0/24"}))
    c = env.container("c")
    env.start(c)
    run(env.svc.connect(c, "n", {"Aliases": ["db", "cache"]}))
    ep = c.networks["n"]
    assert ep["IPAddress"] == "10.11.0.2" and ep["Ifname"] == "eth1"
    assert ep["DNSNames"] == ["c", "db", "cache", c.id[:12]]
    spec = env.host.endpoints[(c.id, "eth1")]
    assert not spec.default_route  # the first network keeps the default route
    assert c.id in env.host.dns  # a user-defined network: the embedded DNS server
    with pytest.raises(Forbidden) as info:
        run(env.svc.connect(c, "n", {}))
    assert info.value.message == "endpoint with name c already exists in network n"
    run(env.svc.disconnect(c, "n"))
    assert "n" not in c.networks and (c.id, "eth1") not in env.host.endpoints
    assert env.svc.leases.used(n.id) == set()
    with pytest.raises(Forbidden) as info:
        run(env.svc.disconnect(c, "n"))
    assert info.value.message == f"container {c.id} is not connected to network n"
    assert [(e[1], e[3].get("container")) for e in env.bus.events[-2:]] == [
        ("connect", c.id),
        ("disconnect", c.id),
    ]


def test_connect_refuses_a_shared_network_namespace(env: Env) -> None:
    env.create(Name="n")
    for mode in ("host", "none", "container:abc"):
        c = env.container(f"c-{mode[:4]}", mode)
        with pytest.raises(Forbidden, match="^container sharing network namespace with another"):
            run(env.svc.connect(c, "n", {}))


def test_connecting_a_stopped_container_only_records_the_endpoint(env: Env) -> None:
    env.create(Name="n")
    c = env.container("c")
    run(env.svc.connect(c, "n", {"IPAMConfig": {"IPv4Address": "172.18.0.9"}}))
    assert c.networks["n"]["IPAddress"] == "" and env.host.endpoints == {}
    env.start(c)
    assert c.networks["n"]["IPAddress"] == "172.18.0.9"
    assert c.networks["bridge"]["IPAddress"] == "172.17.0.2"


def test_names_resolve_on_user_defined_networks_only(env: Env) -> None:
    env.create(Name="n")
    a = env.container("a", "n", networking={"EndpointsConfig": {"n": {"Aliases": ["db"]}}})
    b = env.container("b", "n")
    env.start(a)
    env.start(b)
    ip = a.networks["n"]["IPAddress"]
    lookup = env.host.dns[b.id].lookup
    assert lookup("db.", 1) == [ip] and lookup("A", 1) == [ip] and lookup(a.id[:12], 1) == [ip]
    assert lookup("nobody", 1) is None  # upstream
    assert lookup("db", 28) == []  # known, but no IPv6 address
    ptr = ".".join(reversed(ip.split("."))) + ".in-addr.arpa"
    assert lookup(ptr, 12) == ["a.n"]
    d, e = env.container("d"), env.container("e")
    env.start(d)
    env.start(e)
    assert d.id not in env.host.dns and env.svc.resolve(e.id, "d") is None


def test_ports_are_published_and_taken_back(env: Env) -> None:
    env.host.ipv6 = True
    c = env.container("web", config=Config(exposed_ports={"80/tcp": {}, "53/udp": {}}))
    c.host_config.port_bindings = {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}
    env.start(c)
    ip = c.networks["bridge"]["IPAddress"]
    assert c.ports == {
        "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}, {"HostIp": "::", "HostPort": "8080"}],
        "53/udp": None,
    }
    bridge_name = env.svc.get("bridge").bridge
    assert env.host.port_rules[c.id] == [(bridge_name, "tcp", "0.0.0.0", 8080, ip, 80)]
    other = env.container("other", config=Config(exposed_ports={"80/tcp": {}}))
    other.host_config.port_bindings = {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}
    with pytest.raises(SystemError_) as info:
        env.start(other)
    assert info.value.message.startswith(
        "driver failed programming external connectivity on endpoint other ("
    )
    assert info.value.message.endswith("Bind for 0.0.0.0:8080 failed: port is already allocated")
    env.stop(c)
    assert env.host.published == {} and c.id not in env.host.port_rules and c.ports == {}


# ---- prune --------------------------------------------------------------------
def test_prune_removes_unused_user_defined_networks(env: Env) -> None:
    env.create(Name="keep", Labels={"keep": "yes"})
    env.create(Name="used")
    env.create(Name="gone")
    env.container("stopped", "used")  # a stopped container still uses its network
    with pytest.raises(InvalidParameter, match="^invalid filter 'dangling'$"):
        run(env.svc.prune({"dangling": ["true"]}))
    with pytest.raises(InvalidParameter, match="^invalid filter 'until=soon'$"):
        run(env.svc.prune({"until": ["soon"]}))
    assert run(env.svc.prune({"until": ["1h"]})) == []  # all made just now
    assert run(env.svc.prune({"label!": ["keep"]})) == ["gone"]
    assert run(env.svc.prune()) == ["keep"]
    assert [n.name for n in env.svc.list()] == ["bridge", "host", "none", "used"]


# ---- daemon start, reconcile, shutdown -----------------------------------------------
def test_start_applies_the_daemon_options(env: Env) -> None:
    env.svc.options = {
        "iptables": False,
        "userland-proxy": "false",
        "ip-forward": True,
        "bip": "10.200.0.1/24",
        "icc": False,
        "mtu": 1400,
    }
    run(env.svc.start())
    n = env.svc.get("bridge")
    assert (n.subnet, n.gateway, n.mtu) == ("10.200.0.0/24", "10.200.0.1", 1400)
    assert n.options["com.docker.network.bridge.enable_icc"] == "false"
    assert not env.host.iptables and not env.host.proxy and env.host.ip_forward
    assert env.host.links["berth0"].addresses == (("10.200.0.1", 24),)
    assert env.restarted().get("bridge").subnet == "10.200.0.0/24"
    env.svc.options = {"bip": "nonsense"}
    with pytest.raises(InvalidParameter, match="^invalid bip: nonsense$"):
        run(env.svc.start())


def test_the_default_bridge_adopts_an_existing_bridges_address(env: Env) -> None:
    env.host.links["berth0"] = Link(5, "bridge", (("10.201.0.1", 16),), True)
    run(env.svc.start())
    n = env.svc.get("bridge")
    assert (n.subnet, n.gateway, n.made_link) == ("10.201.0.0/16", "10.201.0.1", "")


def test_reconcile_releases_endpoints_without_a_running_container(env: Env) -> None:
    env.create(Name="n")
    alive, dead = env.container("alive", "n"), env.container("dead", "n")
    dead.config.exposed_ports = {"80/tcp": {}}
    dead.host_config.port_bindings = {"80/tcp": [{"HostPort": "9000"}]}
    env.start(alive)
    env.start(dead)
    dead_ip = dead.networks["n"]["IPAddress"]
    # berthd went away; DEAD exited meanwhile, and a crash left an orphan's netns
    dead.state.running = False
    env.host.netns.add("0rphan0rphan")
    env.host.foreign_netns.add("0therdaemon0")
    svc = env.restarted()
    svc.restore_leases()
    n = svc.get("n")
    # only running containers hold addresses
    assert svc.leases.used(n.id) == {alive.networks["n"]["IPAddress"]}
    assert (n.bridge, dead_ip) in env.host.claims
    run(svc.reconcile(orphans={"0rphan0rphan" + "0" * 52}))
    assert dead.networks["n"]["IPAddress"] == "" and dead.ports == {}
    assert env.containers.saved == [dead.id]
    assert (n.bridge, dead_ip) not in env.host.claims
    assert dead.id[:12] not in env.host.netns and "0rphan0rphan" not in env.host.netns
    assert "0therdaemon0" in env.host.foreign_netns  # another daemon's: left alone
    assert alive.id[:12] in env.host.netns and alive.id in env.host.dns
    assert ("remove_port_rules", ("0rphan0rphan" + "0" * 52,)) in env.host.calls
    assert ("remove_port_rules", (dead.id,)) in env.host.calls


def test_shutdown_keeps_the_kernels_part_for_live_restore(env: Env) -> None:
    c = env.container("c", config=Config(exposed_ports={"80/tcp": {}}))
    c.host_config.publish_all_ports = True
    env.start(c)
    assert env.host.published
    run(env.svc.shutdown(keep_rules=True))
    assert env.host.published == {} and c.id in env.host.port_rules
    assert env.svc.get("bridge").bridge in env.host.bridge_rules
    run(env.svc.shutdown())
    assert env.svc.get("bridge").bridge not in env.host.bridge_rules


def test_no_event_bus_no_events(env: Env) -> None:
    env.svc = NetworkService(
        Database(env.path / "other.db"), containers=env.containers, host=env.host
    )
    n = env.create(Name="n")
    c = env.container("c", "n")
    env.start(c)
    env.stop(c)
    del env.containers.by_id[c.id]
    run(env.svc.remove(n.id))
    assert env.bus.events == []


# ---- /etc/hosts: whose file a start rewrites ----------------------------------
def _hosts_writes(env: Env, monkeypatch: pytest.MonkeyPatch, *cs: Container) -> list[str]:
    from berth.engine.network import hosts

    written: list[str] = []
    monkeypatch.setattr(hosts, "write_in_place", lambda path, text: written.append(path))
    for c in cs:
        c.hosts_path = str(env.path / f"{c.name}.hosts")
    return written


def test_a_start_on_the_default_bridge_rewrites_its_own_hosts_file_only(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b, c = (env.container(n, "bridge") for n in "abc")
    written = _hosts_writes(env, monkeypatch, a, b, c)
    env.start(a)
    env.start(b)
    env.start(c)
    assert written == [a.hosts_path, b.hosts_path, c.hosts_path]  # nobody else's changed
    written.clear()
    env.stop(b)
    assert written == [b.hosts_path]


def test_a_start_rewrites_the_files_that_name_it(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    env.create(Name="n", **_ipam({"Subnet": "10.8.0.0/24"}))
    peer, other = env.container("peer", "n"), env.container("other", "bridge")
    db = env.container("db", "bridge")
    web = env.container("web", "bridge")
    web.host_config.links = ["/db:/web/db"]
    me = env.container("me", "n")
    written = _hosts_writes(env, monkeypatch, peer, other, db, web, me)
    for x in (peer, other, db, web):
        env.start(x)
    written.clear()
    env.start(me)  # its user-defined network's peer lists it
    assert sorted(written) == sorted([peer.hosts_path, me.hosts_path])
    written.clear()
    env.stop(db)
    env.start(db)  # gone, then a new address: the container linking to it sees both
    assert sorted(written) == sorted([db.hosts_path, web.hosts_path] * 2)
