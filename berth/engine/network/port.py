"""What the network service needs from the host, as one protocol.

Everything that touches the machine goes through it: bridges and addresses (netlink),
named network namespaces and veth pairs, the address lease files shared with other
daemons, iptables (isolation, NAT, published ports), the userland port proxy, the
embedded DNS server and a few facts read from the host. `host.RealHost` implements it
over `bridge`, `nat`, `portmap` and `dns`; unit tests give the service an in-memory
fake. The methods doing netlink or iptables work block, and the service calls them in a
worker thread.
"""

from __future__ import annotations

import ipaddress
from typing import Protocol

from berth.engine.network.bridge import EndpointSpec, Link, Setup
from berth.engine.network.dns import Lookup
from berth.engine.network.portmap import Binding

__all__ = ["Closable", "EndpointSpec", "Lookup", "NetworkHost"]


class Closable(Protocol):
    def close(self) -> None: ...


class NetworkHost(Protocol):
    # ---- bridges and their addresses ------------------------------------
    def find_link(self, name: str) -> Link | None: ...

    def bridge_exists(self, name: str) -> bool: ...

    def ensure_bridge(self, name: str, gateway: str, prefixlen: int, mtu: int) -> Setup: ...

    def ensure_address6(self, name: str, gateway6: str, prefixlen6: int) -> None: ...

    def delete_bridge(self, name: str, made: str) -> bool: ...

    def remove_address(self, name: str, added: str) -> None: ...

    # ---- addresses leased across daemons sharing a bridge ---------------
    def claim_address(self, bridge_name: str, addr: str, cid: str) -> bool: ...

    def release_address(self, bridge_name: str, addr: str) -> None: ...

    def drop_leases(self, bridge: str) -> None: ...

    # ---- network namespaces and endpoints --------------------------------
    def create_netns(self, cid: str) -> str: ...

    def delete_netns(self, cid: str) -> None: ...

    def leftover_netns(self) -> list[str]:
        """The ids (the names' 12-character tails) of berth's netns found on the host."""
        ...

    def netns_path(self, cid: str) -> str: ...

    def add_endpoint(self, ep: EndpointSpec) -> None: ...

    def remove_endpoint(self, cid: str, ifname: str) -> None: ...

    # ---- iptables ------------------------------------------------------
    def set_iptables(self, enabled: bool) -> None: ...

    def add_bridge_rules(
        self, bridge_name: str, subnet: str, internal: bool, owner: str, icc: bool, masq: bool
    ) -> None: ...

    def remove_bridge_rules(
        self, bridge_name: str, owner: str | None = None, legacy: bool = False
    ) -> None: ...

    def add_port_rule(
        self,
        cid: str,
        bridge_name: str,
        proto: str,
        host_ip: str,
        host_port: int,
        ctr_ip: str,
        ctr_port: int,
    ) -> None: ...

    def remove_port_rules(self, cid: str) -> None: ...

    # ---- published ports (the userland proxy, or a held socket) ---------
    def set_userland_proxy(self, on: bool) -> None: ...

    async def publish(self, b: Binding) -> Binding: ...

    def unpublish(self, b: Binding) -> None: ...

    # ---- the embedded DNS server (127.0.0.11 in the container's netns) ---
    async def serve_dns(self, cid: str, lookup: Lookup, upstream: list[str]) -> Closable: ...

    # ---- facts about the host ------------------------------------------
    def routed_networks(self) -> list[ipaddress.IPv4Network]: ...

    def has_ipv6(self) -> bool: ...

    def nameservers(self) -> list[str]: ...

    def enable_ip_forward(self) -> None: ...
