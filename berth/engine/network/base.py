"""What the parts of the network service share: the store, the host, the leases, what
berthd serves per container, and what the engine gives the service at construction: the
container records (`containers`), the event bus (`events`) and daemon.json's options."""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Mapping
from typing import Any, Protocol

from berth.engine.errors import NotFound
from berth.engine.network import ipam
from berth.engine.network.model import Network
from berth.engine.network.port import Closable, EndpointSpec, NetworkHost
from berth.engine.network.portmap import Binding
from berth.engine.network.store import NetworkStore


class EventSink(Protocol):
    def publish(
        self, type_: str, action: str, actor_id: str, attributes: Mapping[str, str]
    ) -> Any: ...


class ContainerRecords(Protocol):
    """What the network service reads and writes of the containers: the container store."""

    def all(self) -> builtins.list[Any]: ...

    def get(self, ref: str) -> Any: ...

    def maybe(self, cid: str) -> Any | None: ...

    def save(self, c: Any) -> None: ...


class ServiceState:
    # daemon.json's network keys (bip, default-address-pools, icc, ip-forward, ip-masq,
    # iptables, userland-proxy, mtu, ipv6, fixed-cidr-v6); read at start()
    options: Mapping[str, Any]

    store: NetworkStore
    bridge_name: str
    host: NetworkHost
    leases: ipam.Leases
    # the containers' records (the engine's ContainerStore)
    containers: ContainerRecords
    # the event bus; None: no events
    events: EventSink | None
    # container id -> its published bindings
    _published: dict[str, builtins.list[Binding]]
    # container id -> its embedded DNS server
    _dns: dict[str, Closable]
    # container id -> the legacy links' variables for its process (made at attach)
    _link_env: dict[str, builtins.list[str]]
    # container id -> its endpoints leased at `prepare`, their interfaces not made yet
    _unplugged: dict[str, builtins.list[EndpointSpec]]
    # held while endpoints are made or taken down (addresses are picked under it)
    _lock: asyncio.Lock

    def get(self, ref: str) -> Network:
        n = self.store.find(ref)
        if n is None:
            raise NotFound(f"network {ref} not found")
        return n

    def _all_containers(self) -> builtins.list[Any]:
        return self.containers.all()

    def users(self, n: Network) -> builtins.list[str]:
        return [c.id for c in self._all_containers() if n.name in (c.networks or {})]

    def _user_net(self, name: str) -> bool:
        n = self.store.find(name)
        return n is not None and n.user_defined

    def _event(self, n: Network, action: str, container: str = "") -> None:
        """A network event as dockerd logs it (name and type; container for (dis)connect)."""
        if self.events is None:
            return
        attrs = {"name": n.name, "type": n.driver}
        if container:
            attrs["container"] = container
        self.events.publish("network", action, n.id, attrs)

    def _release(self, n: Network, addr: str) -> None:
        """ADDR back to N's pool, here and in the leases shared with other daemons."""
        self.leases.release(n.id, addr)
        self.host.release_address(n.bridge, addr)
