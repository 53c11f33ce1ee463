"""The network service: networks (default bridge, host, none, user-defined bridges),
container endpoints (netns, veth, address, route), published ports and /etc/hosts names."""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import ipaddress
import logging
import os
import re
import secrets
import socket
import time
from typing import Any

from berth.engine import faults, wire
from berth.engine.clock import parse_rfc3339, rfc3339nano
from berth.engine.db import Database
from berth.engine.errors import (
    Conflict,
    Forbidden,
    InvalidParameter,
    NotFound,
    SystemError_,
)
from berth.engine.network import bridge, dns, hosts, ipam, nat, portmap
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


# The bridge driver's options (com.docker.network.bridge.* and driver.mtu)
OPT_NAME = "com.docker.network.bridge.name"
OPT_ICC = "com.docker.network.bridge.enable_icc"
OPT_MASQ = "com.docker.network.bridge.enable_ip_masquerade"
OPT_HOST_IP = "com.docker.network.bridge.host_binding_ipv4"
OPT_MTU = "com.docker.network.driver.mtu"


class NetworkService:
    # daemon.json's network keys (bip, default-address-pools, icc, ip-forward, ip-masq,
    # iptables, userland-proxy, mtu, ipv6, fixed-cidr-v6), as the engine hands them over
    # right after making the service; read at start()
    options: dict[str, Any] = {}

    def __init__(self, db: Database, bridge_name: str = "berth0") -> None:
        self.store = NetworkStore(db)
        self.bridge_name = bridge_name or "berth0"
        self.leases = ipam.Leases()
        self.ports = PortMapper()
        # container id -> its published bindings
        self._published: dict[str, list[Binding]] = {}
        # container id -> its embedded DNS server's transport
        self._dns: dict[str, Any] = {}
        # container id -> the legacy links' variables for its process (made at attach)
        self._link_env: dict[str, builtins.list[str]] = {}
        # host ends of the veths this daemon made (shutdown waits for them to go)
        self.containers: Any = None  # the ContainerService (set by the engine)
        self._lock = asyncio.Lock()
        self._ensure_builtin()

    async def start(self) -> None:
        o = self.options or {}
        nat.ENABLED = _opt_bool(o, "iptables", True)
        self.ports.proxy = _opt_bool(o, "userland-proxy", True)
        if "ip-forward" in o and _opt_bool(o, "ip-forward", True):
            # dockerd turns forwarding on for its networks to reach out; berth does only
            # when asked, since the host's forwarding is a host-wide policy
            await asyncio.to_thread(_sysctl, "net/ipv4/ip_forward", "1")
        await asyncio.to_thread(self._default_bridge)

    def _apply_daemon_options(self, n: Network) -> None:
        """daemon.json's keys for the default bridge (dockerd applies them to it alone)."""
        o = self.options or {}
        if "icc" in o:
            n.options[OPT_ICC] = "true" if _opt_bool(o, "icc", True) else "false"
        if "ip-masq" in o:
            n.options[OPT_MASQ] = "true" if _opt_bool(o, "ip-masq", True) else "false"
        if o.get("mtu"):
            n.options[OPT_MTU] = str(int(o["mtu"]))
        if o.get("ip"):
            n.options[OPT_HOST_IP] = str(o["ip"])
        if _opt_bool(o, "ipv6", False):
            n.enable_ipv6 = True
            if o.get("fixed-cidr-v6"):
                sub6 = ipam.parse_subnet6(str(o["fixed-cidr-v6"]))
                n.subnet6, n.gateway6 = str(sub6), str(next(sub6.hosts()))
            elif not n.subnet6:
                sub6 = ipam.pick_pool6([])
                n.subnet6, n.gateway6 = str(sub6), str(next(sub6.hosts()))
        else:
            n.enable_ipv6, n.subnet6, n.gateway6 = False, "", ""

    def _default_bridge(self) -> None:
        """Make (or adopt, when it exists: another daemon may share it, as dockerd adopts
        an existing --bridge) the default network's bridge now, so that its subnet is
        claimed in the host's routes before any other network picks one."""
        n = self.get("bridge")
        n.bridge = self.bridge_name
        self._apply_daemon_options(n)
        o = self.options or {}
        have = bridge.find_link(n.bridge)
        if have is not None and have.kind != "bridge":
            raise bridge.not_a_bridge(n.bridge)
        if o.get("bip"):
            # --bip: the bridge's own address and, from it, the network's subnet
            try:
                iface = ipaddress.IPv4Interface(str(o["bip"]))
            except ValueError as exc:
                raise InvalidParameter(f"invalid bip: {o['bip']}") from exc
            n.subnet, n.gateway = str(iface.network), str(iface.ip)
        elif have is not None and have.addresses:
            ip, plen = have.addresses[0]
            n.subnet, n.gateway = str(ipaddress.IPv4Network(f"{ip}/{plen}", strict=False)), ip
        else:
            others = [
                ipam.parse_subnet(x.subnet) for x in self.store.all() if x.subnet and x.id != n.id
            ]
            sub = ipaddress.IPv4Network(n.subnet)
            pools = o.get("default-address-pools") or None
            outside = pools is not None and not any(
                sub.subnet_of(p) for p in ipam.default_pools(pools)
            )
            if outside or any(sub.overlaps(h) for h in ipam.host_networks() + others):
                sub = ipam.pick_pool(others, pools)
                n.subnet, n.gateway = str(sub), str(next(sub.hosts()))
        setup = _ensure_bridge(n)
        self._record(n, setup)
        self.store.save(n)
        self._host_side(n)

    def _host_side(self, n: Network) -> None:
        """Blocking: N's IPv6 gateway on its bridge, and its rules."""
        if n.enable_ipv6 and n.gateway6:
            bridge.ensure_address6(n.bridge, n.gateway6, ipaddress.IPv6Network(n.subnet6).prefixlen)
        nat.add_bridge(
            n.bridge, n.subnet, n.internal, n.id, n.opt_bool(OPT_ICC), n.opt_bool(OPT_MASQ)
        )

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
                    "IPv6Address": (
                        f"{ep['GlobalIPv6Address']}/{ep.get('GlobalIPv6PrefixLen', 0)}"
                        if ep.get("GlobalIPv6Address")
                        else ""
                    ),
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
        if not isinstance(name, str):
            raise InvalidParameter("network name is required")
        if name in BUILTIN:
            # dockerd checks this first, whatever the driver
            raise Forbidden(f"{name} is a pre-defined network and cannot be created")
        driver = body.get("Driver") or "bridge"
        if driver in ("host", "null"):
            # one host and one null network per daemon: the predefined ones
            raise Forbidden(f'only one instance of "{driver}" network is allowed')
        if driver != "bridge":
            raise NotFound(f'plugin "{driver}" not found')
        if not name.strip():
            # libnetwork's ErrInvalidName (config.IsValidName: a name of blanks only)
            raise InvalidParameter(f"invalid name: {name}")
        # dockerd 25+ refuses a duplicate whatever CheckDuplicate says (API 1.44 dropped
        # the field; older clients sending false get the same 409)
        if any(n.name == name for n in self.store.all()):
            raise Conflict(f"network with name {name} already exists")
        ipam_body = body.get("IPAM") or {}
        if (ipam_body.get("Driver") or "default") != "default":
            raise NotFound(f'plugin "{ipam_body["Driver"]}" not found')
        # what berth does not do is refused, not taken and dropped
        if body.get("Ingress"):
            raise Forbidden("ingress networks are a swarm feature: berth has no swarm")
        if body.get("ConfigOnly") or (body.get("ConfigFrom") or {}).get("Network"):
            raise InvalidParameter(
                "config-only networks (--config-only, --config-from) are not supported by berth"
            )
        if (body.get("Scope") or "local") != "local":
            raise InvalidParameter(
                f"scope {body['Scope']!r} is not supported by berth: its networks are local"
            )
        if body.get("EnableIPv4") is False:
            raise InvalidParameter("IPv4 cannot be disabled: berth's networks always have IPv4")
        opts = dict(body.get("Options") or {})
        for key in (OPT_ICC, OPT_MASQ):
            if opts.get(key, "true").lower() not in _GO_BOOLS:
                raise InvalidParameter(f"failed to parse {key} value: invalid syntax")
        if opts.get(OPT_MTU):
            try:
                if not 68 <= int(opts[OPT_MTU]) <= 65535:
                    raise ValueError(opts[OPT_MTU])
            except ValueError as exc:
                raise InvalidParameter(
                    f"invalid MTU value {opts[OPT_MTU]!r}: it must be a number from 68 to 65535"
                ) from exc
        if opts.get(OPT_HOST_IP):
            try:
                ipaddress.IPv4Address(opts[OPT_HOST_IP])
            except ValueError as exc:
                raise InvalidParameter(
                    f"failed to parse {OPT_HOST_IP} value: {opts[OPT_HOST_IP]}"
                ) from exc
        enable6 = wire.field(body, "EnableIPv6", bool, "CreateRequest", False) is True
        all_cfgs = ((body.get("IPAM") or {}).get("Config")) or []
        cfgs = [c for c in all_cfgs if not ipam.is_v6(c.get("Subnet") or "")]
        cfgs6 = [c for c in all_cfgs if ipam.is_v6(c.get("Subnet") or "")]
        if cfgs6 and not enable6:
            raise InvalidParameter(
                "invalid network config: IPv6 subnet configured but IPv6 is not enabled "
                "(use --ipv6)"
            )
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
            subnet = str(ipam.pick_pool(taken, (self.options or {}).get("default-address-pools")))
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
        subnet6, gateway6, ip_range6 = self._ipv6_config(cfgs6) if enable6 else ("", "", "")
        aux: dict[str, str] = {}
        for cfg in all_cfgs:
            for host, addr in (cfg.get("AuxiliaryAddresses") or {}).items():
                try:
                    a = ipaddress.ip_address(addr)
                except ValueError as exc:
                    raise InvalidParameter(f"invalid auxiliary address {host}={addr}") from exc
                pool = subnet6 if a.version == 6 else subnet
                if not pool or a not in ipaddress.ip_network(pool):
                    raise Forbidden(
                        f"invalid pool request: auxiliary address: ({host}:{addr}) must "
                        f"belong to the master pool: {pool}"
                    )
                aux[host] = str(a)
        nid = secrets.token_hex(32)
        bname = opts.get(OPT_NAME) or "br-" + nid[:12]
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
            options=opts,
            bridge=bname,
            made_link="",
            enable_ipv6=enable6,
            subnet6=subnet6,
            gateway6=gateway6,
            ip_range6=ip_range6,
            attachable=bool(body.get("Attachable")),
            ipam_options={str(k): str(v) for k, v in (ipam_body.get("Options") or {}).items()},
            aux_addresses=aux,
        )
        self.leases.used(n.id).update(aux.values())
        # the record exists, owning nothing, before the host is touched; it says berth made
        # the bridge only once the bridge is there
        self.store.add(n)
        try:
            setup = await asyncio.to_thread(_ensure_bridge, n)
            self._record(n, setup)
            self.store.save(n)
            await asyncio.to_thread(self._host_side, n)
        except BaseException:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self._undo_host, n)
            self.store.remove(n.id)
            raise
        self._event(n, "create")
        return n, ""

    def _ipv6_config(self, cfgs6: builtins.list[dict[str, Any]]) -> tuple[str, str, str]:
        """(subnet, gateway, ip range) of a network's IPv6 side: the config given, else a
        unique-local /64 of its own."""
        taken6 = [
            ipam.parse_subnet6(x.subnet6) for x in self.store.all() if x.enable_ipv6 and x.subnet6
        ]
        c6 = cfgs6[0] if cfgs6 else {}
        if c6.get("Subnet"):
            sub6 = ipam.parse_subnet6(c6["Subnet"])
            ipam.check_overlap(sub6, taken6)  # type: ignore[arg-type]
        else:
            sub6 = ipam.pick_pool6(taken6)
        gw6 = c6.get("Gateway") or ""
        if gw6:
            try:
                ok = ipaddress.IPv6Address(gw6) in sub6
            except ValueError as exc:
                raise InvalidParameter(f"invalid gateway address {gw6}") from exc
            if not ok:
                raise Forbidden(
                    f"invalid pool request: gateway address {gw6} does not belong to subnet {sub6}"
                )
        else:
            gw6 = str(next(sub6.hosts()))
        r6 = c6.get("IPRange") or ""
        if r6:
            rr = ipam.parse_subnet6(r6)
            if not rr.subnet_of(sub6):
                raise Forbidden(
                    f"invalid pool request: ip-range {r6} does not belong to subnet {sub6}"
                )
            r6 = str(rr)
        return str(sub6), gw6, r6

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

    async def prune(
        self, filters: dict[str, builtins.list[str]] | None = None
    ) -> builtins.list[str]:
        """The user-defined networks no container uses (stopped ones count as users, as in
        dockerd), narrowed by FILTERS: until (created before), label, label!."""
        f = filters or {}
        for key in f:
            if key not in ("until", "label", "label!"):
                raise InvalidParameter(f"invalid filter '{key}'")
        until = _until(f.get("until") or [])
        gone: builtins.list[str] = []
        for n in self.store.all():
            if not n.user_defined or self.users(n):
                continue
            if until is not None and parse_rfc3339(n.created) >= until:
                continue
            if not all(_label_match(n.labels, v) for v in f.get("label") or []):
                continue
            if any(_label_match(n.labels, v) for v in f.get("label!") or []):
                continue
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
        hc.links = self._normalize_links(c, hc.links, n) or None

    def _normalize_links(
        self, c: Any, links: builtins.list[str] | None, n: Network
    ) -> builtins.list[str]:
        """HostConfig.Links as dockerd keeps them ("/db:/web/alias"), each linked container
        checked to exist (a 400, not a 404: the CLI would pull on a 404)."""
        out: builtins.list[str] = []
        for spec in links or []:
            child, _, alias = spec.partition(":")
            child = child.lstrip("/")
            alias = (alias or child).rsplit("/", 1)[-1]
            try:
                other = self.containers.store.get(child)
            except NotFound as exc:
                raise InvalidParameter(f"could not get container for {child}: {exc}") from exc
            if not n.user_defined and _mode_network(other.host_config.network_mode) != "bridge":
                raise InvalidParameter(
                    f"Cannot link to /{other.name}, as it does not belong to the default network"
                )
            out.append(f"/{other.name}:/{c.name}/{alias}")
        return out

    def _endpoint_config(self, c: Any, n: Network, cfg: dict[str, Any]) -> dict[str, Any]:
        ipam_cfg = cfg.get("IPAMConfig") or {}
        want = ipam_cfg.get("IPv4Address") or ""
        want6 = ipam_cfg.get("IPv6Address") or ""
        link_local = list(ipam_cfg.get("LinkLocalIPs") or [])
        aliases = list(cfg.get("Aliases") or [])
        mac = cfg.get("MacAddress") or getattr(c.config, "mac_address", "") or ""
        if mac and not re.fullmatch(r"[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}", mac):
            raise InvalidParameter(f"invalid MAC address {mac}")
        for ll in link_local:
            try:
                ok = ipaddress.ip_address(ll).is_link_local
            except ValueError:
                ok = False
            if not ok:
                raise InvalidParameter(f"invalid link-local IP address: {ll}")
        if want6:
            try:
                a6 = ipaddress.IPv6Address(want6)
            except ValueError as exc:
                raise InvalidParameter(f"invalid IPv6 address: {want6}") from exc
            if not n.enable_ipv6 or a6 not in ipaddress.IPv6Network(n.subnet6 or "::/128"):
                raise InvalidParameter(
                    f"Invalid address {want6}: It does not belong to any of this network's subnets"
                )
        if not n.user_defined and (want or want6 or aliases):
            if want or want6:
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
        ipam_out: dict[str, Any] = {}
        if want:
            ipam_out["IPv4Address"] = want
        if want6:
            ipam_out["IPv6Address"] = want6
        if link_local:
            ipam_out["LinkLocalIPs"] = link_local
        # links of an endpoint on a user-defined network: names only this container
        # resolves (to the linked container's address on that network)
        links = [
            f"{ch.lstrip('/')}:{(al or ch).rsplit('/', 1)[-1]}"
            for ch, _, al in (x.partition(":") for x in cfg.get("Links") or [])
        ]
        return {
            "IPAMConfig": ipam_out or None,
            "Links": (links or None) if n.user_defined else None,
            "Aliases": aliases or None,
            "MacAddress": mac.lower().replace("-", ":"),
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
        self._link_env[c.id] = self._links_env(c)
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
            setup = await asyncio.to_thread(_ensure_bridge, n)
            self._record(n, setup)
            self.store.save(n)
            await asyncio.to_thread(self._host_side, n)
        want = (ep.get("IPAMConfig") or {}).get("IPv4Address") or ""
        ip = self.leases.take(
            n.id,
            n.subnet,
            n.gateway,
            n.ip_range,
            want,
            lambda a: bridge.claim_address(n.bridge, a, c.id),
        )
        ip6 = ""
        if n.enable_ipv6 and n.subnet6:
            want6 = (ep.get("IPAMConfig") or {}).get("IPv6Address") or ""
            try:
                ip6 = self.leases.take(
                    n.id,
                    n.subnet6,
                    n.gateway6,
                    n.ip_range6,
                    want6,
                    lambda a: bridge.claim_address(n.bridge, a, c.id),
                )
            except BaseException:
                self.leases.release(n.id, ip)
                bridge.release_address(n.bridge, ip)
                raise
        plen6 = ipaddress.IPv6Network(n.subnet6).prefixlen if ip6 else 0
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
                n.mtu,
                ip6,
                plen6,
                n.gateway6 if ip6 and not n.internal else "",
                tuple((ep.get("IPAMConfig") or {}).get("LinkLocalIPs") or ()),
            )
        except BaseException:
            for a in (ip, ip6):
                if a:
                    self.leases.release(n.id, a)
                    bridge.release_address(n.bridge, a)
            raise
        names = [c.config.hostname] if n.user_defined else []
        ep.update(
            EndpointID=secrets.token_hex(32),
            IPAddress=ip,
            IPPrefixLen=net.prefixlen,
            Gateway=n.gateway if not n.internal else "",
            MacAddress=mac,
            GlobalIPv6Address=ip6,
            GlobalIPv6PrefixLen=plen6,
            IPv6Gateway=n.gateway6 if ip6 and not n.internal else "",
            NetworkID=n.id,
            DNSNames=([c.name, *(ep.get("Aliases") or []), *names] if n.user_defined else None),
            Ifname=ifname,
        )

    async def _publish(self, c: Any) -> None:
        net_name, ep = next(iter(c.networks.items()))
        ctr_ip = ep["IPAddress"]
        n = self.store.find(net_name)
        dnat_bridge = n.bridge if n is not None and n.driver == "bridge" else ""
        # the network's default host address (host_binding_ipv4, daemon.json's "ip");
        # unset or 0.0.0.0: both 0.0.0.0 and [::], as dockerd 28 publishes
        default_ip = (n.options.get(OPT_HOST_IP) if n is not None else "") or "0.0.0.0"
        dual = default_ip == "0.0.0.0" and portmap.host_has_ipv6()
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
                asked = (hb or {}).get("HostIp") or ""
                b = Binding(proto, asked or default_ip, host_port, ctr_ip, int(port))
                try:
                    b = await self.ports.publish(b)
                    pubs.append(b)
                    if dnat_bridge and ":" not in b.host_ip:
                        await asyncio.to_thread(
                            nat.add_port, c.id, dnat_bridge, proto, b.host_ip, b.host_port,
                            ctr_ip, int(port),
                        )  # fmt: skip
                    out.append({"HostIp": b.host_ip, "HostPort": str(b.host_port)})
                    if not asked and dual:
                        # [::] on the same port, served by the proxy (to the container's
                        # IPv6 address when it has one, else to its IPv4 one, as
                        # docker-proxy does)
                        ctr6 = ep.get("GlobalIPv6Address") or ctr_ip
                        b6 = await self.ports.publish(
                            Binding(proto, "::", b.host_port, ctr6, int(port))
                        )
                        pubs.append(b6)
                        out.append({"HostIp": "::", "HostPort": str(b6.host_port)})
                except SystemError_ as exc:
                    raise SystemError_(
                        f"driver failed programming external connectivity on endpoint {c.name} "
                        f"({ep['EndpointID']}): {exc.message}"
                    ) from exc
            c.ports[f"{port}/{proto}"] = out

    async def _start_dns(self, c: Any) -> None:
        """Containers on a user-defined network ask the embedded DNS server (dockerd's)."""
        if not any(self._user_net(name) for name in c.networks) or c.id in self._dns:
            return
        sock = await asyncio.to_thread(dns.open_socket, bridge.netns_path(c.id))
        try:
            tcp = await asyncio.to_thread(
                dns.open_socket, bridge.netns_path(c.id), socket.SOCK_STREAM
            )
        except BaseException:
            sock.close()
            raise
        hc = c.host_config
        upstream = list(hc.dns or []) or dns.host_nameservers()
        try:
            self._dns[c.id] = await dns.serve(
                sock, lambda q, t: self.resolve(c.id, q, t), upstream, tcp
            )
        except BaseException:
            sock.close()
            tcp.close()
            raise
        if c.resolv_conf_path:
            with contextlib.suppress(OSError):
                hosts.write_in_place(
                    c.resolv_conf_path, dns.resolv_conf(hc.dns_search, hc.dns_options)
                )

    def _user_net(self, name: str) -> bool:
        n = self.store.find(name)
        return n is not None and n.user_defined

    def resolve(self, cid: str, qname: str, qtype: int = 1) -> builtins.list[str] | None:
        """For container CID's embedded DNS: the addresses (QTYPE 1: IPv4, 28: IPv6) of
        the containers named QNAME (name, alias, short id, a link's alias of CID's) on its
        networks, or for a PTR (12) the name of the container with that address; None when
        no container has that name (the query goes upstream)."""
        me = self.containers.store.maybe(cid) if self.containers else None
        if me is None:
            return None
        q = qname.rstrip(".").lower()
        ptr = dns.ptr_address(q) if qtype == 12 else None
        if qtype == 12 and ptr is None:
            return None
        key = "GlobalIPv6Address" if qtype == 28 else "IPAddress"
        found: builtins.list[str] = []
        known = False
        for name, ep in (me.networks or {}).items():
            if not self._user_net(name):
                continue
            links = {
                al.lower(): ch.lower()
                for ch, _, al in (x.partition(":") for x in ep.get("Links") or [])
            }
            for o in self.containers.all():
                oep = (o.networks or {}).get(name)
                if not oep or not oep.get("IPAddress") or not o.state.running:
                    continue
                if ptr is not None:
                    if ptr in (oep.get("IPAddress"), oep.get("GlobalIPv6Address")):
                        # dockerd answers with the container's name on that network
                        return [f"{o.name}.{name}"]
                    continue
                names = {o.name.lower(), o.id[:12], *(a.lower() for a in oep.get("Aliases") or [])}
                names |= {al for al, ch in links.items() if ch in (o.name.lower(), o.id[:12])}
                if q in names:
                    known = True
                    if oep.get(key) and oep[key] not in found:
                        found.append(oep[key])
        return found if known else None

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
        self._link_env.pop(c.id, None)
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
            for key in ("IPAddress", "GlobalIPv6Address"):
                if ep.get(key) and n is not None:
                    self.leases.release(n.id, ep[key])
                    bridge.release_address(n.bridge, ep[key])
            # a MAC address the user asked for (--mac-address) stays for the next start;
            # one berth made from the address goes with it
            if ep.get("IPAddress") and ep.get("MacAddress") == _mac(ep["IPAddress"]):
                ep["MacAddress"] = ""
            for k in ("EndpointID", "IPAddress", "Gateway", "GlobalIPv6Address", "IPv6Gateway"):
                ep[k] = ""
            ep["IPPrefixLen"] = ep["GlobalIPv6PrefixLen"] = 0
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
                for key in ("IPAddress", "GlobalIPv6Address"):
                    if ep.get(key):
                        self.leases.release(n.id, ep[key])
                        bridge.release_address(n.bridge, ep[key])
        del c.networks[n.name]
        self._refresh_hosts(c, extra_network=n.name)
        self._event(n, "disconnect", c.id)

    # ---- legacy links (--link on the default bridge) ---------------------
    def _children(self, c: Any) -> builtins.list[tuple[str, Any]]:
        """(alias, linked container) of each of C's HostConfig.Links ("/db:/web/alias")."""
        out = []
        for spec in c.host_config.links or []:
            child, _, alias = spec.partition(":")
            try:
                o = self.containers.store.get(child)
            except NotFound:
                continue  # removed since: dockerd's link goes with it
            else:
                out.append((alias.rsplit("/", 1)[-1] or o.name, o))
        return out

    def _links_env(self, c: Any) -> builtins.list[str]:
        """The variables dockerd gives a container for each link (links.go): ALIAS_NAME,
        ALIAS_PORT (TCP first, then by number), ALIAS_PORT_<port>_<PROTO>[_ADDR|_PORT|_PROTO],
        ALIAS_ENV_<var> for the linked container's own variables. A linked container
        must run (dockerd's error otherwise)."""
        env: builtins.list[str] = []
        for alias, o in self._children(c):
            if not o.state.running:
                raise SystemError_(
                    f"Cannot link to a non running container: /{o.name} AS /{c.name}/{alias}"
                )
            ip = ((o.networks or {}).get("bridge") or {}).get("IPAddress") or ""
            pre = alias.upper().replace("-", "_")
            env.append(f"{pre}_NAME=/{c.name}/{alias}")
            ports = []
            for key in o.config.exposed_ports or {}:
                num, _, proto = key.partition("/")
                if num.isdigit():
                    ports.append((int(num), proto or "tcp"))
            # dockerd's withTCPPriority: TCP ports first, then by protocol and number
            ports.sort(key=lambda pp: (pp[1] != "tcp", pp[1], pp[0]))
            if ports and ip:
                num, proto = ports[0]
                env.append(f"{pre}_PORT={proto}://{ip}:{num}")
            for num, proto in ports if ip else []:
                p = f"{pre}_PORT_{num}_{proto.upper()}"
                env += [
                    f"{p}={proto}://{ip}:{num}",
                    f"{p}_ADDR={ip}",
                    f"{p}_PORT={num}",
                    f"{p}_PROTO={proto}",
                ]
            for item in o.config.env or []:
                k, eq, v = item.partition("=")
                if eq and k not in ("HOME", "PATH"):
                    env.append(f"{pre}_ENV_{k}={v}")
        return env

    def link_env(self, c: Any) -> builtins.list[str]:
        """The legacy links' variables for C's process (the container service adds them to
        its environment at start)."""
        return list(self._link_env.get(c.id, []))

    def _link_hosts(self, c: Any) -> builtins.list[str]:
        """/etc/hosts lines ("names:ip", as --add-host) for C's links: the alias, the
        linked container's hostname and (if other than the alias) its name."""
        out = []
        for alias, o in self._children(c):
            oep = (o.networks or {}).get("bridge") or {}
            names = " ".join(dict.fromkeys([alias, o.config.hostname, o.name]))
            for key in ("IPAddress", "GlobalIPv6Address"):
                if oep.get(key):
                    out.append(f"{names}:{oep[key]}")
        return out

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
                [*(c.host_config.extra_hosts or []), *self._link_hosts(c)],
                own,
                peers,
                default.gateway if default is not None else "",
            )
            with contextlib.suppress(OSError):
                hosts.write_in_place(c.hosts_path, text)

    # ---- daemon start / stop ------------------------------------------
    def restore_leases(self) -> None:
        for net in self.store.all():
            self.leases.used(net.id).update(net.aux_addresses.values())
        for c in self.containers.all():
            if c.state.running:
                for name, ep in (c.networks or {}).items():
                    n = self.store.find(name)
                    if n is not None and ep.get("IPAddress"):
                        self.leases.used(n.id).add(ep["IPAddress"])
                    if n is not None and ep.get("GlobalIPv6Address"):
                        self.leases.used(n.id).add(ep["GlobalIPv6Address"])

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


