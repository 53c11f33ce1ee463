"""Netlink work: bridges, veth pairs, named netns. Every function is blocking; the service
runs them in a worker thread.

What every container start and exit does (its netns, its veth pair, address and route)
and reading one link (find_link, and ensure_bridge when the bridge is already as wanted)
are plain rtnetlink requests (rtnl.py): pyroute2 costs milliseconds per call and ~80 ms
to import. Making, changing and deleting bridges, which happens once per network, still
goes through pyroute2 (imported lazily)."""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import threading
from dataclasses import dataclass
from typing import Any

from berth.engine.errors import InvalidParameter
from berth.engine.network import rtnl

NETNS_DIR = "/run/netns"
NETNS_PREFIX = "berth-"
MTU = 1500
_MS_BIND = 4096
_MNT_DETACH = 2


def netns_name(cid: str) -> str:
    return NETNS_PREFIX + cid[:12]


def netns_path(cid: str) -> str:
    return os.path.join(NETNS_DIR, netns_name(cid))


def _ipr(ns: str | None = None) -> Any:
    """A netlink socket, in the named netns if NS. pyroute2's own netns= forks a helper
    process, which from the daemon's event loop process is unsafe (the child runs the
    daemon's exit handlers) and slow; a socket keeps the netns it was opened in, so this
    thread enters the netns, opens it and comes back."""
    from pyroute2 import IPRoute

    if not ns:
        return IPRoute()
    with rtnl.entered(os.path.join(NETNS_DIR, ns)):
        return IPRoute()


def link_id(ifindex: int) -> str:
    """A name for one link that a new link of the same name never gets: the kernel does
    not hand an ifindex out again before it wraps, and no link outlives the boot."""
    with open("/proc/sys/kernel/random/boot_id") as f:
        return f"{f.read().strip()}/{ifindex}"


@dataclass(frozen=True)
class Link:
    ifindex: int
    kind: str  # "bridge", "veth", ...; "" for a physical device
    addresses: tuple[tuple[str, int], ...]  # IPv4 (address, prefixlen)
    up: bool = False  # administratively up (IFF_UP)

    @property
    def id(self) -> str:
        return link_id(self.ifindex)


def _kind(ipr: Any, index: int) -> str:
    links = ipr.get_links(index)
    return (links[0].get_nested("IFLA_LINKINFO", "IFLA_INFO_KIND") or "") if links else ""


def find_link(name: str) -> Link | None:
    """The link NAME in this thread's netns, as pyroute2's link_lookup(ifname=) finds it
    (any netlink error, e.g. ENODEV: none), with its IPv4 addresses in the kernel's
    order (the primary first)."""
    req = rtnl.IFINFO.pack(socket.AF_UNSPEC, 0, 0, 0, 0) + rtnl.name_attr(rtnl.IFLA_IFNAME, name)
    with rtnl.Rtnl() as r:
        try:
            msgs = r.request(rtnl.RTM_GETLINK, 0, req)
        except OSError:
            return None
        if not msgs:
            return None
        _, _, index, ifflags, _ = rtnl.IFINFO.unpack_from(msgs[0])
        info = rtnl.attrs(msgs[0], rtnl.IFINFO.size).get(rtnl.IFLA_LINKINFO)
        kind = rtnl.attrs(info, 0).get(rtnl.IFLA_INFO_KIND, b"") if info is not None else b""
        addrs = []
        dump = rtnl.IFADDR.pack(socket.AF_INET, 0, 0, 0, 0)
        for m in r.request(rtnl.RTM_GETADDR, rtnl.NLM_F_DUMP, dump):
            family, prefixlen, _, _, aindex = rtnl.IFADDR.unpack_from(m)
            if family != socket.AF_INET or aindex != index:
                continue
            a = rtnl.attrs(m, rtnl.IFADDR.size).get(rtnl.IFA_ADDRESS)
            if a is not None and len(a) == 4:
                addrs.append((socket.inet_ntoa(a), prefixlen))
    up = bool(ifflags & rtnl.IFF_UP)
    return Link(index, kind.rstrip(b"\0").decode(), tuple(addrs), up)


def not_a_bridge(name: str) -> InvalidParameter:
    return InvalidParameter(f"existing interface {name} is not a bridge")


@dataclass(frozen=True)
class Setup:
    """What ensure_bridge did to the host, so that exactly that can be undone later."""

    link: str  # link_id of the bridge, whoever made it
    created: bool  # this call made the bridge
    added_address: str  # "ip/prefixlen" this call put on a bridge it did not make, or ""


