"""rtnetlink requests without pyroute2 (linux/netlink.h, linux/rtnetlink.h, linux/if_link.h,
linux/veth.h): what a container's start and exit do to links, addresses and routes.

pyroute2 runs an event loop of its own for every call (~0.5 ms and some 1,500 Python
calls each); a container's endpoint is one veth pair made with both ends configured, one
address and one route: a handful of messages, built here. Everything is blocking and
acts in the netns of the socket (`Rtnl(netns=...)` opens it in a named one).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

NLMSG = struct.Struct("=IHHII")  # nlmsghdr: len, type, flags, seq, pid
IFINFO = struct.Struct("=BxHiII")  # ifinfomsg: family, type, index, flags, change
IFADDR = struct.Struct("=BBBBI")  # ifaddrmsg: family, prefixlen, flags, scope, index
RTMSG = struct.Struct("=BBBBBBBBI")  # rtmsg: family, dst_len, src_len, tos, table,
#                                       protocol, scope, type, flags
RTA = struct.Struct("=HH")  # rtattr / nlattr: len, type

NLMSG_ERROR, NLMSG_DONE = 2, 3
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR, RTM_NEWROUTE = 20, 21, 22, 24
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP = 0x1, 0x4, 0x300
NLM_F_REPLACE, NLM_F_EXCL, NLM_F_CREATE = 0x100, 0x200, 0x400
NLA_F_NESTED = 0x8000
NLA_TYPE_MASK = 0x3FFF  # without NLA_F_NESTED and NLA_F_NET_BYTEORDER

IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_MASTER = 1, 3, 4, 10
IFLA_LINKINFO, IFLA_NET_NS_FD = 18, 28
IFLA_INFO_KIND, IFLA_INFO_DATA = 1, 2
VETH_INFO_PEER = 1
IFA_ADDRESS, IFA_LOCAL, IFA_FLAGS = 1, 2, 8
IFA_F_NODAD = 0x02
RTA_GATEWAY = 5
RT_TABLE_MAIN, RTPROT_STATIC, RT_SCOPE_UNIVERSE, RTN_UNICAST = 254, 4, 0, 1
IFF_UP = 0x1
LOOPBACK_INDEX = 1  # lo is the first link of every netns


def align(n: int) -> int:
    return (n + 3) & ~3


def attr(typ: int, data: bytes) -> bytes:
    ln = RTA.size + len(data)
    return RTA.pack(ln, typ) + data + b"\0" * (align(ln) - ln)


def nested(typ: int, *parts: bytes) -> bytes:
    return attr(typ | NLA_F_NESTED, b"".join(parts))


def name_attr(typ: int, name: str) -> bytes:
    return attr(typ, name.encode() + b"\0")


def u32_attr(typ: int, value: int) -> bytes:
    return attr(typ, struct.pack("=I", value))


def mac_bytes(mac: str) -> bytes:
    return bytes(int(x, 16) for x in mac.split(":"))


def attrs(data: bytes, off: int) -> dict[int, bytes]:
    """The attributes from OFF to the end of DATA, by type (the first of each)."""
    out: dict[int, bytes] = {}
    while off + RTA.size <= len(data):
        ln, typ = RTA.unpack_from(data, off)
        if ln < RTA.size:
            break
        out.setdefault(typ & NLA_TYPE_MASK, data[off + RTA.size : off + ln])
        off += align(ln)
    return out


class Rtnl:
    """One rtnetlink socket; requests answered in order. A netlink error is OSError."""

    def __init__(self, netns: str | None = None) -> None:
        """NETNS: the path of a netns file the socket is to act in (this thread enters it
        only to open the socket: a socket keeps the netns it was made in)."""
        with entered(netns):
            self.sock = socket.socket(
                socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE
            )
        self.sock.bind((0, 0))
        self.seq = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Rtnl:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def request(self, msg_type: int, flags: int, body: bytes) -> list[bytes]:
        """The payloads of the kernel's answers to one request (every part of a dump); a
        change is sent with NLM_F_ACK and returns [] once acknowledged."""
        self.seq += 1
        get = msg_type in (RTM_GETLINK, RTM_GETADDR)
        # (NLM_F_DUMP's bits are NLM_F_EXCL's and NLM_F_REPLACE's on a change)
        dump = get and flags & NLM_F_DUMP == NLM_F_DUMP
        if not get:
            flags |= NLM_F_ACK
        hdr = NLMSG.pack(NLMSG.size + len(body), msg_type, NLM_F_REQUEST | flags, self.seq, 0)
        self.sock.send(hdr + body)
        out: list[bytes] = []
        while True:
            data = self.sock.recv(1 << 16)
            off = 0
            while off + NLMSG.size <= len(data):
                ln, typ, _, seq, _ = NLMSG.unpack_from(data, off)
                if ln < NLMSG.size:
                    return out
                payload = data[off + NLMSG.size : off + ln]
                off += align(ln)
                if seq != self.seq:
                    continue  # an answer to an earlier request we stopped reading
                if typ == NLMSG_ERROR:
                    (err,) = struct.unpack_from("=i", payload)
                    if err:
                        raise OSError(-err, os.strerror(-err))
                    return out
                if typ == NLMSG_DONE:
                    return out
                out.append(payload)
            if not dump and out:  # a get is answered with one message
                return out

    # ---- links -------------------------------------------------------------------
    def link(self, name: str) -> tuple[int, str] | None:
        """(index, kind) of the link NAME, or None if there is none."""
        req = IFINFO.pack(socket.AF_UNSPEC, 0, 0, 0, 0) + name_attr(IFLA_IFNAME, name)
        try:
            msgs = self.request(RTM_GETLINK, 0, req)
        except OSError:  # ENODEV: no such link
            return None
        if not msgs:
            return None
        _, _, index, _, _ = IFINFO.unpack_from(msgs[0])
        info = attrs(msgs[0], IFINFO.size).get(IFLA_LINKINFO)
        kind = attrs(info, 0).get(IFLA_INFO_KIND, b"") if info is not None else b""
        return index, kind.rstrip(b"\0").decode()

    def set_up(self, index: int, *, mtu: int = 0) -> None:
        """Link INDEX up (with MTU, unless 0)."""
        body = IFINFO.pack(socket.AF_UNSPEC, 0, index, IFF_UP, IFF_UP)
        if mtu:
            body += u32_attr(IFLA_MTU, mtu)
        self.request(RTM_NEWLINK, 0, body)

    def add_link(self, name: str, kind: str) -> None:
        """A new link NAME of KIND (down); EEXIST if the name is taken."""
        body = IFINFO.pack(socket.AF_UNSPEC, 0, 0, 0, 0) + name_attr(IFLA_IFNAME, name)
        body += nested(IFLA_LINKINFO, name_attr(IFLA_INFO_KIND, kind))
        self.request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, body)

    def delete_link(self, index: int) -> None:
        self.request(RTM_DELLINK, 0, IFINFO.pack(socket.AF_UNSPEC, 0, index, 0, 0))

    def add_veth(
        self, host_end: str, *, master: int, mtu: int, peer: str, peer_mac: str, peer_netns: int
    ) -> None:
        """A veth pair with MTU: HOST_END up on the bridge MASTER, PEER (with PEER_MAC) made
        straight in the netns open as PEER_NETNS, down (the kernel cannot open a veth end
        before its pair is whole: ENOTCONN). EEXIST if HOST_END is taken."""
        up = IFINFO.pack(socket.AF_UNSPEC, 0, 0, IFF_UP, IFF_UP)
        peer_msg = (
            IFINFO.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
            + name_attr(IFLA_IFNAME, peer)
            + u32_attr(IFLA_MTU, mtu)
            + attr(IFLA_ADDRESS, mac_bytes(peer_mac))
            + u32_attr(IFLA_NET_NS_FD, peer_netns)
        )
        linkinfo = nested(
            IFLA_LINKINFO,
            name_attr(IFLA_INFO_KIND, "veth"),
            nested(IFLA_INFO_DATA, attr(VETH_INFO_PEER, peer_msg)),
        )
        body = (
            up
            + name_attr(IFLA_IFNAME, host_end)
            + u32_attr(IFLA_MTU, mtu)
            + u32_attr(IFLA_MASTER, master)
            + linkinfo
        )
        self.request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, body)

    # ---- addresses and routes ----------------------------------------------------
    def add_address(self, index: int, address: str, prefixlen: int, *, nodad: bool = False) -> None:
        ip = ipaddress.ip_address(address)
        family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        flags = IFA_F_NODAD if nodad else 0
        body = IFADDR.pack(family, prefixlen, flags, RT_SCOPE_UNIVERSE, index)
        if family == socket.AF_INET:
            body += attr(IFA_LOCAL, ip.packed)
        body += attr(IFA_ADDRESS, ip.packed)
        if flags:
            body += u32_attr(IFA_FLAGS, flags)
        self.request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, body)

    def delete_address(self, index: int, address: str, prefixlen: int) -> None:
        ip = ipaddress.ip_address(address)
        family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        body = IFADDR.pack(family, prefixlen, 0, RT_SCOPE_UNIVERSE, index)
        if family == socket.AF_INET:
            body += attr(IFA_LOCAL, ip.packed)
        self.request(RTM_DELADDR, 0, body + attr(IFA_ADDRESS, ip.packed))

    def replace_default_route(self, gateway: str) -> None:
        ip = ipaddress.ip_address(gateway)
        family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        body = RTMSG.pack(
            family, 0, 0, 0, RT_TABLE_MAIN, RTPROT_STATIC, RT_SCOPE_UNIVERSE, RTN_UNICAST, 0
        )
        body += attr(RTA_GATEWAY, ip.packed)
        self.request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, body)


@contextmanager
def entered(netns: str | None) -> Iterator[None]:
    """This thread in the netns file NETNS until the block ends (nothing if None)."""
    if netns is None:
        yield
        return
    from berth.runtime.syscalls import CLONE_NEWNET, sys_

    host = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
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