_GO_BOOLS = ("1", "t", "true", "0", "f", "false")


def _ensure_bridge(n: Network) -> bridge.Setup:
    """Blocking: N's bridge, with its MTU when other than the default (passed only then,
    so that a host without the MTU option is called as before)."""
    plen = ipaddress.IPv4Network(n.subnet).prefixlen
    if n.mtu != bridge.MTU:
        return bridge.ensure_bridge(n.bridge, n.gateway, plen, n.mtu)
    return bridge.ensure_bridge(n.bridge, n.gateway, plen)


def _opt_bool(o: dict[str, Any], key: str, default: bool) -> bool:
    """A boolean daemon option, from daemon.json (a JSON bool) or a flag (its text)."""
    v = o.get(key)
    if v is None:
        return default
    if isinstance(v, str):
        return v.strip().lower() in ("1", "t", "true", "yes")
    return bool(v)


def _sysctl(key: str, value: str) -> None:
    with contextlib.suppress(OSError), open(f"/proc/sys/{key}", "w") as f:
        f.write(value)


def _until(values: builtins.list[str]) -> float | None:
    """prune's until filter: a Unix time, an RFC 3339 time or a duration before now."""
    if not values:
        return None
    v = values[0]
    try:
        return float(v)
    except ValueError:
        pass
    m = re.fullmatch(r"((?:\d+(?:\.\d+)?(?:h|m|s|ms))+)", v)
    if m:
        secs = 0.0
        for num, unit in re.findall(r"(\d+(?:\.\d+)?)(h|ms|m|s)", v):
            secs += float(num) * {"h": 3600, "m": 60, "s": 1, "ms": 0.001}[unit]
        return time.time() - secs
    try:
        return parse_rfc3339(v)
    except (ValueError, TypeError) as exc:
        raise InvalidParameter(f"invalid filter 'until={v}'") from exc


def _label_match(labels: dict[str, str], spec: str) -> bool:
    k, eq, v = spec.partition("=")
    return k in labels and (not eq or labels[k] == v)


def _drop_netns(cid: str, ifnames: builtins.list[str]) -> None:
    """Unmounting the (now empty) namespace is enough: the kernel destroys it, and its
    veth pairs with it, a moment later (as with dockerd). Deleting each veth here instead
    costs 15-40 ms (an RCU grace period) on every container exit."""
    bridge.delete_netns(cid)