def ensure_bridge(name: str, gateway: str, prefixlen: int, mtu: int = MTU) -> Setup:
    """The bridge, up, with the gateway address (idempotent). An existing link of that name
    is adopted as it is (another daemon's, or the admin's) if it is a bridge, refused if not."""
    have = find_link(name)
    if have is not None and have.kind == "bridge" and have.addresses and have.up:
        # what every start after the first finds: nothing to change
        return Setup(have.id, False, "")
    with rtnl.Rtnl() as r:
        created = False
        if have is None:
            try:
                r.add_link(name, "bridge")
                created = True
            except FileExistsError:  # another daemon made it in between
                pass
            have = find_link(name)
            if have is None:
                raise OSError(errno.ENODEV, f"bridge {name} went away as it was made")
        if not created and have.kind != "bridge":
            raise not_a_bridge(name)
        i, added = have.ifindex, ""
        try:
            # a bridge shared with another daemon keeps the address it has
            if not have.addresses:
                try:
                    r.add_address(i, gateway, prefixlen)
                    added = "" if created else f"{gateway}/{prefixlen}"
                except FileExistsError:
                    pass
            # an adopted bridge keeps its MTU (dockerd sets it only on bridges it made)
            r.set_up(i, mtu=mtu if created else 0)
        except BaseException:
            with contextlib.suppress(OSError):
                if created:
                    r.delete_link(i)
                elif added:
                    r.delete_address(i, gateway, prefixlen)
            raise
        return Setup(link_id(i), created, added)


_IFA_F_NODAD = 0x02  # linux/if_addr.h: the address is usable at once, no DAD wait


def _enable_ipv6(ifname: str) -> None:
    """A link's IPv6 is off when the host (or its netns) says so by default; a network
    with --ipv6 needs it on the bridge and the container's end."""
    with (
        contextlib.suppress(OSError),
        open(f"/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6", "w") as f,
    ):
        f.write("0")


def ensure_address6(name: str, gateway6: str, prefixlen6: int) -> None:
    """The IPv6 gateway address on bridge NAME (idempotent), as dockerd puts it there."""
    _enable_ipv6(name)
    with _ipr() as ipr:
        idx = ipr.link_lookup(ifname=name)
        if not idx:
            return
        have = {a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(index=idx[0], family=10)}
        if gateway6 in have:
            return
        try:
            ipr.addr(
                "add", index=idx[0], address=gateway6, prefixlen=prefixlen6, flags=_IFA_F_NODAD
            )
        except Exception as exc:
            if getattr(exc, "code", 0) != errno.EEXIST:
                raise


def bridge_ports(name: str) -> int:
    with _ipr() as ipr:
        idx = ipr.link_lookup(ifname=name)
        if not idx:
            return -1
        return len(ipr.get_links(master=idx[0]))


def delete_bridge(name: str, made: str) -> bool:
    """Delete the bridge NAME if it is still the very link MADE (its link_id when berth
    created it); any other link of that name is left alone. True if deleted."""
    with _ipr() as ipr:
        idx = ipr.link_lookup(ifname=name)
        if not idx or link_id(idx[0]) != made or _kind(ipr, idx[0]) != "bridge":
            return False
        ipr.link("del", index=idx[0])
        return True


def remove_address(name: str, added: str) -> None:
    """Take back the address ADDED ("<link id>/<ip>/<prefixlen>", as recorded when berth put
    it on a bridge it adopted), if that same link still has it."""
    link, _, rest = added.rpartition("/")
    link, _, ip = link.rpartition("/")
    with _ipr() as ipr:
        idx = ipr.link_lookup(ifname=name)
        if not idx or link_id(idx[0]) != link:
            return
        have = {
            (a.get_attr("IFA_ADDRESS"), a["prefixlen"])
            for a in ipr.get_addr(index=idx[0], family=2)
        }
        if (ip, int(rest)) in have:
            ipr.addr("del", index=idx[0], address=ip, prefixlen=int(rest))


