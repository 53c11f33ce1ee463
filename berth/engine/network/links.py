"""Legacy links (`--link` on the default bridge): the variables and /etc/hosts names a
container gets for the containers it links to, as dockerd's links.go makes them."""

from __future__ import annotations

from typing import Any

from berth.engine.errors import NotFound, SystemError_


def children(containers: Any, c: Any) -> list[tuple[str, Any]]:
    """(alias, linked container) of each of C's HostConfig.Links ("/db:/web/alias")."""
    out = []
    for spec in c.host_config.links or []:
        child, _, alias = spec.partition(":")
        try:
            o = containers.get(child)
        except NotFound:
            continue  # removed since: dockerd's link goes with it
        else:
            out.append((alias.rsplit("/", 1)[-1] or o.name, o))
    return out


def _ports(o: Any) -> list[tuple[int, str]]:
    """O's exposed ports in dockerd's withTCPPriority order: TCP first, then by protocol
    and number."""
    ports = []
    for key in o.config.exposed_ports or {}:
        num, _, proto = key.partition("/")
        if num.isdigit():
            ports.append((int(num), proto or "tcp"))
    ports.sort(key=lambda pp: (pp[1] != "tcp", pp[1], pp[0]))
    return ports


def _port_env(pre: str, ip: str, ports: list[tuple[int, str]]) -> list[str]:
    if not ip:
        return []
    env: list[str] = []
    if ports:
        num, proto = ports[0]
        env.append(f"{pre}_PORT={proto}://{ip}:{num}")
    for num, proto in ports:
        p = f"{pre}_PORT_{num}_{proto.upper()}"
        env += [
            f"{p}={proto}://{ip}:{num}",
            f"{p}_ADDR={ip}",
            f"{p}_PORT={num}",
            f"{p}_PROTO={proto}",
        ]
    return env


def links_env(containers: Any, c: Any) -> list[str]:
    """The variables dockerd gives a container for each link (links.go): ALIAS_NAME,
    ALIAS_PORT (TCP first, then by number), ALIAS_PORT_<port>_<PROTO>[_ADDR|_PORT|_PROTO],
    ALIAS_ENV_<var> for the linked container's own variables. A linked container
    must run (dockerd's error otherwise)."""
    env: list[str] = []
    for alias, o in children(containers, c):
        if not o.state.running:
            raise SystemError_(
                f"Cannot link to a non running container: /{o.name} AS /{c.name}/{alias}"
            )
        ip = ((o.networks or {}).get("bridge") or {}).get("IPAddress") or ""
        pre = alias.upper().replace("-", "_")
        env.append(f"{pre}_NAME=/{c.name}/{alias}")
        env += _port_env(pre, ip, _ports(o))
        for item in o.config.env or []:
            k, eq, v = item.partition("=")
            if eq and k not in ("HOME", "PATH"):
                env.append(f"{pre}_ENV_{k}={v}")
    return env


def link_hosts(containers: Any, c: Any) -> list[str]:
    """/etc/hosts lines ("names:ip", as --add-host) for C's links: the alias, the
    linked container's hostname and (if other than the alias) its name."""
    out = []
    for alias, o in children(containers, c):
        oep = (o.networks or {}).get("bridge") or {}
        names = " ".join(dict.fromkeys([alias, o.config.hostname, o.name]))
        for key in ("IPAddress", "GlobalIPv6Address"):
            if oep.get(key):
                out.append(f"{names}:{oep[key]}")
    return out
