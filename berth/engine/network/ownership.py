"""What berth did to the host for a network, so that removing it undoes exactly that: a
bridge berth made goes, an adopted one stays with its own addresses; berth's rules and
stale leases go either way. All blocking (the service runs them in a worker thread)."""

from __future__ import annotations

import asyncio
import ipaddress

from berth.engine.network.bridge import Link, Setup
from berth.engine.network.create_rules import OPT_ICC, OPT_MASQ, OPT_NAME
from berth.engine.network.model import Network
from berth.engine.network.port import NetworkHost
from berth.engine.network.store import NetworkStore


def record(n: Network, setup: Setup) -> None:
    """Note in N what ensure_bridge did (the caller saves N)."""
    if setup.created:
        n.made_link, n.added_address = setup.link, ""
    elif n.made_link != setup.link:
        # the bridge berth made for N (if any) is gone: this one is someone else's
        n.made_link = ""
    if setup.added_address:
        n.added_address = f"{setup.link}/{setup.added_address}"


def made_link(n: Network, link: Link | None) -> str:
    """The link id of N's bridge when berth made it, else ""."""
    if n.made_link is not None:
        return n.made_link
    # a record from before berth kept this: a bridge named after the network's own
    # fresh id (br-<id12>) cannot have existed before berth made it; any other name
    # may be someone else's and stays
    generated = n.user_defined and n.bridge == "br-" + n.id[:12] and OPT_NAME not in n.options
    return link.id if generated and link is not None else ""


def ensure_bridge(host: NetworkHost, n: Network) -> Setup:
    """N's bridge, up, with its gateway address and MTU."""
    plen = ipaddress.IPv4Network(n.subnet).prefixlen
    return host.ensure_bridge(n.bridge, n.gateway, plen, n.mtu)


def host_side(host: NetworkHost, n: Network) -> None:
    """N's IPv6 gateway on its bridge, and its rules."""
    if n.enable_ipv6 and n.gateway6:
        host.ensure_address6(n.bridge, n.gateway6, ipaddress.IPv6Network(n.subnet6).prefixlen)
    host.add_bridge_rules(
        n.bridge, n.subnet, n.internal, n.id, n.opt_bool(OPT_ICC), n.opt_bool(OPT_MASQ)
    )


def setup_bridge(store: NetworkStore, host: NetworkHost, n: Network) -> None:
    """N's bridge made (or adopted) and recorded, then its addresses and rules."""
    record(n, ensure_bridge(host, n))
    store.save(n)
    host_side(host, n)


async def setup_bridge_async(store: NetworkStore, host: NetworkHost, n: Network) -> None:
    """setup_bridge with the host's work in a worker thread and the record in the loop."""
    setup = await asyncio.to_thread(ensure_bridge, host, n)
    record(n, setup)
    store.save(n)
    await asyncio.to_thread(host_side, host, n)


def undo_host(host: NetworkHost, n: Network) -> None:
    """Take back what berth did to the host for N, and nothing else. An adopted bridge
    stays, with its own addresses; berth's rules and leases for it go."""
    made = made_link(n, host.find_link(n.bridge))
    deleted = bool(made) and host.delete_bridge(n.bridge, made)
    if not deleted and n.added_address:
        host.remove_address(n.bridge, n.added_address)
    host.remove_bridge_rules(n.bridge, owner=n.id, legacy=deleted)
    host.drop_leases(n.bridge)
