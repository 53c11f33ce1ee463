"""Container endpoints: planned at create, made at start (netns, veth, addresses, routes,
published ports, DNS), connected and disconnected while running, taken down at exit."""

from __future__ import annotations

import asyncio
import builtins
import ipaddress
import secrets
from typing import Any

from berth.engine import faults
from berth.engine.errors import Forbidden
from berth.engine.network import links, names, ownership, publish
from berth.engine.network.base import ServiceState
from berth.engine.network.endpoint_rules import (
    clear_endpoint,
    endpoint_config,
    mac_of,
    mode_network,
    normalize_links,
)
from berth.engine.network.model import Network
from berth.engine.network.port import EndpointSpec

_SHARED_NETNS = (
    "container sharing network namespace with another container or host cannot be "
    "connected to any other network"
)


class EndpointOps(ServiceState):
    def plan(self, c: Any, networking_config: dict[str, Any] | None) -> None:
        """At create: check the network mode and endpoint settings, record the endpoints."""
        hc = c.host_config
        primary = mode_network(hc.network_mode)
        eps = ((networking_config or {}).get("EndpointsConfig")) or {}
        c.networks = {}
        if primary is None:
            return
        n = self.store.find(primary)
        if n is None:
            # dockerd finds out at start (a 404 at create makes the CLI pull the image)
            c.networks[primary] = {"NetworkID": "", "IPAddress": ""}
            return
        if n.driver != "bridge":
            return
        cfg = eps.get(primary) or eps.get(hc.network_mode) or {}
        c.networks[n.name] = endpoint_config(c, n, cfg)
        hc.links = normalize_links(c, hc.links, n, lambda ref: self.containers.get(ref)) or None

    def link_env(self, c: Any) -> builtins.list[str]:
        """The legacy links' variables for C's process (the container service adds them to
        its environment at start)."""
        return list(self._link_env.get(c.id, []))

    def resolve(self, cid: str, qname: str, qtype: int = 1) -> builtins.list[str] | None:
        """For container CID's embedded DNS: see names.resolve."""
        return names.resolve(self, cid, qname, qtype)

    # ---- start and exit ---------------------------------------------------
    async def attach(self, c: Any) -> str | None:
        """At start: the container's netns with its endpoints and published ports; returns
        the netns path to join (None: not ours to network)."""
        self.plan_links(c)
        path = await self.prepare(c)
        if path is not None:
            await self.plug(c)
        return path

    def plan_links(self, c: Any) -> None:
        """At start, before C's process spec is made: the legacy links' variables it gets
        (`link_env`)."""
        if c.networks:
            self._link_env[c.id] = links.links_env(self.containers, c)

    async def prepare(self, c: Any) -> str | None:
        """At start, before the container's process is forked: its netns (which the process
        joins), its addresses and its published ports, so that what a user can get wrong
        fails before the process exists. `plug` then gives it its interfaces. Returns the
        netns path to join (None: not ours to network)."""
        if not c.networks:
            return None
        async with self._lock:
            try:
                await asyncio.to_thread(self.host.create_netns, c.id)
                specs = [
                    await self._lease(c, self.get(name), f"eth{i}", default_route=i == 0)
                    for i, name in enumerate(list(c.networks))
                ]
                self._unplugged[c.id] = specs
                await publish.publish(self, c)
            except BaseException:
                await self._teardown(c)
                raise
        return self.host.netns_path(c.id)

    async def plug(self, c: Any) -> None:
        """The rest of a start after `prepare`: the veth pairs into the netns, the embedded
        DNS server, /etc/hosts. It runs while the container's process is being set up (the
        process waits at its start gate for this to return)."""
        async with self._lock:
            specs = self._unplugged.pop(c.id, [])
            try:
                if specs:
                    await asyncio.to_thread(self._add_endpoints, specs)
                await names.start_dns(self, c)
            except BaseException:
                await self._teardown(c)
                raise
            names.refresh_hosts(self, c)
            for name in c.networks:
                self._event(self.get(name), "connect", c.id)

    def _add_endpoints(self, specs: builtins.list[EndpointSpec]) -> None:
        for spec in specs:
            self.host.add_endpoint(spec)

    async def detach(self, c: Any) -> None:
        """At exit (or a failed start): ports, endpoints, leases, the netns."""
        if not c.networks and c.id not in self._published:
            return
        joined = [n for n, ep in (c.networks or {}).items() if ep.get("IPAddress")]
        async with self._lock:
            await self._teardown(c)
        names.refresh_hosts(self, c)
        # dockerd logs a container's die before its network cleanup's disconnect; the exit
        # path publishes die as soon as this returns, without yielding, so queue these
        loop = asyncio.get_running_loop()
        for name in joined:
            n = self.store.find(name)
            if n is not None:
                loop.call_soon(self._event, n, "disconnect", c.id)

    # ---- while running --------------------------------------------------
    async def connect(self, c: Any, ref: str, cfg: dict[str, Any]) -> None:
        n = self.get(ref)
        if mode_network(c.host_config.network_mode) is None:
            raise Forbidden(_SHARED_NETNS)
        if n.name in (c.networks or {}):
            raise Forbidden(f"endpoint with name {c.name} already exists in network {n.name}")
        c.networks[n.name] = endpoint_config(c, n, cfg or {})
        if not c.state.running:
            return
        async with self._lock:
            try:
                used = {ep.get("Ifname") for ep in c.networks.values()}
                ifname = next(f"eth{i}" for i in range(64) if f"eth{i}" not in used)
                await self._join(c, n, ifname, default_route=False)
                faults.point("network:connect")
            except BaseException:
                c.networks.pop(n.name, None)
                raise
            await names.start_dns(self, c)
        names.refresh_hosts(self, c)
        self._event(n, "connect", c.id)

    async def disconnect(self, c: Any, ref: str, force: bool = False) -> None:
        n = self.get(ref)
        if n.name not in (c.networks or {}):
            raise Forbidden(f"container {c.id} is not connected to network {n.name}")
        ep = c.networks[n.name]
        if c.state.running and ep.get("IPAddress"):
            async with self._lock:
                await asyncio.to_thread(self.host.remove_endpoint, c.id, ep.get("Ifname", "eth0"))
                for key in ("IPAddress", "GlobalIPv6Address"):
                    if ep.get(key):
                        self._release(n, ep[key])
        del c.networks[n.name]
        names.refresh_hosts(self, c, extra_network=n.name)
        self._event(n, "disconnect", c.id)

    # ---- one endpoint ----------------------------------------------------
    def _take_addresses(self, c: Any, n: Network, ep: dict[str, Any]) -> tuple[str, str]:
        """C's IPv4 address on N and, on a dual-stack network, its IPv6 one (the ones
        asked for, else the first free), leased here and across daemons."""
        want = ep.get("IPAMConfig") or {}

        def claim(a: str) -> bool:
            return self.host.claim_address(n.bridge, a, c.id)

        v4 = want.get("IPv4Address") or ""
        ip = self.leases.take(n.id, n.subnet, n.gateway, n.ip_range, v4, claim)
        if not (n.enable_ipv6 and n.subnet6):
            return ip, ""
        try:
            v6 = want.get("IPv6Address") or ""
            return ip, self.leases.take(n.id, n.subnet6, n.gateway6, n.ip_range6, v6, claim)
        except BaseException:
            self._release(n, ip)
            raise

    async def _join(self, c: Any, n: Network, ifname: str, default_route: bool) -> None:
        spec = await self._lease(c, n, ifname, default_route)
        try:
            await asyncio.to_thread(self.host.add_endpoint, spec)
        except BaseException:
            for a in (spec.address, spec.address6):
                if a:
                    self._release(n, a)
            clear_endpoint(c.networks[n.name])
            raise

    async def _lease(self, c: Any, n: Network, ifname: str, default_route: bool) -> EndpointSpec:
        """C's endpoint on N, without its interface yet: the addresses leased and recorded
        on the endpoint; the spec of the interface to add."""
        ep = c.networks[n.name]
        if not self.host.bridge_exists(n.bridge):
            # gone (a reboot, another daemon's shutdown, an admin): berth makes it anew,
            # and so owns it from now on
            await ownership.setup_bridge_async(self.store, self.host, n)
        ip, ip6 = self._take_addresses(c, n, ep)
        spec = EndpointSpec(
            cid=c.id,
            bridge=n.bridge,
            ifname=ifname,
            address=ip,
            prefixlen=ipaddress.IPv4Network(n.subnet).prefixlen,
            gateway=n.gateway if not n.internal else "",
            mac=ep.get("MacAddress") or mac_of(ip),
            default_route=default_route,
            mtu=n.mtu,
            address6=ip6,
            prefixlen6=ipaddress.IPv6Network(n.subnet6).prefixlen if ip6 else 0,
            gateway6=n.gateway6 if ip6 and not n.internal else "",
            link_local=tuple((ep.get("IPAMConfig") or {}).get("LinkLocalIPs") or ()),
        )
        hostname = [c.config.hostname] if n.user_defined else []
        ep.update(
            EndpointID=secrets.token_hex(32),
            IPAddress=ip,
            IPPrefixLen=spec.prefixlen,
            Gateway=spec.gateway,
            MacAddress=spec.mac,
            GlobalIPv6Address=ip6,
            GlobalIPv6PrefixLen=spec.prefixlen6,
            IPv6Gateway=spec.gateway6,
            NetworkID=n.id,
            DNSNames=([c.name, *(ep.get("Aliases") or []), *hostname] if n.user_defined else None),
            Ifname=ifname,
        )
        return spec

    def _stop_serving(self, cid: str) -> builtins.list[Any]:
        """What berthd serves for CID goes (DNS, links' variables, port proxies); returns
        the bindings it had published."""
        t = self._dns.pop(cid, None)
        if t is not None:
            t.close()
        self._link_env.pop(cid, None)
        published = self._published.pop(cid, [])
        for b in published:
            self.host.unpublish(b)
        return published

    async def _teardown(self, c: Any) -> None:
        self._unplugged.pop(c.id, None)
        published = self._stop_serving(c.id)
        if published or any((c.ports or {}).values()):  # this berthd's, or a former one's
            await asyncio.to_thread(self.host.remove_port_rules, c.id)
        # the netns goes first: an address is handed out again only once nothing of the
        # old endpoint can answer for it. Unmounting the (now empty) namespace is enough:
        # the kernel destroys it, and its veth pairs with it, a moment later (as with
        # dockerd); deleting each veth here instead costs 15-40 ms (an RCU grace period)
        await asyncio.to_thread(self.host.delete_netns, c.id)
        for name, ep in (c.networks or {}).items():
            n = self.store.find(name)
            for key in ("IPAddress", "GlobalIPv6Address"):
                if ep.get(key) and n is not None:
                    self._release(n, ep[key])
            clear_endpoint(ep)
        c.ports = {}
