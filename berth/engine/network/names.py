"""Names containers find each other by: /etc/hosts (rewritten in place as peers come and
go) and the embedded DNS server of containers on user-defined networks."""

from __future__ import annotations

import contextlib
from typing import Any

from berth.engine.network import dns, hosts, links
from berth.engine.network.base import ServiceState


def _peers(svc: ServiceState, c: Any, everyone: list[Any]) -> list[tuple[str, list[str]]]:
    """(address, names) of the containers sharing a user-defined network with C."""
    peers: list[tuple[str, list[str]]] = []
    for name, ep in (c.networks or {}).items():
        n = svc.store.find(name)
        if n is None or not n.user_defined or not ep.get("IPAddress"):
            continue
        for o in everyone:
            oep = (o.networks or {}).get(name)
            if o.id == c.id or not oep or not oep.get("IPAddress"):
                continue
            names = [o.name, *(oep.get("Aliases") or []), o.id[:12]]
            peers.append((oep["IPAddress"], list(dict.fromkeys(names))))
    return peers


def _write_hosts(svc: ServiceState, c: Any, everyone: list[Any]) -> None:
    own = [ep["IPAddress"] for ep in (c.networks or {}).values() if ep.get("IPAddress")]
    default = svc.store.find("bridge")
    text = hosts.render(
        c.config.hostname,
        [*(c.host_config.extra_hosts or []), *links.link_hosts(svc.containers, c)],
        own,
        _peers(svc, c, everyone),
        default.gateway if default is not None else "",
    )
    with contextlib.suppress(OSError):
        hosts.write_in_place(c.hosts_path, text)


def refresh_hosts(svc: ServiceState, changed: Any, extra_network: str = "") -> None:
    """Rewrite /etc/hosts of CHANGED and of every running container whose file names it:
    those sharing a user-defined network with it, and those with a legacy link to it. On
    the default bridge nobody else's file changes, so that a start does not rewrite the
    file of every container running (50 writes per start with 50 running)."""
    nets = set(changed.networks or {}) | ({extra_network} if extra_network else set())
    peers = {n for n in nets if svc._user_net(n)}
    everyone = [c for c in svc.containers.all() if c.state.running or c.id == changed.id]
    for c in everyone:
        if c.id != changed.id and not peers & set(c.networks or {}):
            if not any(o.id == changed.id for _, o in links.children(svc.containers, c)):
                continue
        if c.hosts_path:
            _write_hosts(svc, c, everyone)


async def start_dns(svc: ServiceState, c: Any) -> None:
    """Containers on a user-defined network ask the embedded DNS server (dockerd's)."""
    if not any(svc._user_net(name) for name in c.networks) or c.id in svc._dns:
        return
    hc = c.host_config
    upstream = list(hc.dns or []) or svc.host.nameservers()
    svc._dns[c.id] = await svc.host.serve_dns(c.id, lambda q, t: resolve(svc, c.id, q, t), upstream)
    if c.resolv_conf_path:
        with contextlib.suppress(OSError):
            hosts.write_in_place(c.resolv_conf_path, dns.resolv_conf(hc.dns_search, hc.dns_options))


def _names_on(o: Any, oep: dict[str, Any], links_by_alias: dict[str, str]) -> set[str]:
    """What container O answers to on one network: its name, short id, aliases there,
    and the aliases the asking container's links give it."""
    names = {o.name.lower(), o.id[:12], *(a.lower() for a in oep.get("Aliases") or [])}
    return names | {al for al, ch in links_by_alias.items() if ch in (o.name.lower(), o.id[:12])}


def resolve(svc: ServiceState, cid: str, qname: str, qtype: int = 1) -> list[str] | None:
    """For container CID's embedded DNS: the addresses (QTYPE 1: IPv4, 28: IPv6) of
    the containers named QNAME (name, alias, short id, a link's alias of CID's) on its
    networks, or for a PTR (12) the name of the container with that address; None when
    no container has that name (the query goes upstream)."""
    me = svc.containers.maybe(cid)
    if me is None:
        return None
    q = qname.rstrip(".").lower()
    ptr = dns.ptr_address(q) if qtype == 12 else None
    if qtype == 12 and ptr is None:
        return None
    key = "GlobalIPv6Address" if qtype == 28 else "IPAddress"
    found: list[str] = []
    known = False
    for name, ep in (me.networks or {}).items():
        if not svc._user_net(name):
            continue
        by_alias = {
            al.lower(): ch.lower()
            for ch, _, al in (x.partition(":") for x in ep.get("Links") or [])
        }
        for o in svc.containers.all():
            oep = (o.networks or {}).get(name)
            if not oep or not oep.get("IPAddress") or not o.state.running:
                continue
            if ptr is not None:
                if ptr in (oep.get("IPAddress"), oep.get("GlobalIPv6Address")):
                    # dockerd answers with the container's name on that network
                    return [f"{o.name}.{name}"]
                continue
            if q in _names_on(o, oep, by_alias):
                known = True
                if oep.get(key) and oep[key] not in found:
                    found.append(oep[key])
    return found if known else None
