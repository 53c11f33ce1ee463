"""Networks themselves: the predefined ones, list and inspect, create, remove, prune."""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import re
import secrets
import time
from typing import Any

from berth.engine import wire
from berth.engine.clock import parse_rfc3339, rfc3339nano
from berth.engine.errors import Forbidden, InvalidParameter
from berth.engine.network import bridge, create_rules, ipam, ownership
from berth.engine.network.base import ServiceState
from berth.engine.network.create_rules import OPT_NAME, NetworkSpec
from berth.engine.network.model import Network

_DEFAULT_BRIDGE_OPTIONS = {
    "com.docker.network.bridge.default_bridge": "true",
    "com.docker.network.bridge.enable_icc": "true",
    "com.docker.network.bridge.enable_ip_masquerade": "true",
    "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
    "com.docker.network.driver.mtu": "1500",
}


class NetworkCrud(ServiceState):
    def _ensure_builtin(self) -> None:
        for name, driver in (("bridge", "bridge"), ("host", "host"), ("none", "null")):
            have = self.store.find(name)
            if have is not None and have.name == name:
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
                sub = ipam.pick_pool(taken, routed=self.host.routed_networks())
                n.subnet, n.gateway = str(sub), str(next(sub.hosts()))
                n.bridge = self.bridge_name
                n.options = dict(_DEFAULT_BRIDGE_OPTIONS)
            self.store.add(n)

    def list(self, filters: dict[str, builtins.list[str]] | None = None) -> builtins.list[Network]:
        f = filters or {}
        return [n for n in self.store.all() if _listed(n, f)]

    def attached(self, n: Network) -> dict[str, dict[str, Any]]:
        """Inspect's Containers: running endpoints on the network."""
        out: dict[str, dict[str, Any]] = {}
        for c in self._all_containers():
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

    def _pick_pool(self, taken: builtins.list[ipam.Net]) -> ipam.Net:
        pools = (self.options or {}).get("default-address-pools")
        return ipam.pick_pool(taken, pools, self.host.routed_networks())

    async def create(self, body: dict[str, Any]) -> tuple[Network, str]:
        spec = create_rules.decode(body, self.store.all(), self._pick_pool)
        nid = secrets.token_hex(32)
        bname = spec.options.get(OPT_NAME) or "br-" + nid[:12]
        create_rules.check_bridge_name(nid, bname, self.store.all())
        have = await asyncio.to_thread(self.host.find_link, bname)
        if have is not None and have.kind != "bridge":
            raise bridge.not_a_bridge(bname)
        n = _network(nid, bname, spec, body)
        self.leases.used(n.id).update(n.aux_addresses.values())
        # the record exists, owning nothing, before the host is touched; it says berth made
        # the bridge only once the bridge is there
        self.store.add(n)
        try:
            await ownership.setup_bridge_async(self.store, self.host, n)
        except BaseException:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(ownership.undo_host, self.host, n)
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
        await asyncio.to_thread(ownership.undo_host, self.host, n)
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


def _network(nid: str, bname: str, spec: NetworkSpec, body: dict[str, Any]) -> Network:
    a = spec.addressing
    return Network(
        id=nid,
        name=spec.name,
        driver="bridge",
        created=rfc3339nano(),
        subnet=a.subnet,
        gateway=a.gateway,
        ip_range=a.ip_range,
        internal=wire.field(body, "Internal", bool, "CreateRequest", False),
        labels=dict(body.get("Labels") or {}),
        options=spec.options,
        bridge=bname,
        made_link="",
        enable_ipv6=spec.enable_ipv6,
        subnet6=a.subnet6,
        gateway6=a.gateway6,
        ip_range6=a.ip_range6,
        attachable=bool(body.get("Attachable")),
        ipam_options=spec.ipam_options,
        aux_addresses=a.aux,
    )


def _listed(n: Network, f: dict[str, list[str]]) -> bool:
    """Whether N passes GET /networks' filters (name, id, driver, type, label)."""
    if "name" in f and not any(v in n.name for v in f["name"]):
        return False
    if "id" in f and not any(n.id.startswith(v) for v in f["id"]):
        return False
    if "driver" in f and n.driver not in f["driver"]:
        return False
    if "type" in f and ("custom" if n.user_defined else "builtin") not in f["type"]:
        return False
    labels = f.get("label")
    return labels is None or all(_label_match(n.labels, v) for v in labels)


def _until(values: list[str]) -> float | None:
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
