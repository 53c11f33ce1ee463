"""The network service: networks (default bridge, host, none, user-defined bridges),
container endpoints (netns, veth, address, route), published ports and /etc/hosts names."""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import ipaddress
import logging
import os
import secrets
from typing import Any

from berth.engine import faults, wire
from berth.engine.clock import rfc3339nano
from berth.engine.db import Database
from berth.engine.errors import (
    Conflict,
    Forbidden,
    InvalidParameter,
    NotFound,
    SystemError_,
)
from berth.engine.network import bridge, dns, hosts, ipam, nat
from berth.engine.network.model import BUILTIN, Network
from berth.engine.network.portmap import Binding, PortMapper
from berth.engine.network.store import NetworkStore

log = logging.getLogger(__name__)

_NOT_NETWORKED = ("host", "none")


def _mode_network(mode: str) -> str | None:
    """The network a container's NetworkMode puts it on (None: no endpoint of ours)."""
    if mode in ("", "default", "bridge"):
        return "bridge"
    if mode in _NOT_NETWORKED or mode.startswith("container:"):
        return None
    return mode


def _mac(ip: str) -> str:
    b = ipaddress.IPv4Address(ip).packed
    return "02:42:" + ":".join(f"{x:02x}" for x in b)


class NetworkService:
    def __init__(self, db: Database, bridge_name: str = "berth0") -> None:
        self.store = NetworkStore(db)
        self.bridge_name = bridge_name or "berth0"
        self.leases = ipam.Leases()
        self.ports = PortMapper()
        # container id -> its published bindings
        self._published: dict[str, list[Binding]] = {}
        # container id -> its embedded DNS server's transport
        self._dns: dict[str, Any] = {}
        # host ends of the veths this daemon made (shutdown waits for them to go)
        self.containers: Any = None  # the ContainerService (set by the engine)
        self._lock = asyncio.Lock()
        self._ensure_builtin()

    async def start(self) -> None:
        await asyncio.to_thread(self._default_bridge)

    def _default_bridge(self) -> None:
        """Make (or adopt, when it exists: another daemon may share it, as dockerd adopts
        an existing --bridge) the default network's bridge now, so that its subnet is
        claimed in the host's routes before any other network picks one."""
        n = self.get("bridge")
        n.bridge = self.bridge_name
        have = bridge.find_link(n.bridge)
        if have is not None and have.kind != "bridge":
            raise bridge.not_a_bridge(n.bridge)
        if have is not None and have.addresses:
            ip, plen = have.addresses[0]
            n.subnet, n.gateway = str(ipaddress.IPv4Network(f"{ip}/{plen}", strict=False)), ip
        else:
            others = [
                ipam.parse_subnet(x.subnet) for x in self.store.all() if x.subnet and x.id != n.id
            ]
            sub = ipaddress.IPv4Network(n.subnet)
            if any(sub.overlaps(h) for h in ipam.host_networks() + others):
                sub = ipam.pick_pool(others)
                n.subnet, n.gateway = str(sub), str(next(sub.hosts()))
        setup = bridge.ensure_bridge(n.bridge, n.gateway, ipaddress.IPv4Network(n.subnet).prefixlen)
        self._record(n, setup)
        self.store.save(n)
        nat.add_bridge(n.bridge, n.subnet, n.internal, n.id)

    # ---- what berth did to the host ------------------------------------
    def _record(self, n: Network, setup: bridge.Setup) -> None:
        """Note in N what ensure_bridge did (the caller saves N)."""
        if setup.created:
            n.made_link, n.added_address = setup.link, ""
        elif n.made_link != setup.link:
            # the bridge berth made for N (if any) is gone: this one is someone else's
            n.made_link = ""
        if setup.added_address:
            n.added_address = f"{setup.link}/{setup.added_address}"

    def _made_link(self, n: Network, link: bridge.Link | None) -> str:
        """The link id of N's bridge when berth made it, else ""."""
        if n.made_link is not None:
            return n.made_link
        # a record from before berth kept this: a bridge named after the network's own
        # fresh id (br-<id12>) cannot have existed before berth made it; any other name
        # may be someone else's and stays
        generated = (
            n.user_defined
            and n.bridge == "br-" + n.id[:12]
            and "com.docker.network.bridge.name" not in n.options
        )
        return link.id if generated and link is not None else ""

    def _undo_host(self, n: Network) -> None:
        """Blocking: take back what berth did to the host for N, and nothing else. An
        adopted bridge stays, with its own addresses; berth's rules and leases for it go."""
        made = self._made_link(n, bridge.find_link(n.bridge))
        deleted = bool(made) and bridge.delete_bridge(n.bridge, made)
        if not deleted and n.added_address:
            bridge.remove_address(n.bridge, n.added_address)
        nat.remove_bridge(n.bridge, owner=n.id, legacy=deleted)
        bridge.drop_leases(n.bridge)

    # ---- networks ------------------------------------------------------
    def _ensure_builtin(self) -> None:
        for name, driver in (("bridge", "bridge"), ("host", "host"), ("none", "null")):
            if self.store.find(name) is not None and self.store.find(name).name == name:  # type: ignore[union-attr]
                continue
            n = Network(
                id=secrets.token_hex(32),
                name=name,
                driver=driver,
                created=rfc3339nano(),
                made_link="",
            )
            if name == "bridge":
                taken = [ipam.parse_subnet(x.subnet) for x in self.store.all() if x.subnet]
                sub = ipam.pick_pool(taken)
                n.subnet, n.gateway = str(sub), str(next(sub.hosts()))
                n.bridge = self.bridge_name
                n.options = {
                    "com.docker.network.bridge.default_bridge": "true",
                    "com.docker.network.bridge.enable_icc": "true",
                    "com.docker.network.bridge.enable_ip_masquerade": "true",
                    "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
                    "com.docker.network.driver.mtu": "1500",
                }
            self.store.add(n)

    def get(self, ref: str) -> Network:
        n = self.store.find(ref)
        if n is None:
            raise NotFound(f"network {ref} not found")
        return n

    def list(self, filters: dict[str, list[str]] | None = None) -> list[Network]:
        out = []
        for n in self.store.all():
            f = filters or {}
            if "name" in f and not any(v in n.name for v in f["name"]):
                continue
            if "id" in f and not any(n.id.startswith(v) for v in f["id"]):
                continue
            if "driver" in f and n.driver not in f["driver"]:
                continue
            if "type" in f:
                kind = "custom" if n.user_defined else "builtin"
                if kind not in f["type"]:
                    continue
            if "label" in f and not all(_label_match(n.labels, v) for v in f["label"]):
                continue
            out.append(n)
        return out

    def attached(self, n: Network) -> dict[str, dict[str, Any]]:
        """Inspect's Containers: running endpoints on the network."""
        out: dict[str, dict[str, Any]] = {}
        for c in self.containers.all() if self.containers else []:
            ep = (c.networks or {}).get(n.name)
            if ep and ep.get("IPAddress"):
                out[c.id] = {
                    "Name": c.name,
                    "EndpointID": ep.get("EndpointID", ""),
                    "MacAddress": ep.get("MacAddress", ""),
                    "IPv4Address": f"{ep['IPAddress']}/{ep.get('IPPrefixLen', 0)}",
                    "IPv6Address": "",
                }
        return out

    def _event(self, n: Network, action: str, container: str = "") -> None:
        """A network event as dockerd logs it (name and type; container for (dis)connect).
        The bus is the container service's: the engine gives both the same one."""
        bus = getattr(self.containers, "events", None)
        if bus is None:
            return
        attrs = {"name": n.name, "type": n.driver}
        if container:
            attrs["container"] = container
        bus.publish("network", action, n.id, attrs)

    def users(self, n: Network) -> builtins.list[str]:
        return [
            c.id
            for c in (self.containers.all() if self.containers else [])
            if n.name in (c.networks or {})
        ]

    async def create(self, body: dict[str, Any]) -> tuple[Network, str]:
        name = body.get("Name") or ""
        if not isinstance(name, str) or not name:
            raise InvalidParameter("network name is required")
        driver = body.get("Driver") or "bridge"
        if driver != "bridge":
            raise NotFound(f'plugin "{driver}" not found')
        if name in BUILTIN:
            raise Forbidden(f"{name} is a pre-defined network and cannot be created")
        if any(n.name == name for n in self.store.all()):
            raise Conflict(f"network with name {name} already exists")
        cfgs = ((body.get("IPAM") or {}).get("Config")) or []
        taken = [ipam.parse_subnet(x.subnet) for x in self.store.all() if x.subnet]
        subnet = gateway = ip_range = ""
        if cfgs:
            c0 = cfgs[0]
            if c0.get("Subnet"):
                sub = ipam.parse_subnet(c0["Subnet"])
                ipam.check_overlap(sub, taken)
                subnet = str(sub)
            gateway, ip_range = c0.get("Gateway") or "", c0.get("IPRange") or ""
            if (gateway or ip_range) and not subnet:
                raise InvalidParameter("gateway or ip-range given without a subnet")
        if not subnet:
            subnet = str(ipam.pick_pool(taken))
        net = ipaddress.IPv4Network(subnet)
        if gateway:
            try:
                gw = ipaddress.IPv4Address(gateway)
            except ValueError as exc:
                raise InvalidParameter(f"invalid gateway address {gateway}") from exc
            if gw not in net:
                raise Forbidden(
                    f"invalid pool request: gateway address {gateway} does not belong to subnet {subnet}"
                )
        else:
            gateway = str(next(net.hosts()))
        if ip_range:
            r = ipam.parse_subnet(ip_range)
            if not r.subnet_of(net):
                raise Forbidden(
                    f"invalid pool request: ip-range {ip_range} does not belong to subnet {subnet}"
                )
            ip_range = str(r)
        nid = secrets.token_hex(32)
        opts = body.get("Options") or {}
        bname = opts.get("com.docker.network.bridge.name") or "br-" + nid[:12]
        for other in self.store.all():
            if other.driver == "bridge" and other.bridge == bname:
                raise Forbidden(
                    f"cannot create network {nid} ({bname}): conflicts with network "
                    f"{other.id} ({bname}): networks have same bridge name"
                )
        have = await asyncio.to_thread(bridge.find_link, bname)
        if have is not None and have.kind != "bridge":
            raise bridge.not_a_bridge(bname)
        n = Network(
            id=nid,
            name=name,
            driver="bridge",
            created=rfc3339nano(),
            subnet=subnet,
            gateway=gateway,
            ip_range=ip_range,
            internal=wire.field(body, "Internal", bool, "CreateRequest", False),
            labels=dict(body.get("Labels") or {}),
            options=dict(body.get("Options") or {}),
            bridge=bname,
            made_link="",
        )
        # the record exists, owning nothing, before the host is touched; it says berth made
        # the bridge only once the bridge is there
        self.store.add(n)
        try:
            setup = await asyncio.to_thread(
                bridge.ensure_bridge, n.bridge, n.gateway, net.prefixlen
            )
            self._record(n, setup)
            self.store.save(n)
            await asyncio.to_thread(nat.add_bridge, n.bridge, n.subnet, n.internal, n.id)
        except BaseException:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self._undo_host, n)
            self.store.remove(n.id)
            raise
        self._event(n, "create")
        return n, ""

    async def remove(self, ref: str) -> None:
        n = self.get(ref)
        if not n.user_defined:
            raise Forbidden(f"{n.name} is a pre-defined network and cannot be removed")
        if self.users(n):
            raise Forbidden(
                f"error while removing network: network {n.name} id {n.id} has active endpoints"
            )
        # host first, record last: a crash in between leaves a record whose link id no
        # longer names a link, which a second rm then skips
        await asyncio.to_thread(self._undo_host, n)
        self.store.remove(n.id)
        self._event(n, "destroy")

    async def prune(self) -> builtins.list[str]:
        gone: builtins.list[str] = []
        for n in self.store.all():
            if n.user_defined and not self.users(n):
                await self.remove(n.id)
                gone.append(n.name)
        return gone

    # ---- containers ----------------------------------------------------
    def plan(self, c: Any, networking_config: dict[str, Any] | None) -> None:
        """At create: check the network mode and endpoint settings, record the endpoints."""
        hc = c.host_config
        primary = _mode_network(hc.network_mode)
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
        c.networks[n.name] = self._endpoint_config(c, n, cfg)

    def _endpoint_config(self, c: Any, n: Network, cfg: dict[str, Any]) -> dict[str, Any]:
        want = ((cfg.get("IPAMConfig") or {}).get("IPv4Address")) or ""
        aliases = list(cfg.get("Aliases") or [])
        if not n.user_defined and (want or aliases):
            if want:
                raise InvalidParameter(
                    "user specified IP address is supported on user defined networks only"
                )
            raise InvalidParameter(
                "network-scoped alias is supported only for containers in user defined networks"
            )
        if want:
            try:
                addr = ipaddress.IPv4Address(want)
            except ValueError as exc:
                raise InvalidParameter(f"invalid IPv4 address: {want}") from exc
            if addr not in ipaddress.IPv4Network(n.subnet):
                raise InvalidParameter(
                    f"Invalid address {want}: It does not belong to any of this network's subnets"
                )
        return {
            "IPAMConfig": {"IPv4Address": want} if want else None,
            "Links": None,
            "Aliases": aliases or None,
            "MacAddress": cfg.get("MacAddress") or getattr(c.config, "mac_address", "") or "",
            "NetworkID": n.id,
            "EndpointID": "",
            "Gateway": "",
            "IPAddress": "",
            "IPPrefixLen": 0,
            "IPv6Gateway": "",
            "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0,
            "DriverOpts": None,
            "DNSNames": None,
        }

    async def attach(self, c: Any) -> str | None:
        """At start: the container's netns with its endpoints and published ports; returns
        the netns path to join (None: not ours to network)."""
        if not c.networks:
            return None
        async with self._lock:
            try:
                await asyncio.to_thread(bridge.create_netns, c.id)
                for i, name in enumerate(list(c.networks)):
                    await self._join(c, self.get(name), f"eth{i}", default_route=i == 0)
                await self._publish(c)
                await self._start_dns(c)
            except BaseException:
                await self._teardown(c)
                raise
            self._refresh_hosts(c)
            for name in c.networks:
                self._event(self.get(name), "connect", c.id)
            return bridge.netns_path(c.id)

    async def _join(self, c: Any, n: Network, ifname: str, default_route: bool) -> None:
        ep = c.networks[n.name]
        net = ipaddress.IPv4Network(n.subnet)
        if not os.path.exists(f"/sys/class/net/{n.bridge}"):
            # gone (a reboot, another daemon's shutdown, an admin): berth makes it anew,
            # and so owns it from now on
            setup = await asyncio.to_thread(
                bridge.ensure_bridge, n.bridge, n.gateway, net.prefixlen
            )
            self._record(n, setup)
            self.store.save(n)
            await asyncio.to_thread(nat.add_bridge, n.bridge, n.subnet, n.internal, n.id)
        want = (ep.get("IPAMConfig") or {}).get("IPv4Address") or ""
        ip = self.leases.take(
            n.id,
            n.subnet,
            n.gateway,
            n.ip_range,
            want,
            lambda a: bridge.claim_address(n.bridge, a, c.id),
        )
        mac = ep.get("MacAddress") or _mac(ip)
        try:
            await asyncio.to_thread(
                bridge.add_endpoint,
                c.id,
                n.bridge,
                ifname,
                ip,
                net.prefixlen,
                n.gateway if not n.internal else "",
                mac,
                default_route,
            )
        except BaseException:
            self.leases.release(n.id, ip)
            bridge.release_address(n.bridge, ip)
            raise
        names = [c.config.hostname] if n.user_defined else []
        ep.update(
            EndpointID=secrets.token_hex(32),
            IPAddress=ip,
            IPPrefixLen=net.prefixlen,
            Gateway=n.gateway if not n.internal else "",
            MacAddress=mac,
            NetworkID=n.id,
            DNSNames=([c.name, *(ep.get("Aliases") or []), *names] if n.user_defined else None),
            Ifname=ifname,
        )

    async def _publish(self, c: Any) -> None:
        net_name, ep = next(iter(c.networks.items()))
        ctr_ip = ep["IPAddress"]
        n = self.store.find(net_name)
        dnat_bridge = n.bridge if n is not None and n.driver == "bridge" else ""
        bindings = dict(c.host_config.port_bindings or {})
        if c.host_config.publish_all_ports:
            for key in c.config.exposed_ports or {}:
                bindings.setdefault(key, [{"HostIp": "", "HostPort": ""}])
        c.ports = {}
        for key in c.config.exposed_ports or {}:
            c.ports[key] = None
        pubs: list[Binding] = self._published.setdefault(c.id, [])
        for key, hbs in bindings.items():
            port, _, proto = key.partition("/")
            proto = proto or "tcp"
            out = []
            for hb in hbs or [{}]:
                hp = str((hb or {}).get("HostPort") or "")
                lo, _, hi = hp.partition("-")
                host_port = int(lo) if lo else 0
                b = Binding(proto, (hb or {}).get("HostIp") or "", host_port, ctr_ip, int(port))
                try:
                    b = await self.ports.publish(b)
                except SystemError_ as exc:
                    raise SystemError_(
                        f"driver failed programming external connectivity on endpoint {c.name} "
                        f"({ep['EndpointID']}): {exc.message}"
                    ) from exc
                pubs.append(b)
                if dnat_bridge:
                    await asyncio.to_thread(
                        nat.add_port, c.id, dnat_bridge, proto, b.host_ip, b.host_port,
                        ctr_ip, int(port),
                    )  # fmt: skip
                out.append({"HostIp": b.host_ip, "HostPort": str(b.host_port)})
            c.ports[f"{port}/{proto}"] = out

    async def _start_dns(self, c: Any) -> None:
        """Containers on a user-defined network ask the embedded DNS server (dockerd's)."""
        if not any(self._user_net(name) for name in c.networks) or c.id in self._dns:
            return
        sock = await asyncio.to_thread(dns.open_socket, bridge.netns_path(c.id))
        hc = c.host_config
        upstream = list(hc.dns or []) or dns.host_nameservers()
        try:
            self._dns[c.id] = await dns.serve(sock, lambda q: self.resolve(c.id, q), upstream)
        except BaseException:
            sock.close()
            raise
        if c.resolv_conf_path:
            with contextlib.suppress(OSError):
                hosts.write_in_place(
                    c.resolv_conf_path, dns.resolv_conf(hc.dns_search, hc.dns_options)
                )

    def _user_net(self, name: str) -> bool:
        n = self.store.find(name)
        return n is not None and n.user_defined

    def resolve(self, cid: str, qname: str) -> builtins.list[str] | None:
        """Addresses of the containers named QNAME (name, alias, short id) on the networks
        of container CID; None when no container has that name."""
        me = self.containers.store.maybe(cid) if self.containers else None
        if me is None:
            return None
        q = qname.rstrip(".").lower()
        found: builtins.list[str] = []
        for name, _ep in (me.networks or {}).items():
            if not self._user_net(name):
                continue
            for o in self.containers.all():
                oep = (o.networks or {}).get(name)
                if not oep or not oep.get("IPAddress") or not o.state.running:
                    continue
                names = {o.name.lower(), o.id[:12], *(a.lower() for a in oep.get("Aliases") or [])}
                if q in names and oep["IPAddress"] not in found:
                    found.append(oep["IPAddress"])
        return found or None

    async def detach(self, c: Any) -> None:
        """At exit (or a failed start): ports, endpoints, leases, the netns."""
        if not c.networks and c.id not in self._published:
            return
        joined = [n for n, ep in (c.networks or {}).items() if ep.get("IPAddress")]
        async with self._lock:
            await self._teardown(c)
        self._refresh_hosts(c)
        # dockerd logs a container's die before its network cleanup's disconnect; the exit
        # path publishes die as soon as this returns, without yielding, so queue these
        loop = asyncio.get_running_loop()
        for name in joined:
            n = self.store.find(name)
            if n is not None:
                loop.call_soon(self._event, n, "disconnect", c.id)

    async def _teardown(self, c: Any) -> None:
        ifs = [ep["Ifname"] for ep in (c.networks or {}).values() if ep.get("Ifname")]
        t = self._dns.pop(c.id, None)
        if t is not None:
            t.close()
        published = self._published.pop(c.id, [])
        for b in published:
            self.ports.unpublish(b)
        if published or any((c.ports or {}).values()):  # this berthd's, or a former one's
            await asyncio.to_thread(nat.remove_ports, c.id)
        # the netns goes first: an address is handed out again only once nothing of the
        # old endpoint can answer for it
        await asyncio.to_thread(_drop_netns, c.id, ifs or ["eth0"])
        for name, ep in (c.networks or {}).items():
            n = self.store.find(name)
            if ep.get("IPAddress") and n is not None:
                self.leases.release(n.id, ep["IPAddress"])
                bridge.release_address(n.bridge, ep["IPAddress"])
            for k in ("EndpointID", "IPAddress", "Gateway", "MacAddress"):
                ep[k] = ""
            ep["IPPrefixLen"] = 0
            ep["DNSNames"] = None
            ep.pop("Ifname", None)
        c.ports = {}

    async def connect(self, c: Any, ref: str, cfg: dict[str, Any]) -> None:
        n = self.get(ref)
        mode = c.host_config.network_mode
        if _mode_network(mode) is None:
            raise Forbidden(
                "container sharing network namespace with another container or host cannot be connected to any other network"
            )
        if n.name in (c.networks or {}):
            raise Forbidden(f"endpoint with name {c.name} already exists in network {n.name}")
        ep = self._endpoint_config(c, n, cfg or {})
        c.networks[n.name] = ep
        if c.state.running:
            async with self._lock:
                try:
                    used = {ep.get("Ifname") for ep in c.networks.values()}
                    ifname = next(f"eth{i}" for i in range(64) if f"eth{i}" not in used)
                    await self._join(c, n, ifname, default_route=False)
                    faults.point("network:connect")
                except BaseException:
                    c.networks.pop(n.name, None)
                    raise
                await self._start_dns(c)
            self._refresh_hosts(c)
            self._event(n, "connect", c.id)

    async def disconnect(self, c: Any, ref: str, force: bool = False) -> None:
        n = self.get(ref)
        if n.name not in (c.networks or {}):
            raise Forbidden(f"container {c.id} is not connected to network {n.name}")
        ep = c.networks[n.name]
        if c.state.running and ep.get("IPAddress"):
            async with self._lock:
                await asyncio.to_thread(bridge.remove_endpoint, c.id, ep.get("Ifname", "eth0"))
                self.leases.release(n.id, ep["IPAddress"])
                bridge.release_address(n.bridge, ep["IPAddress"])
        del c.networks[n.name]
        self._refresh_hosts(c, extra_network=n.name)
        self._event(n, "disconnect", c.id)

    # ---- names ---------------------------------------------------------
    def _refresh_hosts(self, changed: Any, extra_network: str = "") -> None:
        """Rewrite /etc/hosts of every running container sharing a network with CHANGED."""
        if self.containers is None:
            return
        nets = set(changed.networks or {}) | ({extra_network} if extra_network else set())
        everyone = [c for c in self.containers.all() if c.state.running or c.id == changed.id]
        for c in everyone:
            if c.id != changed.id and not nets & set(c.networks or {}):
                continue
            if not c.hosts_path:
                continue
            own = [ep["IPAddress"] for ep in (c.networks or {}).values() if ep.get("IPAddress")]
            peers: list[tuple[str, list[str]]] = []
            for name, ep in (c.networks or {}).items():
                n = self.store.find(name)
                if n is None or not n.user_defined or not ep.get("IPAddress"):
                    continue
                for o in everyone:
                    oep = (o.networks or {}).get(name)
                    if o.id == c.id or not oep or not oep.get("IPAddress"):
                        continue
                    names = [o.name, *(oep.get("Aliases") or []), o.id[:12]]
                    peers.append((oep["IPAddress"], list(dict.fromkeys(names))))
            default = self.store.find("bridge")
            text = hosts.render(
                c.config.hostname,
                c.host_config.extra_hosts,
                own,
                peers,
                default.gateway if default is not None else "",
            )
            with contextlib.suppress(OSError):
                hosts.write_in_place(c.hosts_path, text)

    # ---- daemon start / stop ------------------------------------------
    def restore_leases(self) -> None:
        for c in self.containers.all():
            if c.state.running:
                for name, ep in (c.networks or {}).items():
                    n = self.store.find(name)
                    if n is not None and ep.get("IPAddress"):
                        self.leases.used(n.id).add(ep["IPAddress"])

    async def reconcile(self) -> None:
        """Published ports of running containers; a dead container's netns and veth."""
        live = set()
        for c in self.containers.all():
            if c.state.running and c.networks:
                live.add(bridge.netns_name(c.id))
                try:
                    await self._publish(c)
                    await self._start_dns(c)
                except Exception:  # noqa: BLE001 - the container runs on without them
                    log.exception("re-publishing the ports and DNS of %s", c.id)
            elif c.networks and any(ep.get("IPAddress") for ep in c.networks.values()):
                await self._teardown(c)
                self.containers.store.save(c)
        # and those of ids berth found on disk without a record (a crash mid-create or
        # mid-remove): only these, since other daemons' netns share the directory
        mine = {bridge.netns_name(c.id) for c in self.containers.all()}
        mine |= {bridge.netns_name(cid) for cid in getattr(self.containers, "orphans", ())}
        for cid in getattr(self.containers, "orphans", ()):
            await asyncio.to_thread(nat.remove_ports, cid)
        for ns in bridge.leftover_netns():
            if ns in mine and ns not in live:
                await asyncio.to_thread(bridge.delete_netns, ns[len(bridge.NETNS_PREFIX) :])

    async def shutdown(self, keep_rules: bool = False) -> None:
        """What berthd serves goes with it (DNS, the loopback port proxy). KEEP_RULES
        (live-restore): the kernel's part stays, so that running containers keep their
        networks and published ports while berthd is away."""
        for t in self._dns.values():
            t.close()
        self._dns.clear()
        for cid in list(self._published):
            for b in self._published.pop(cid):
                self.ports.unpublish(b)
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
                    await asyncio.to_thread(nat.remove_bridge, n.bridge, n.id)


def _label_match(labels: dict[str, str], spec: str) -> bool:
    k, eq, v = spec.partition("=")
    return k in labels and (not eq or labels[k] == v)


def _drop_netns(cid: str, ifnames: builtins.list[str]) -> None:
    """Unmounting the (now empty) namespace is enough: the kernel destroys it, and its
    veth pairs with it, a moment later (as with dockerd). Deleting each veth here instead
    costs 15-40 ms (an RCU grace period) on every container exit."""
    bridge.delete_netns(cid)