def create_netns(cid: str) -> str:
    """A new netns kept by a bind mount at /run/netns/NAME (as `ip netns add` does),
    made by this thread alone: unshare, bind its ns file, go back to the host's."""
    from berth.runtime.syscalls import CLONE_NEWNET, sys_

    name = netns_name(cid)
    path = os.path.join(NETNS_DIR, name)
    if not os.path.ismount(path):
        os.makedirs(NETNS_DIR, exist_ok=True)
        with open(path, "a"):
            pass
        host = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            sys_.unshare(CLONE_NEWNET)
            try:
                own = f"/proc/self/task/{threading.get_native_id()}/ns/net"
                sys_.mount(own, path, None, _MS_BIND)
                with rtnl.Rtnl() as r:  # this thread is in the new netns
                    r.set_up(rtnl.LOOPBACK_INDEX)
            finally:
                sys_.setns(host, CLONE_NEWNET)
        except BaseException:
            with contextlib.suppress(OSError):
                sys_.umount2(path, _MNT_DETACH)
            with contextlib.suppress(OSError):
                os.unlink(path)
            raise
        finally:
            os.close(host)
    else:
        with rtnl.Rtnl(path) as r:
            r.set_up(rtnl.LOOPBACK_INDEX)
    return netns_path(cid)


def delete_netns(cid: str) -> None:
    """Deleting the namespace destroys its veth ends, and with them the host ends."""
    from berth.runtime.syscalls import sys_

    path = os.path.join(NETNS_DIR, netns_name(cid))
    if os.path.ismount(path):
        sys_.umount2(path, _MNT_DETACH)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def host_veth_name(cid: str, ifname: str) -> str:
    return f"veth{cid[:7]}{ifname[-1]}"


@dataclass(frozen=True)
class EndpointSpec:
    """One container endpoint: a veth pair from BRIDGE into the container's netns, as
    IFNAME there, with ADDRESS6 beside the IPv4 address on a dual-stack network and the
    LINK_LOCAL addresses asked for (--link-local-ip)."""

    cid: str
    bridge: str
    ifname: str
    address: str
    prefixlen: int
    gateway: str  # "" on an internal network: no default route out
    mac: str
    default_route: bool
    mtu: int = MTU
    address6: str = ""
    prefixlen6: int = 0
    gateway6: str = ""
    link_local: tuple[str, ...] = ()


def _configure_peer(ep: EndpointSpec, ns_path: str) -> None:
    """The container's end (named, with its MAC, in its netns since it was made):
    addressed, up, with the default routes when it carries them."""
    with rtnl.Rtnl(ns_path) as ns:
        link = ns.link(ep.ifname)
        if link is None:
            raise OSError(errno.ENODEV, f"{ep.ifname} is not in the container's netns")
        i = link[0]
        ns.add_address(i, ep.address, ep.prefixlen)
        if ep.address6:
            with rtnl.entered(ns_path):
                _enable_ipv6(ep.ifname)
            ns.add_address(i, ep.address6, ep.prefixlen6, nodad=True)
        for ll in ep.link_local:
            ns.add_address(i, ll, 64 if ":" in ll else 16, nodad=True)
        ns.set_up(i)
        if ep.default_route and ep.gateway:
            ns.replace_default_route(ep.gateway)
        if ep.default_route and ep.gateway6:
            ns.replace_default_route(ep.gateway6)


def add_endpoint(ep: EndpointSpec) -> None:
    """EP's veth pair: the host end on the bridge, the other in the container's netns."""
    host_end = host_veth_name(ep.cid, ep.ifname)
    ns_path = os.path.join(NETNS_DIR, netns_name(ep.cid))
    with rtnl.Rtnl() as r:
        br = r.link(ep.bridge)
        if br is None:
            raise OSError(errno.ENODEV, f"bridge {ep.bridge} is gone")
        nsfd = os.open(ns_path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            for attempt in (1, 2):
                try:
                    r.add_veth(
                        host_end, master=br[0], mtu=ep.mtu, peer=ep.ifname, peer_mac=ep.mac,
                        peer_netns=nsfd,
                    )  # fmt: skip
                    break
                except FileExistsError:
                    if attempt == 2:
                        raise
                    # a restart of the same container: its last netns is dropped but the
                    # kernel has not destroyed it (and this name's veth with it) yet
                    _delete_veth(r, host_end)
        finally:
            os.close(nsfd)
        try:
            _configure_peer(ep, ns_path)
        except BaseException:
            with contextlib.suppress(OSError):
                _delete_veth(r, host_end)
            raise


def _delete_veth(r: rtnl.Rtnl, name: str) -> None:
    """The host end NAME of one of berth's veth pairs (the name is derived from a container
    id; a link of that name of another kind is not ours)."""
    link = r.link(name)
    if link is not None and link[1] == "veth":
        r.delete_link(link[0])


def remove_endpoint(cid: str, ifname: str) -> None:
    with rtnl.Rtnl() as r:
        _delete_veth(r, host_veth_name(cid, ifname))


def leftover_netns() -> list[str]:
    try:
        return [n for n in os.listdir(NETNS_DIR) if n.startswith(NETNS_PREFIX)]
    except OSError:
        return []
