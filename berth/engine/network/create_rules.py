"""The rules of POST /networks/create, before anything is made: a body is checked in
dockerd's order and decoded into what the new network will be. Each check is one small
function; the first that fails answers, in dockerd's words.

| step | checks                                                                |
|------|-----------------------------------------------------------------------|
| 1    | the name and driver (`decode_name`), then the name is not taken       |
| 2    | `REFUSED`: what berth does not do (IPAM plugins, swarm, config-only) |
| 3    | `OPTION_CHECKS`: the bridge driver's options, by key                  |
| 4    | `decode_addressing`: subnets, gateways, ranges, auxiliary addresses   |
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from berth.engine import wire
from berth.engine.errors import Conflict, Forbidden, InvalidParameter, NotFound
from berth.engine.network import ipam
from berth.engine.network.model import BUILTIN, Network

# The bridge driver's options (com.docker.network.bridge.* and driver.mtu)
OPT_NAME = "com.docker.network.bridge.name"
OPT_ICC = "com.docker.network.bridge.enable_icc"
OPT_MASQ = "com.docker.network.bridge.enable_ip_masquerade"
OPT_HOST_IP = "com.docker.network.bridge.host_binding_ipv4"
OPT_MTU = "com.docker.network.driver.mtu"

GO_BOOLS = ("1", "t", "true", "0", "f", "false")

Body = dict[str, Any]


# ---- step 1: name and driver ----------------------------------------------
def decode_name(body: Body) -> str:
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
    return name


def check_unique(name: str, existing: Iterable[Network]) -> None:
    # dockerd 25+ refuses a duplicate whatever CheckDuplicate says (API 1.44 dropped
    # the field; older clients sending false get the same 409)
    if any(n.name == name for n in existing):
        raise Conflict(f"network with name {name} already exists")


# ---- step 2: what berth does not do is refused, not taken and dropped -------
def _ipam_driver(body: Body) -> None:
    ipam_body = body.get("IPAM") or {}
    if (ipam_body.get("Driver") or "default") != "default":
        raise NotFound(f'plugin "{ipam_body["Driver"]}" not found')


def _ingress(body: Body) -> None:
    if body.get("Ingress"):
        raise Forbidden("ingress networks are a swarm feature: berth has no swarm")


def _config_only(body: Body) -> None:
    if body.get("ConfigOnly") or (body.get("ConfigFrom") or {}).get("Network"):
        raise InvalidParameter(
            "config-only networks (--config-only, --config-from) are not supported by berth"
        )


def _scope(body: Body) -> None:
    if (body.get("Scope") or "local") != "local":
        raise InvalidParameter(
            f"scope {body['Scope']!r} is not supported by berth: its networks are local"
        )


def _ipv4_off(body: Body) -> None:
    if body.get("EnableIPv4") is False:
        raise InvalidParameter("IPv4 cannot be disabled: berth's networks always have IPv4")


REFUSED: tuple[Callable[[Body], None], ...] = (
    _ipam_driver,
    _ingress,
    _config_only,
    _scope,
    _ipv4_off,
)


# ---- step 3: driver options ------------------------------------------------
def _go_bool(key: str, value: str) -> None:
    if value.lower() not in GO_BOOLS:
        raise InvalidParameter(f"failed to parse {key} value: invalid syntax")


def _mtu(key: str, value: str) -> None:
    if not value:
        return
    try:
        if not 68 <= int(value) <= 65535:
            raise ValueError(value)
    except ValueError as exc:
        raise InvalidParameter(
            f"invalid MTU value {value!r}: it must be a number from 68 to 65535"
        ) from exc


def _host_ip(key: str, value: str) -> None:
    if not value:
        return
    try:
        ipaddress.IPv4Address(value)
    except ValueError as exc:
        raise InvalidParameter(f"failed to parse {key} value: {value}") from exc


# checked in this order, each only when the option is given
OPTION_CHECKS: tuple[tuple[str, Callable[[str, str], None]], ...] = (
    (OPT_ICC, _go_bool),
    (OPT_MASQ, _go_bool),
    (OPT_MTU, _mtu),
    (OPT_HOST_IP, _host_ip),
)


def decode_options(body: Body) -> dict[str, str]:
    opts = dict(body.get("Options") or {})
    for key, check in OPTION_CHECKS:
        if key in opts:
            check(key, opts[key])
    return opts


# ---- step 4: addressing ------------------------------------------------------
@dataclass
class Addressing:
    subnet: str
    gateway: str
    ip_range: str
    subnet6: str = ""
    gateway6: str = ""
    ip_range6: str = ""
    aux: dict[str, str] = field(default_factory=dict)


def decode_addressing(
    body: Body,
    enable6: bool,
    existing: list[Network],
    pick: Callable[[list[ipam.Net]], ipam.Net],
) -> Addressing:
    """The network's subnets from IPAM.Config (the first of each family), or picked by
    PICK from the pools left by EXISTING's subnets."""
    cfgs = ((body.get("IPAM") or {}).get("Config")) or []
    v4 = [c for c in cfgs if not ipam.is_v6(c.get("Subnet") or "")]
    v6 = [c for c in cfgs if ipam.is_v6(c.get("Subnet") or "")]
    if v6 and not enable6:
        raise InvalidParameter(
            "invalid network config: IPv6 subnet configured but IPv6 is not enabled (use --ipv6)"
        )
    taken = [ipam.parse_subnet(x.subnet) for x in existing if x.subnet]
    subnet, gateway, ip_range = _ipv4_config(v4[0] if v4 else None, taken, pick)
    out = Addressing(subnet, gateway, ip_range)
    if enable6:
        taken6 = [ipam.parse_subnet6(x.subnet6) for x in existing if x.enable_ipv6 and x.subnet6]
        out.subnet6, out.gateway6, out.ip_range6 = ipv6_config(v6[0] if v6 else {}, taken6)
    out.aux = _aux_addresses(cfgs, out.subnet, out.subnet6)
    return out


