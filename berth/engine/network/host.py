"""The real host behind `port.NetworkHost`: netlink (`bridge`), iptables (`nat`), the port
proxy (`portmap`), the embedded DNS server (`dns`) and /proc. Each call looks its module's
function up when it runs, so that a test patching one of them sees it used."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import socket

from berth.engine.network import bridge, dns, ipam, leasefiles, nat, portmap
from berth.engine.network.bridge import Link, Setup
from berth.engine.network.port import Closable, EndpointSpec, Lookup
from berth.engine.network.portmap import Binding, PortMapper


class RealHost:
    def __init__(self) -> None:
        self.ports = PortMapper()

    # ---- bridges and their addresses ------------------------------------
    def find_link(self, name: str) -> Link | None:
        return bridge.find_link(name)

    def bridge_exists(self, name: str) -> bool:
        return os.path.exists(f"/sys/class/net/{name}")

    def ensure_bridge(self, name: str, gateway: str, prefixlen: int, mtu: int) -> Setup:
        # the MTU is passed only when other than the default, so that an ensure_bridge
        # without the MTU option is called as before
        if mtu != bridge.MTU:
            return bridge.ensure_bridge(name, gateway, prefixlen, mtu)
        return bridge.ensure_bridge(name, gateway, prefixlen)

    def ensure_address6(self, name: str, gateway6: str, prefixlen6: int) -> None:
        bridge.ensure_address6(name, gateway6, prefixlen6)

    def delete_bridge(self, name: str, made: str) -> bool:
        return bridge.delete_bridge(name, made)

    def remove_address(self, name: str, added: str) -> None:
        bridge.remove_address(name, added)

    # ---- addresses leased across daemons sharing a bridge ---------------
    def claim_address(self, bridge_name: str, addr: str, cid: str) -> bool:
        return leasefiles.claim_address(bridge_name, addr, cid)

    def release_address(self, bridge_name: str, addr: str) -> None:
        leasefiles.release_address(bridge_name, addr)

    def drop_leases(self, bridge_name: str) -> None:
        leasefiles.drop_leases(bridge_name)

    # ---- network namespaces and endpoints --------------------------------
    def create_netns(self, cid: str) -> str:
        return bridge.create_netns(cid)

    def delete_netns(self, cid: str) -> None:
        bridge.delete_netns(cid)

    def leftover_netns(self) -> list[str]:
        return [ns[len(bridge.NETNS_PREFIX) :] for ns in bridge.leftover_netns()]

    def netns_path(self, cid: str) -> str:
        return bridge.netns_path(cid)

    def add_endpoint(self, ep: EndpointSpec) -> None:
        bridge.add_endpoint(ep)

    def remove_endpoint(self, cid: str, ifname: str) -> None:
        bridge.remove_endpoint(cid, ifname)

    # ---- iptables ------------------------------------------------------
    def set_iptables(self, enabled: bool) -> None:
        nat.ENABLED = enabled

    def add_bridge_rules(
        self, bridge_name: str, subnet: str, internal: bool, owner: str, icc: bool, masq: bool
    ) -> None:
        nat.add_bridge(bridge_name, subnet, internal, owner, icc, masq)

    def remove_bridge_rules(
        self, bridge_name: str, owner: str | None = None, legacy: bool = False
    ) -> None:
        nat.remove_bridge(bridge_name, owner=owner, legacy=legacy)

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
        nat.add_port(cid, bridge_name, proto, host_ip, host_port, ctr_ip, ctr_port)

    def remove_port_rules(self, cid: str) -> None:
        nat.remove_ports(cid)

    # ---- published ports -----------------------------------------------
    def set_userland_proxy(self, on: bool) -> None:
        self.ports.proxy = on

    async def publish(self, b: Binding) -> Binding:
        return await self.ports.publish(b)

    def unpublish(self, b: Binding) -> None:
        self.ports.unpublish(b)

    # ---- the embedded DNS server ----------------------------------------
    async def serve_dns(self, cid: str, lookup: Lookup, upstream: list[str]) -> Closable:
        path = bridge.netns_path(cid)
        sock = await asyncio.to_thread(dns.open_socket, path)
        try:
            tcp = await asyncio.to_thread(dns.open_socket, path, socket.SOCK_STREAM)
        except BaseException:
            sock.close()
            raise
        try:
            server: Closable = await dns.serve(sock, lookup, upstream, tcp)
        except BaseException:
            sock.close()
            tcp.close()
            raise
        return server

    # ---- facts about the host ------------------------------------------
    def routed_networks(self) -> list[ipaddress.IPv4Network]:
        return ipam.host_networks()

    def has_ipv6(self) -> bool:
        return portmap.host_has_ipv6()

    def nameservers(self) -> list[str]:
        return dns.host_nameservers()

    def enable_ip_forward(self) -> None:
        with contextlib.suppress(OSError), open("/proc/sys/net/ipv4/ip_forward", "w") as f:
            f.write("1")
