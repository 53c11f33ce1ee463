"""The rules of a container's endpoint settings (EndpointsConfig at create, the body of a
connect), checked before anything is made, and the endpoint record they give."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

from berth.engine.errors import InvalidParameter, NotFound
from berth.engine.network.model import Network

_NOT_NETWORKED = ("host", "none")
_MAC = re.compile(r"[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}")
_NOT_IN_SUBNET = "Invalid address {}: It does not belong to any of this network's subnets"


def mode_network(mode: str) -> str | None:
    """The network a container's NetworkMode puts it on (None: no endpoint of ours)."""
    if mode in ("", "default", "bridge"):
        return "bridge"
    if mode in _NOT_NETWORKED or mode.startswith("container:"):
        return None
    return mode


def mac_of(ip: str) -> str:
    """The MAC address berth gives an endpoint from its IPv4 address (dockerd's 02:42:...)."""
    b = ipaddress.IPv4Address(ip).packed
    return "02:42:" + ":".join(f"{x:02x}" for x in b)


def _check_mac(mac: str) -> None:
    if mac and not _MAC.fullmatch(mac):
        raise InvalidParameter(f"invalid MAC address {mac}")


def _check_link_local(addrs: list[str]) -> None:
    for ll in addrs:
        try:
            ok = ipaddress.ip_address(ll).is_link_local
        except ValueError:
            ok = False
        if not ok:
            raise InvalidParameter(f"invalid link-local IP address: {ll}")


def _check_ipv6(n: Network, want6: str) -> None:
    if not want6:
        return
    try:
        a6 = ipaddress.IPv6Address(want6)
    except ValueError as exc:
        raise InvalidParameter(f"invalid IPv6 address: {want6}") from exc
    if not n.enable_ipv6 or a6 not in ipaddress.IPv6Network(n.subnet6 or "::/128"):
        raise InvalidParameter(_NOT_IN_SUBNET.format(want6))


def _check_user_defined_only(n: Network, want: str, want6: str, aliases: list[str]) -> None:
    if n.user_defined or not (want or want6 or aliases):
        return
    if want or want6:
        raise InvalidParameter(
            "user specified IP address is supported on user defined networks only"
        )
    raise InvalidParameter(
        "network-scoped alias is supported only for containers in user defined networks"
    )


def _check_ipv4(n: Network, want: str) -> None:
    if not want:
        return
    try:
        addr = ipaddress.IPv4Address(want)
    except ValueError as exc:
        raise InvalidParameter(f"invalid IPv4 address: {want}") from exc
    if addr not in ipaddress.IPv4Network(n.subnet):
        raise InvalidParameter(_NOT_IN_SUBNET.format(want))


def _ipam_record(want: str, want6: str, link_local: list[str]) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    if want:
        out["IPv4Address"] = want
    if want6:
        out["IPv6Address"] = want6
    if link_local:
        out["LinkLocalIPs"] = link_local
    return out or None


def _endpoint_links(cfg: dict[str, Any]) -> list[str]:
    """Links of an endpoint on a user-defined network ("name:alias"): names only this
    container resolves (to the linked container's address on that network)."""
    return [
        f"{ch.lstrip('/')}:{(al or ch).rsplit('/', 1)[-1]}"
        for ch, _, al in (x.partition(":") for x in cfg.get("Links") or [])
    ]


def endpoint_config(c: Any, n: Network, cfg: dict[str, Any]) -> dict[str, Any]:
    """Container C's endpoint on N as recorded until it starts (no address yet), from
    the endpoint settings CFG, checked in dockerd's order."""
    ipam_cfg = cfg.get("IPAMConfig") or {}
    want = ipam_cfg.get("IPv4Address") or ""
    want6 = ipam_cfg.get("IPv6Address") or ""
    link_local = list(ipam_cfg.get("LinkLocalIPs") or [])
    aliases = list(cfg.get("Aliases") or [])
    mac = cfg.get("MacAddress") or getattr(c.config, "mac_address", "") or ""
    _check_mac(mac)
    _check_link_local(link_local)
    _check_ipv6(n, want6)
    _check_user_defined_only(n, want, want6, aliases)
    _check_ipv4(n, want)
    links = _endpoint_links(cfg)
    return {
        "IPAMConfig": _ipam_record(want, want6, link_local),
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


def clear_endpoint(ep: dict[str, Any]) -> None:
    """An endpoint as after its container stopped: no address, no interface."""
    # a MAC address the user asked for (--mac-address) stays for the next start; one
    # berth made from the address goes with it
    if ep.get("IPAddress") and ep.get("MacAddress") == mac_of(ep["IPAddress"]):
        ep["MacAddress"] = ""
    for k in ("EndpointID", "IPAddress", "Gateway", "GlobalIPv6Address", "IPv6Gateway"):
        ep[k] = ""
    ep["IPPrefixLen"] = ep["GlobalIPv6PrefixLen"] = 0
    ep["DNSNames"] = None
    ep.pop("Ifname", None)


def normalize_links(
    c: Any, links: list[str] | None, n: Network, lookup: Callable[[str], Any]
) -> list[str]:
    """HostConfig.Links as dockerd keeps them ("/db:/web/alias"), each linked container
    (found by LOOKUP) checked to exist (a 400, not a 404: the CLI would pull on a 404)."""
    out: list[str] = []
    for spec in links or []:
        child, _, alias = spec.partition(":")
        child = child.lstrip("/")
        alias = (alias or child).rsplit("/", 1)[-1]
        try:
            other = lookup(child)
        except NotFound as exc:
            raise InvalidParameter(f"could not get container for {child}: {exc}") from exc
        if not n.user_defined and mode_network(other.host_config.network_mode) != "bridge":
            raise InvalidParameter(
                f"Cannot link to /{other.name}, as it does not belong to the default network"
            )
        out.append(f"/{other.name}:/{c.name}/{alias}")
    return out