def _ipv4_config(
    c0: dict[str, Any] | None,
    taken: list[ipam.Net],
    pick: Callable[[list[ipam.Net]], ipam.Net],
) -> tuple[str, str, str]:
    subnet = gateway = ip_range = ""
    if c0 is not None:
        if c0.get("Subnet"):
            sub = ipam.parse_subnet(c0["Subnet"])
            ipam.check_overlap(sub, taken)
            subnet = str(sub)
        gateway, ip_range = c0.get("Gateway") or "", c0.get("IPRange") or ""
        if (gateway or ip_range) and not subnet:
            raise InvalidParameter("gateway or ip-range given without a subnet")
    if not subnet:
        subnet = str(pick(taken))
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
    return subnet, gateway, ip_range


def ipv6_config(c6: dict[str, Any], taken6: list[ipaddress.IPv6Network]) -> tuple[str, str, str]:
    """(subnet, gateway, ip range) of a network's IPv6 side: the config given, else a
    unique-local /64 of its own."""
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
            raise Forbidden(f"invalid pool request: ip-range {r6} does not belong to subnet {sub6}")
        r6 = str(rr)
    return str(sub6), gw6, r6


def _aux_addresses(cfgs: list[dict[str, Any]], subnet: str, subnet6: str) -> dict[str, str]:
    """AuxiliaryAddresses of every config: kept, each inside its family's subnet, and
    never handed to a container."""
    aux: dict[str, str] = {}
    for cfg in cfgs:
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
    return aux


# ---- the whole of it -----------------------------------------------------------
@dataclass
class NetworkSpec:
    """A create body that passed every check: what the network will be, bar its id and
    bridge (those come with the host's checks)."""

    name: str
    options: dict[str, str]
    enable_ipv6: bool
    addressing: Addressing
    ipam_options: dict[str, str]


def decode(
    body: Body, existing: list[Network], pick: Callable[[list[ipam.Net]], ipam.Net]
) -> NetworkSpec:
    name = decode_name(body)
    check_unique(name, existing)
    for refuse in REFUSED:
        refuse(body)
    opts = decode_options(body)
    enable6 = wire.field(body, "EnableIPv6", bool, "CreateRequest", False) is True
    addressing = decode_addressing(body, enable6, existing, pick)
    ipam_opts = (body.get("IPAM") or {}).get("Options") or {}
    return NetworkSpec(
        name,
        opts,
        enable6,
        addressing,
        {str(k): str(v) for k, v in ipam_opts.items()},
    )


def check_bridge_name(nid: str, bname: str, existing: Iterable[Network]) -> None:
    """No two networks on one bridge."""
    for other in existing:
        if other.driver == "bridge" and other.bridge == bname:
            raise Forbidden(
                f"cannot create network {nid} ({bname}): conflicts with network "
                f"{other.id} ({bname}): networks have same bridge name"
            )
