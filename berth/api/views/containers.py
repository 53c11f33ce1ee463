"""Containers in Docker's wire shapes (ContainerSummary, ContainerInspect)."""

from __future__ import annotations

import time
from typing import Any

from berth.engine import wire
from berth.engine.clock import parse_rfc3339
from berth.engine.containers import mounts
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
        return up + " (Paused)" if st.status == "paused" else up
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
        "Ports": [],
        "Labels": c.config.labels or {},
        "State": c.state.status,
        "Status": status_text(c, now),
        "HostConfig": {"NetworkMode": c.host_config.network_mode},
        "NetworkSettings": {"Networks": {}},
        "Mounts": mounts.api_list(c.mount_points),
    }


def inspect(
    c: Container,
    *,
    driver_data: dict[str, str] | None = None,
    exec_ids: list[str] | None = None,
) -> dict[str, Any]:
    st = c.state
    state = wire.to_wire(st)
    state.update(
        Running=st.status in ("running", "paused", "restarting"),
        Paused=st.status == "paused",
        Restarting=st.status == "restarting",
        Dead=st.status == "dead",
    )
    config = wire.to_wire(c.config)
    config["Env"] = config.get("Env") or []
    return {
        "Id": c.id,
        "Created": c.created,
        "Path": c.path,
        "Args": c.args,
        "State": state,
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
        "NetworkSettings": {
            "Bridge": "",
            "SandboxID": "",
            "SandboxKey": "",
            "Ports": {},
            "HairpinMode": False,
            "LinkLocalIPv6Address": "",
            "LinkLocalIPv6PrefixLen": 0,
            "SecondaryIPAddresses": None,
            "SecondaryIPv6Addresses": None,
            "EndpointID": "",
            "Gateway": "",
            "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0,
            "IPAddress": "",
            "IPPrefixLen": 0,
            "IPv6Gateway": "",
            "MacAddress": "",
            "Networks": {},
        },
    }
