"""Netlink work (pyroute2, imported lazily): bridges, veth pairs, named netns.
Every function is blocking; the service runs them in a worker thread."""

from __future__ import annotations

import contextlib
import errno
import os
import threading
from collections.abc import Iterator
from typing import Any

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
    with _entered(os.path.join(NETNS_DIR, ns)):
        return IPRoute()


@contextlib.contextmanager
def _entered(path: str) -> Iterator[None]:
    from berth.runtime.syscalls import CLONE_NEWNET, sys_

    host = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            sys_.setns(fd, CLONE_NEWNET)
        finally:
            os.close(fd)
        try:
            yield
        finally:
            sys_.setns(host, CLONE_NEWNET)
    finally:
        os.close(host)


def ensure_bridge(name: str, gateway: str, prefixlen: int) -> None:
    """The bridge, up, with the gateway address (idempotent)."""
    with _ipr() as ipr:
        idx = ipr.link_lookup(ifname=name)
        if not idx:
            try:
                ipr.link("add", ifname=name, kind="bridge")
            except Exception as exc:  # another daemon made it in between
                if getattr(exc, "code", 0) != errno.EEXIST:
                    raise
            idx = ipr.link_lookup(ifname=name)
        i = idx[0]
        have = {
            (a.get_attr("IFA_ADDRESS"), a["prefixlen"]) for a in ipr.get_addr(index=i, family=2)
        }
        # a bridge shared with another daemon keeps the address it has
        if not have:
            try:
                ipr.addr("add", index=i, address=gateway, prefixlen=prefixlen)
            except Exception as exc:
                if getattr(exc, "code", 0) != errno.EEXIST:
                    raise
        ipr.link("set", index=i, state="up", mtu=MTU)


def bridge_address(name: str) -> tuple[str, int] | None:
    """The first IPv4 address of an existing bridge (None: no such bridge or no address)."""
    with _ipr() as ipr:
        idx = ipr.link_lookup(ifname=name)
        if not idx:
            return None
        for a in ipr.get_addr(index=idx[0], family=2):
            return a.get_attr("IFA_ADDRESS"), a["prefixlen"]
    return None


def bridge_ports(name: str) -> int:
    with _ipr() as ipr:
        idx = ipr.link_lookup(ifname=name)
        if not idx:
            return -1
        return len(ipr.get_links(master=idx[0]))


def delete_link(name: str) -> None:
    with _ipr() as ipr:
        idx = ipr.link_lookup(ifname=name)
        if idx:
            ipr.link("del", index=idx[0])


def link_exists(name: str) -> bool:
    with _ipr() as ipr:
        return bool(ipr.link_lookup(ifname=name))


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
            finally:
                sys_.setns(host, CLONE_NEWNET)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(path)
            raise
        finally:
            os.close(host)
    with _ipr(name) as ns:
        lo = ns.link_lookup(ifname="lo")[0]
        ns.link("set", index=lo, state="up")
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


def add_endpoint(
    cid: str,
    bridge: str,
    ifname: str,
    address: str,
    prefixlen: int,
    gateway: str,
    mac: str,
    default_route: bool,
) -> None:
    """A veth pair: host end on the bridge, the other end as IFNAME in the container's netns."""
    name = netns_name(cid)
    host_end = host_veth_name(cid, ifname)
    tmp = f"bt{cid[:7]}{ifname[-1]}"
    with _ipr() as ipr:
        br = ipr.link_lookup(ifname=bridge)[0]
        peer = {"ifname": tmp, "net_ns_fd": name}
        try:
            ipr.link("add", ifname=host_end, kind="veth", peer=peer)
        except Exception as exc:
            if getattr(exc, "code", 0) != errno.EEXIST:
                raise
            # a restart of the same container: its last netns is dropped but the kernel
            # has not destroyed it (and this name's veth with it) yet
            for stale in ipr.link_lookup(ifname=host_end):
                with contextlib.suppress(Exception):
                    ipr.link("del", index=stale)
            ipr.link("add", ifname=host_end, kind="veth", peer=peer)
        try:
            h = ipr.link_lookup(ifname=host_end)[0]
            ipr.link("set", index=h, master=br, mtu=MTU, state="up")
            with _ipr(name) as ns:
                i = ns.link_lookup(ifname=tmp)[0]
                ns.link("set", index=i, ifname=ifname, address=mac, mtu=MTU)
                ns.addr("add", index=i, address=address, prefixlen=prefixlen)
                ns.link("set", index=i, state="up")
                if default_route and gateway:
                    ns.route("replace", dst="default", gateway=gateway)
        except BaseException:
            ipr.link("del", ifname=host_end)
            raise


def remove_endpoint(cid: str, ifname: str) -> None:
    delete_link(host_veth_name(cid, ifname))


def leftover_netns() -> list[str]:
    try:
        return [n for n in os.listdir(NETNS_DIR) if n.startswith(NETNS_PREFIX)]
    except OSError:
        return []


LEASE_DIR = "/run/berth/leases"


def claim_address(bridge_name: str, addr: str, cid: str) -> bool:
    """Reserve ADDR on BRIDGE across daemons sharing the bridge (one file per address,
    created exclusively; a file whose container netns is gone is stale and reclaimed)."""
    d = os.path.join(LEASE_DIR, bridge_name)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, addr)
    for _ in range(2):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            try:
                with open(path) as f:
                    owner = f.read().strip()
            except OSError:
                continue
            if owner and os.path.exists(os.path.join(NETNS_DIR, owner)):
                return False
            with contextlib.suppress(OSError):
                os.unlink(path)
            continue
        with os.fdopen(fd, "w") as f:
            f.write(netns_name(cid))
        return True
    return False


def release_address(bridge_name: str, addr: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(os.path.join(LEASE_DIR, bridge_name, addr))
