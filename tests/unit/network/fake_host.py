"""An in-memory `NetworkHost` (berth/engine/network/port.py) for unit tests of the network
service's rules: links, netns, endpoints, lease claims, iptables rules, published ports
and DNS servers are records here, and every call is logged in order."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from berth.engine.errors import SystemError_
from berth.engine.network.bridge import Link, Setup, not_a_bridge
from berth.engine.network.port import EndpointSpec, Lookup
from berth.engine.network.portmap import Binding

BOOT = "boot"


@dataclass
class FakeDns:
    cid: str
    lookup: Lookup
    upstream: list[str]
    closed: bool = False

    def close(self) -> None:
        self.closed = True


@dataclass
class FakeHost:
    links: dict[str, Link] = field(default_factory=dict)
    # (bridge, address) -> the container id holding it (here or in another daemon)
    claims: dict[tuple[str, str], str] = field(default_factory=dict)
    netns: set[str] = field(default_factory=set)  # container ids (12 characters)
    # berth-* netns found on the host that this daemon did not make (short ids)
    foreign_netns: set[str] = field(default_factory=set)
    endpoints: dict[tuple[str, str], EndpointSpec] = field(default_factory=dict)
    bridge_rules: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    port_rules: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    published: dict[tuple[str, str, int], Binding] = field(default_factory=dict)
    dns: dict[str, FakeDns] = field(default_factory=dict)
    routed: list[ipaddress.IPv4Network] = field(default_factory=list)
    ipv6: bool = False
    iptables: bool = True
    proxy: bool = True
    ip_forward: bool = False
    calls: list[tuple[str, Any]] = field(default_factory=list)
    # method name -> the exception its next call raises
    fail: dict[str, BaseException] = field(default_factory=dict)
    _next_index: int = 100
    _next_port: int = 32768

    def _call(self, name: str, *args: Any) -> None:
        self.calls.append((name, args))
        exc = self.fail.pop(name, None)
        if exc is not None:
            raise exc

    def called(self, name: str) -> list[Any]:
        return [args for n, args in self.calls if n == name]

    # ---- bridges and their addresses ------------------------------------
    def find_link(self, name: str) -> Link | None:
        return self.links.get(name)

    def bridge_exists(self, name: str) -> bool:
        return name in self.links

    def ensure_bridge(self, name: str, gateway: str, prefixlen: int, mtu: int) -> Setup:
        self._call("ensure_bridge", name, gateway, prefixlen, mtu)
        have = self.links.get(name)
        if have is None:
            self._next_index += 1
            self.links[name] = Link(self._next_index, "bridge", ((gateway, prefixlen),), True)
            return Setup(f"{BOOT}/{self._next_index}", True, "")
        if have.kind != "bridge":
            raise not_a_bridge(name)
        if not have.addresses:
            self.links[name] = Link(have.ifindex, "bridge", ((gateway, prefixlen),), True)
            return Setup(f"{BOOT}/{have.ifindex}", False, f"{gateway}/{prefixlen}")
        return Setup(f"{BOOT}/{have.ifindex}", False, "")

    def ensure_address6(self, name: str, gateway6: str, prefixlen6: int) -> None:
        self._call("ensure_address6", name, gateway6, prefixlen6)

    def delete_bridge(self, name: str, made: str) -> bool:
        self._call("delete_bridge", name, made)
        have = self.links.get(name)
        if have is None or f"{BOOT}/{have.ifindex}" != made:
            return False
        del self.links[name]
        return True

    def remove_address(self, name: str, added: str) -> None:
        self._call("remove_address", name, added)

    # ---- leases shared with other daemons --------------------------------
    def claim_address(self, bridge_name: str, addr: str, cid: str) -> bool:
        holder = self.claims.setdefault((bridge_name, addr), cid)
        return holder == cid

    def release_address(self, bridge_name: str, addr: str) -> None:
        self.claims.pop((bridge_name, addr), None)

    def drop_leases(self, bridge_name: str) -> None:
        self._call("drop_leases", bridge_name)

    # ---- netns and endpoints -----------------------------------------------
    def create_netns(self, cid: str) -> str:
        self._call("create_netns", cid)
        self.netns.add(cid[:12])
        return self.netns_path(cid)

    def delete_netns(self, cid: str) -> None:
        self._call("delete_netns", cid)
        self.netns.discard(cid[:12])
        self.foreign_netns.discard(cid[:12])
        # the kernel takes the container's veth ends with their netns
        for key in [k for k in self.endpoints if k[0][:12] == cid[:12]]:
            del self.endpoints[key]

    def leftover_netns(self) -> list[str]:
        return sorted(self.netns | self.foreign_netns)

    def netns_path(self, cid: str) -> str:
        return f"/fake/netns/berth-{cid[:12]}"

    def add_endpoint(self, ep: EndpointSpec) -> None:
        self._call("add_endpoint", ep)
        assert ep.bridge in self.links, f"no bridge {ep.bridge}"
        self.endpoints[(ep.cid, ep.ifname)] = ep

    def remove_endpoint(self, cid: str, ifname: str) -> None:
        self._call("remove_endpoint", cid, ifname)
        self.endpoints.pop((cid, ifname), None)

    # ---- iptables ----------------------------------------------------------
    def set_iptables(self, enabled: bool) -> None:
        self.iptables = enabled

    def add_bridge_rules(
        self, bridge_name: str, subnet: str, internal: bool, owner: str, icc: bool, masq: bool
    ) -> None:
        self._call("add_bridge_rules", bridge_name, subnet, internal, owner, icc, masq)
        self.bridge_rules.setdefault(bridge_name, []).append((owner, subnet, internal, icc, masq))

    def remove_bridge_rules(
        self, bridge_name: str, owner: str | None = None, legacy: bool = False
    ) -> None:
        self._call("remove_bridge_rules", bridge_name, owner, legacy)
        kept = [r for r in self.bridge_rules.get(bridge_name, []) if owner and r[0] != owner]
        self.bridge_rules[bridge_name] = kept
        if not kept:
            del self.bridge_rules[bridge_name]

    def add_port_rule(
        self,
        cid: str,
        bridge_name: str,
        proto: str,
        host_ip: str,
        host_port: int,
        ctr_ip: str,
        ctr_port: int,
    ) -> None:
        rule = (bridge_name, proto, host_ip, host_port, ctr_ip, ctr_port)
        self.port_rules.setdefault(cid, []).append(rule)

    def remove_port_rules(self, cid: str) -> None:
        self._call("remove_port_rules", cid)
        self.port_rules.pop(cid, None)

    # ---- published ports ---------------------------------------------------
    def set_userland_proxy(self, on: bool) -> None:
        self.proxy = on

    async def publish(self, b: Binding) -> Binding:
        self._call("publish", b)
        if b.host_port and (b.proto, b.host_ip, b.host_port) in self.published:
            raise SystemError_(
                f"Bind for {b.host_ip}:{b.host_port} failed: port is already allocated"
            )
        if not b.host_port:
            self._next_port += 1
            b.host_port = self._next_port
        self.published[(b.proto, b.host_ip, b.host_port)] = b
        return b

    def unpublish(self, b: Binding) -> None:
        self.published.pop((b.proto, b.host_ip, b.host_port), None)

    # ---- DNS -------------------------------------------------------------
    async def serve_dns(self, cid: str, lookup: Lookup, upstream: list[str]) -> FakeDns:
        self._call("serve_dns", cid)
        self.dns[cid] = FakeDns(cid, lookup, upstream)
        return self.dns[cid]

    # ---- facts -------------------------------------------------------------
    def routed_networks(self) -> list[ipaddress.IPv4Network]:
        return list(self.routed)

    def has_ipv6(self) -> bool:
        return self.ipv6

    def nameservers(self) -> list[str]:
        return ["192.0.2.53"]

    def enable_ip_forward(self) -> None:
        self.ip_forward = True
