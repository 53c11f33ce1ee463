"""Address management: subnet pools (dockerd's defaults) and per-network leases."""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Callable, Iterable
from typing import Any

from berth.engine.errors import Forbidden, InvalidParameter

Net = ipaddress.IPv4Network


def default_pools(custom: list[dict[str, Any]] | None = None) -> Iterable[Net]:
    """dockerd's default address pools: 172.17-31.0.0/16, then 192.168.0.0/16 in /20s;
    with CUSTOM (daemon.json's default-address-pools, [{"base": CIDR, "size": N}]) those
    instead, each base cut into /size subnets."""
    if custom:
        for p in custom:
            base = ipaddress.ip_network(str(p.get("base") or ""), strict=False)
            if isinstance(base, ipaddress.IPv4Network):
                yield from base.subnets(new_prefix=int(p.get("size") or base.prefixlen))
        return
    for i in range(17, 32):
        yield ipaddress.IPv4Network(f"172.{i}.0.0/16")
    yield from ipaddress.IPv4Network("192.168.0.0/16").subnets(new_prefix=20)


def host_networks() -> list[Net]:
    """Subnets the host already routes (any interface), read from /proc/net/route."""
    out: list[Net] = []
    try:
        with open("/proc/net/route") as f:
            lines = f.read().splitlines()[1:]
    except OSError:
        return out
    for ln in lines:
        p = ln.split()
        if len(p) < 8:
            continue
        dst = ipaddress.IPv4Address(int(p[1], 16).to_bytes(4, "little"))
        mask = ipaddress.IPv4Address(int(p[7], 16).to_bytes(4, "little"))
        if int(mask) == 0:
            continue  # the default route overlaps everything
        out.append(ipaddress.IPv4Network(f"{dst}/{mask}", strict=False))
    return out


def parse_subnet(s: str) -> Net:
    try:
        return ipaddress.IPv4Network(s, strict=False)
    except ValueError as exc:
        raise InvalidParameter(f"invalid CIDR address: {s}") from exc


def check_overlap(subnet: Net, taken: Iterable[Net]) -> None:
    for t in taken:
        if subnet.overlaps(t):
            raise Forbidden(
                "invalid pool request: Pool overlaps with other one on this address space"
            )


def pick_pool(
    taken: list[Net],
    custom: list[dict[str, Any]] | None = None,
    routed: list[Net] | None = None,
) -> Net:
    """The first default (or CUSTOM) pool that overlaps neither TAKEN nor what the host
    routes (ROUTED, read from the host when not given)."""
    busy = taken + (host_networks() if routed is None else routed)
    for pool in default_pools(custom):
        if not any(pool.overlaps(t) for t in busy):
            return pool
    raise Forbidden("all predefined address pools have been fully subnetted")


def parse_subnet6(s: str) -> ipaddress.IPv6Network:
    try:
        return ipaddress.IPv6Network(s, strict=False)
    except ValueError as exc:
        raise InvalidParameter(f"invalid CIDR address: {s}") from exc


def is_v6(cidr: str) -> bool:
    """Whether an IPAM config's subnet is an IPv6 one (dockerd sorts them by family)."""
    try:
        return ipaddress.ip_network(cidr, strict=False).version == 6
    except ValueError:
        return False


def pick_pool6(taken: list[ipaddress.IPv6Network]) -> ipaddress.IPv6Network:
    """A /64 for an IPv6 network given no subnet: a random unique-local one (fd00::/8),
    as dockerd 27+ hands out by default."""
    for _ in range(64):
        net = ipaddress.IPv6Network((b"\xfd" + secrets.token_bytes(5) + b"\0" * 10, 64))
        if not any(net.overlaps(t) for t in taken):
            return net
    raise Forbidden("all predefined address pools have been fully subnetted")


class Leases:
    """Addresses in use per network id; rebuilt from the containers at daemon start."""

    def __init__(self) -> None:
        self._used: dict[str, set[str]] = {}

    def used(self, nid: str) -> set[str]:
        return self._used.setdefault(nid, set())

    def take(
        self,
        nid: str,
        subnet: str,
        gateway: str,
        ip_range: str,
        want: str = "",
        claim: Callable[[str], bool] = lambda a: True,
    ) -> str:
        net = ipaddress.ip_network(subnet)
        family = f"IPv{net.version}"
        used = self.used(nid)
        if want:
            try:
                addr = ipaddress.ip_address(want)
                if addr.version != net.version:
                    raise ValueError(want)
            except ValueError as exc:
                raise InvalidParameter(f"invalid {family} address: {want}") from exc
            if addr not in net:
                raise InvalidParameter(
                    f"Invalid address {want}: It does not belong to any of this network's subnets"
                )
            if want in used or want == gateway or not claim(want):
                raise Forbidden("Address already in use")
            used.add(want)
            return want
        pool = ipaddress.ip_network(ip_range) if ip_range else net
        for n, host in enumerate(pool.hosts()):
            if n > 65536:  # an IPv6 /64 is never walked to its end
                break
            s = str(host)
            if s == gateway or s in used or host == net.broadcast_address:
                continue
            if claim(s):
                used.add(s)
                return s
        raise Forbidden(
            f"no available {family} addresses on this network's address pools: {subnet}"
        )

    def release(self, nid: str, addr: str) -> None:
        self.used(nid).discard(addr)
