"""Containers in Docker's wire shapes (ContainerSummary, ContainerInspect)."""

from __future__ import annotations

import time
from typing import Any

from berth.engine import wire
from berth.engine.clock import parse_rfc3339
from berth.engine.containers import health, mounts
from berth.engine.containers.model import Container
from berth.humanize import human_duration


def status_text(c: Container, now: float | None = None) -> str:
    now = now or time.time()
    st = c.state
    if st.status == "restarting":
        since = human_duration(now - parse_rfc3339(st.finished_at))
        return f"Restarting ({st.exit_code}) {since} ago"
    if st.status in ("running", "paused", "restarting"):
        up = "Up " + human_duration(now - parse_rfc3339(st.started_at))
        return up + " (Paused)" if st.status == "paused" else up + health.status_suffix(c)
    if st.status == "exited":
        fin = parse_rfc3339(st.finished_at)
        if not fin:
            return f"Exited ({st.exit_code})"
        return f"Exited ({st.exit_code}) {human_duration(now - fin)} ago"
    if st.status == "removing":
        return "Removal In Progress"
    if st.status == "dead":
        return "Dead"
    return "Created"


def _command(c: Container) -> str:
    return " ".join([c.path, *c.args]) if c.args else c.path


def summary(c: Container, now: float) -> dict[str, Any]:
    return {
        "Id": c.id,
        "Names": ["/" + c.name],
        "Image": c.config.image,
        "ImageID": c.image_id,
        "Command": _command(c),
        "Created": int(parse_rfc3339(c.created)),
        "Ports": _port_list(c),
        "Labels": c.config.labels or {},
        "State": c.state.status,
        "Status": status_text(c, now),
        "HostConfig": {"NetworkMode": c.host_config.network_mode},
        "NetworkSettings": {"Networks": _networks(c)},
        "Mounts": mounts.api_list(c.mount_points),
    }


def _networks(c: Container) -> dict[str, Any]:
    return {name: {k: v for k, v in ep.items() if k != "Ifname"} for name, ep in c.networks.items()}


def _port_list(c: Container) -> list[dict[str, Any]]:
    """ps's Ports: published bindings, and exposed ports without a binding."""
    out: list[dict[str, Any]] = []
    for key, binds in (c.ports or {}).items():
        port, _, proto = key.partition("/")
        if not binds:
            out.append({"PrivatePort": int(port), "Type": proto})
        for b in binds or []:
            out.append(
                {
                    "IP": b["HostIp"],
                    "PrivatePort": int(port),
                    "PublicPort": int(b["HostPort"]),
                    "Type": proto,
                }
            )
    return out


def _primary(c: Container) -> dict[str, Any]:
    return next(iter(c.networks.values()), {}) if c.networks else {}


def _state(c: Container) -> dict[str, Any]:
    st = c.state
    state = wire.to_wire(st)
    if state.get("Health") is None:
        state.pop("Health", None)  # dockerd omits it for a container without a healthcheck
    state.update(
        Running=st.status in ("running", "paused", "restarting"),
        Paused=st.status == "paused",
        Restarting=st.status == "restarting",
        Dead=st.status == "dead",
    )
    return state


def _network_settings(c: Container) -> dict[str, Any]:
    primary = _primary(c)
    # the top-level endpoint fields are the default bridge's (dockerd's legacy ones)
    bridge = primary if "bridge" in c.networks else {}
    return {
        "Bridge": "",
        "SandboxID": "",
        "SandboxKey": f"/run/netns/berth-{c.id[:12]}"
        if c.ports is not None and primary.get("IPAddress")
        else "",
        "Ports": dict(c.ports or {}),
        "HairpinMode": False,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "SecondaryIPAddresses": None,
        "SecondaryIPv6Addresses": None,
        "EndpointID": bridge.get("EndpointID", ""),
        "Gateway": bridge.get("Gateway", ""),
        "GlobalIPv6Address": bridge.get("GlobalIPv6Address", ""),
        "GlobalIPv6PrefixLen": bridge.get("GlobalIPv6PrefixLen", 0),
        "IPAddress": bridge.get("IPAddress", ""),
        "IPPrefixLen": bridge.get("IPPrefixLen", 0),
        "IPv6Gateway": bridge.get("IPv6Gateway", ""),
        "MacAddress": bridge.get("MacAddress", ""),
        "Networks": _networks(c),
    }


def inspect(
    c: Container,
    *,
    driver_data: dict[str, str] | None = None,
    exec_ids: list[str] | None = None,
) -> dict[str, Any]:
    config = wire.to_wire(c.config)
    config["Env"] = config.get("Env") or []
    return {
        "Id": c.id,
        "Created": c.created,
        "Path": c.path,
        "Args": c.args,
        "State": _state(c),
        "Image": c.image_id,
        "ResolvConfPath": c.resolv_conf_path,
        "HostnamePath": c.hostname_path,
        "HostsPath": c.hosts_path,
        "LogPath": c.log_path,
        "Name": "/" + c.name,
        "RestartCount": c.restart_count,
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": exec_ids or None,
        "HostConfig": wire.to_wire(c.host_config),
        "GraphDriver": {"Name": "overlay2", "Data": driver_data or {}},
        "Mounts": mounts.api_list(c.mount_points),
        "Config": config,
        "NetworkSettings": _network_settings(c),
    }
