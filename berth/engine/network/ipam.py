"""Address management: subnet pools (dockerd's defaults) and per-network leases."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable

from berth.engine.errors import Forbidden, InvalidParameter

Net = ipaddress.IPv4Network


def default_pools() -> Iterable[Net]:
    """dockerd's default address pools: 172.17-31.0.0/16, then 192.168.0.0/16 in /20s."""
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


def pick_pool(taken: list[Net]) -> Net:
    busy = taken + host_networks()
    for pool in default_pools():
        if not any(pool.overlaps(t) for t in busy):
            return pool
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
        net = ipaddress.IPv4Network(subnet)
        used = self.used(nid)
        if want:
            try:
                addr = ipaddress.IPv4Address(want)
            except ValueError as exc:
                raise InvalidParameter(f"invalid IPv4 address: {want}") from exc
            if addr not in net:
                raise InvalidParameter(
                    f"Invalid address {want}: It does not belong to any of this network's subnets"
                )
            if want in used or want == gateway or not claim(want):
                raise Forbidden("Address already in use")
            used.add(want)
            return want
        pool = ipaddress.IPv4Network(ip_range) if ip_range else net
        for addr in pool.hosts():
            s = str(addr)
            if s == gateway or s in used or addr == net.broadcast_address:
                continue
            if claim(s):
                used.add(s)
                return s
        raise Forbidden(f"no available IPv4 addresses on this network's address pools: {subnet}")

    def release(self, nid: str, addr: str) -> None:
        self.used(nid).discard(addr)
