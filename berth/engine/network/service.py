"""The network service: networks (default bridge, host, none, user-defined bridges),
container endpoints (netns, veth, address, route), published ports and /etc/hosts names.

Its parts, one concern each:

| module              | what                                                          |
|---------------------|---------------------------------------------------------------|
| `networks`          | predefined networks, list/inspect, create, remove, prune      |
| `create_rules`      | the checks of a create body, in dockerd's order and words     |
| `endpoints`         | plan at create, attach at start, connect/disconnect, detach   |
| `endpoint_rules`    | the checks of endpoint settings; the endpoint record          |
| `publish`, `names`, `links` | published ports; /etc/hosts and DNS; legacy links     |
| `ownership`         | what berth did to the host for a network, and undoing it      |
| `daemon_options`    | daemon.json's keys for the default bridge                     |
| `port`, `host`      | what the service needs of the host; the real one over `bridge` |
|                     | (netlink), `leasefiles`, `nat` (iptables), `portmap`, `dns`   |
| this module         | the service: daemon start (default bridge, leases), reconcile, |
|                     | shutdown                                                      |

All host work goes through `port.NetworkHost` (`host.RealHost` unless one is given), so
the rules above run in unit tests against a fake host (tests/unit/network/fake_host.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from berth.engine.db import Database
from berth.engine.network import bridge, daemon_options, ipam, names, ownership, publish
from berth.engine.network.base import ContainerRecords, EventSink
from berth.engine.network.endpoints import EndpointOps
from berth.engine.network.host import RealHost
from berth.engine.network.networks import NetworkCrud
from berth.engine.network.port import NetworkHost
from berth.engine.network.store import NetworkStore

log = logging.getLogger(__name__)


class NetworkService(NetworkCrud, EndpointOps):
    def __init__(
        self,
        db: Database,
        bridge_name: str = "berth0",
        *,
        containers: ContainerRecords,
        events: EventSink | None = None,
        options: Mapping[str, Any] | None = None,
        host: NetworkHost | None = None,
    ) -> None:
        self.store = NetworkStore(db)
        self.containers = containers
        self.events = events
        self.options = options or {}
        self.bridge_name = bridge_name or "berth0"
        self.host = host if host is not None else RealHost()
        self.leases = ipam.Leases()
        self._published = {}
        self._dns = {}
        self._link_env = {}
        self._unplugged = {}
        self._lock = asyncio.Lock()
        self._ensure_builtin()

    # ---- daemon start ----------------------------------------------------
    async def start(self) -> None:
        o = self.options
        self.host.set_iptables(daemon_options.opt_bool(o, "iptables", True))
        self.host.set_userland_proxy(daemon_options.opt_bool(o, "userland-proxy", True))
        if "ip-forward" in o and daemon_options.opt_bool(o, "ip-forward", True):
            # dockerd turns forwarding on for its networks to reach out; berth does only
            # when asked, since the host's forwarding is a host-wide policy
            await asyncio.to_thread(self.host.enable_ip_forward)
        await asyncio.to_thread(self._default_bridge)

    def _default_bridge(self) -> None:
        """Make (or adopt, when it exists: another daemon may share it, as dockerd adopts
        an existing --bridge) the default network's bridge now, so that its subnet is
        claimed in the host's routes before any other network picks one."""
        n = self.get("bridge")
        n.bridge = self.bridge_name
        o = self.options
        daemon_options.apply(n, o)
        have = self.host.find_link(n.bridge)
        if have is not None and have.kind != "bridge":
            raise bridge.not_a_bridge(n.bridge)
        others = [
            ipam.parse_subnet(x.subnet) for x in self.store.all() if x.subnet and x.id != n.id
        ]
        daemon_options.address(n, o, have, others, self.host.routed_networks)
        ownership.setup_bridge(self.store, self.host, n)

    def restore_leases(self) -> None:
        for net in self.store.all():
            self.leases.used(net.id).update(net.aux_addresses.values())
        for c in self.containers.all():
            if not c.state.running:
                continue
            for name, ep in (c.networks or {}).items():
                n = self.store.find(name)
                for key in ("IPAddress", "GlobalIPv6Address"):
                    if n is not None and ep.get(key):
                        self.leases.used(n.id).add(ep[key])

    async def reconcile(self, orphans: Iterable[str] = ()) -> None:
        """Published ports of running containers; a dead container's netns and veth; and
        the DNAT rules and netns of ORPHANS, the ids the container service found on disk
        without a record."""
        live = set()
        for c in self.containers.all():
            if c.state.running and c.networks:
                live.add(c.id[:12])
                try:
                    await publish.publish(self, c)
                    await names.start_dns(self, c)
                except Exception:  # noqa: BLE001 - the container runs on without them
                    log.exception("re-publishing the ports and DNS of %s", c.id)
            elif c.networks and any(ep.get("IPAddress") for ep in c.networks.values()):
                await self._teardown(c)
                self.containers.save(c)
        # and those of ids berth found on disk without a record (a crash mid-create or
        # mid-remove): only these, since other daemons' netns share the directory
        orphans = list(orphans)
        mine = {c.id[:12] for c in self.containers.all()} | {cid[:12] for cid in orphans}
        for cid in orphans:
            await asyncio.to_thread(self.host.remove_port_rules, cid)
        for short in self.host.leftover_netns():
            if short in mine and short not in live:
                await asyncio.to_thread(self.host.delete_netns, short)

    # ---- daemon stop -----------------------------------------------------
    async def shutdown(self, keep_rules: bool = False) -> None:
        """What berthd serves goes with it (DNS, the loopback port proxy). KEEP_RULES
        (live-restore): the kernel's part stays, so that running containers keep their
        networks and published ports while berthd is away."""
        for t in self._dns.values():
            t.close()
        self._dns.clear()
        for cid in list(self._published):
            for b in self._published.pop(cid):
                self.host.unpublish(b)
        if keep_rules:
            return
        # The default bridge stays, as dockerd keeps docker0: another daemon on this host
        # may share it, and one that saw "no ports" a moment before the other attached a
        # container would pull the master from under that container's veth. Each daemon's
        # rules for it carry its own tag and go with it (its containers stopped; the next
        # start adds them again): daemons come and go on a shared bridge without piling up
        # rules or taking each other's.
        for n in self.store.all():
            if n.driver == "bridge" and not n.user_defined:
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(self.host.remove_bridge_rules, n.bridge, n.id)
