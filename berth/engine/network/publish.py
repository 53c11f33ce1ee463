"""Published ports of a container: each binding held (or proxied) by berthd, DNAT'd by
the kernel on a bridge network, and on [::] too when no host address was asked for."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from berth.engine.errors import SystemError_
from berth.engine.network.base import ServiceState
from berth.engine.network.create_rules import OPT_HOST_IP
from berth.engine.network.portmap import Binding


@dataclass(frozen=True)
class _Target:
    """Where a container's ports lead, and how they are published."""

    cid: str
    ctr_ip: str
    ctr_ip6: str  # the [::] side's target: the IPv6 address, else the IPv4 one
    dnat_bridge: str  # "": no kernel DNAT (not a bridge network)
    default_ip: str  # the network's default host address
    dual: bool  # an unasked host address publishes on [::] too


def _target(svc: ServiceState, c: Any) -> _Target:
    net_name, ep = next(iter(c.networks.items()))
    n = svc.store.find(net_name)
    # the network's default host address (host_binding_ipv4, daemon.json's "ip");
    # unset or 0.0.0.0: both 0.0.0.0 and [::], as dockerd 28 publishes
    default_ip = (n.options.get(OPT_HOST_IP) if n is not None else "") or "0.0.0.0"
    return _Target(
        c.id,
        ep["IPAddress"],
        ep.get("GlobalIPv6Address") or ep["IPAddress"],
        n.bridge if n is not None and n.driver == "bridge" else "",
        default_ip,
        default_ip == "0.0.0.0" and svc.host.has_ipv6(),
    )


def _bindings(c: Any) -> dict[str, Any]:
    """PortBindings, with every exposed port on a random host port for --publish-all."""
    bindings = dict(c.host_config.port_bindings or {})
    if c.host_config.publish_all_ports:
        for key in c.config.exposed_ports or {}:
            bindings.setdefault(key, [{"HostIp": "", "HostPort": ""}])
    return bindings


async def _publish_one(
    svc: ServiceState,
    t: _Target,
    proto: str,
    port: int,
    hb: dict[str, Any],
    pubs: list[Binding],
) -> list[dict[str, str]]:
    """One host binding HB of container port PORT/PROTO; what NetworkSettings.Ports shows."""
    lo, _, _hi = str(hb.get("HostPort") or "").partition("-")
    asked = hb.get("HostIp") or ""
    b = await svc.host.publish(
        Binding(proto, asked or t.default_ip, int(lo) if lo else 0, t.ctr_ip, port)
    )
    pubs.append(b)
    if t.dnat_bridge and ":" not in b.host_ip:
        await asyncio.to_thread(
            svc.host.add_port_rule, t.cid, t.dnat_bridge, proto, b.host_ip, b.host_port,
            t.ctr_ip, port,
        )  # fmt: skip
    out = [{"HostIp": b.host_ip, "HostPort": str(b.host_port)}]
    if not asked and t.dual:
        # [::] on the same port, served by the proxy (to the container's IPv6 address
        # when it has one, else to its IPv4 one, as docker-proxy does)
        b6 = await svc.host.publish(Binding(proto, "::", b.host_port, t.ctr_ip6, port))
        pubs.append(b6)
        out.append({"HostIp": "::", "HostPort": str(b6.host_port)})
    return out


async def publish(svc: ServiceState, c: Any) -> None:
    """C's published ports, recorded in C.ports (every exposed port, None when unpublished)."""
    t = _target(svc, c)
    bindings = _bindings(c)
    c.ports = {}
    for key in c.config.exposed_ports or {}:
        c.ports[key] = None
    pubs: list[Binding] = svc._published.setdefault(c.id, [])
    for key, hbs in bindings.items():
        port, _, proto = key.partition("/")
        proto = proto or "tcp"
        out = []
        for hb in hbs or [{}]:
            try:
                out += await _publish_one(svc, t, proto, int(port), hb or {}, pubs)
            except SystemError_ as exc:
                endpoint_id = next(iter(c.networks.values()))["EndpointID"]
                raise SystemError_(
                    f"driver failed programming external connectivity on endpoint {c.name} "
                    f"({endpoint_id}): {exc.message}"
                ) from exc
        c.ports[f"{port}/{proto}"] = out
