"""daemon.json's network keys applied to the default bridge (dockerd applies them to it
alone): icc, ip-masq, mtu, ip, ipv6 and fixed-cidr-v6, bip, default-address-pools."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from typing import Any

from berth.engine.errors import InvalidParameter
from berth.engine.network import ipam
from berth.engine.network.bridge import Link
from berth.engine.network.create_rules import OPT_HOST_IP, OPT_ICC, OPT_MASQ, OPT_MTU
from berth.engine.network.model import Network


def opt_bool(o: Mapping[str, Any], key: str, default: bool) -> bool:
    """A boolean daemon option, from daemon.json (a JSON bool) or a flag (its text)."""
    v = o.get(key)
    if v is None:
        return default
    if isinstance(v, str):
        return v.strip().lower() in ("1", "t", "true", "yes")
    return bool(v)


def _ipv6(n: Network, o: Mapping[str, Any]) -> None:
    if not opt_bool(o, "ipv6", False):
        n.enable_ipv6, n.subnet6, n.gateway6 = False, "", ""
        return
    n.enable_ipv6 = True
    if o.get("fixed-cidr-v6"):
        sub6 = ipam.parse_subnet6(str(o["fixed-cidr-v6"]))
        n.subnet6, n.gateway6 = str(sub6), str(next(sub6.hosts()))
    elif not n.subnet6:
        sub6 = ipam.pick_pool6([])
        n.subnet6, n.gateway6 = str(sub6), str(next(sub6.hosts()))


def apply(n: Network, o: Mapping[str, Any]) -> None:
    """The keys that set the default bridge's driver options and IPv6 side."""
    if "icc" in o:
        n.options[OPT_ICC] = "true" if opt_bool(o, "icc", True) else "false"
    if "ip-masq" in o:
        n.options[OPT_MASQ] = "true" if opt_bool(o, "ip-masq", True) else "false"
    if o.get("mtu"):
        n.options[OPT_MTU] = str(int(o["mtu"]))
    if o.get("ip"):
        n.options[OPT_HOST_IP] = str(o["ip"])
    _ipv6(n, o)


def address(
    n: Network,
    o: Mapping[str, Any],
    have: Link | None,
    others: list[ipam.Net],
    routed: Callable[[], list[ipam.Net]],
) -> None:
    """The default bridge's subnet and gateway: --bip's; else the address of the bridge
    found on the host (another daemon's, or the admin's); else the recorded one, unless
    it left the address pools or the host (ROUTED) or another network (OTHERS) took it."""
    if o.get("bip"):
        try:
            iface = ipaddress.IPv4Interface(str(o["bip"]))
        except ValueError as exc:
            raise InvalidParameter(f"invalid bip: {o['bip']}") from exc
        n.subnet, n.gateway = str(iface.network), str(iface.ip)
        return
    if have is not None and have.addresses:
        ip, plen = have.addresses[0]
        n.subnet, n.gateway = str(ipaddress.IPv4Network(f"{ip}/{plen}", strict=False)), ip
        return
    sub = ipaddress.IPv4Network(n.subnet)
    pools = o.get("default-address-pools") or None
    outside = pools is not None and not any(sub.subnet_of(p) for p in ipam.default_pools(pools))
    if outside or any(sub.overlaps(h) for h in routed() + others):
        sub = ipam.pick_pool(others, pools, routed())
        n.subnet, n.gateway = str(sub), str(next(sub.hosts()))
