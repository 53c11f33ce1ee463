"""The embedded DNS server at 127.0.0.11 of containers on user-defined networks (as
dockerd's): names of containers on the same networks are answered from the daemon's
state (A, AAAA for a dual-stack container, PTR for their addresses); other names are
forwarded to the upstream servers (--dns, else the host's). It answers over UDP and TCP
(length-prefixed messages, RFC 1035 4.2.2), as dockerd's does.

Its socket is opened inside the container's netns by a worker thread and served by the
daemon's event loop, so there is no process per container."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import socket
import struct
from collections.abc import Callable
from typing import Any

ADDRESS = "127.0.0.11"
_A, _PTR, _AAAA = 1, 12, 28
# lookup(qname, qtype): the records' data (addresses for A/AAAA, names for PTR), or None
# when the daemon knows no such name (the query goes upstream)
Lookup = Callable[[str, int], "list[str] | None"]


def _name(n: str) -> bytes:
    out = b""
    for label in n.rstrip(".").split("."):
        if label:
            b = label.encode("idna") if not label.isascii() else label.encode()
            out += bytes([len(b)]) + b
    return out + b"\0"


def _rdata(qtype: int, value: str) -> bytes:
    if qtype == _PTR:
        return _name(value)
    return ipaddress.ip_address(value).packed


def ptr_address(qname: str) -> str | None:
    """The address a PTR query's name stands for (x.x.x.x.in-addr.arpa, ip6.arpa nibbles)."""
    q = qname.rstrip(".").lower()
    try:
        if q.endswith(".in-addr.arpa"):
            parts = q[: -len(".in-addr.arpa")].split(".")
            if len(parts) == 4:
                return str(ipaddress.IPv4Address(".".join(reversed(parts))))
        elif q.endswith(".ip6.arpa"):
            nib = q[: -len(".ip6.arpa")].split(".")
            if len(nib) == 32:
                return str(ipaddress.IPv6Address(int("".join(reversed(nib)), 16)))
    except ValueError:
        return None
    return None


def parse_query(data: bytes) -> tuple[int, int, str, int, int] | None:
    """(id, flags, qname, qtype, end of question) of a one-question query."""
    if len(data) < 12:
        return None
    qid, flags, qd = struct.unpack("!HHH", data[:6])
    if qd != 1 or flags & 0x8000:
        return None
    labels, i = [], 12
    while i < len(data):
        n = data[i]
        if n == 0:
            i += 1
            break
        if n & 0xC0:
            return None
        labels.append(data[i + 1 : i + 1 + n].decode("ascii", "replace"))
        i += 1 + n
    if i + 4 > len(data):
        return None
    qtype, _qclass = struct.unpack("!HH", data[i : i + 4])
    return qid, flags, ".".join(labels).lower(), qtype, i + 4


def answer(
    data: bytes,
    qid: int,
    flags: int,
    qend: int,
    addrs: list[str],
    rcode: int = 0,
    qtype: int = _A,
) -> bytes:
    rd = flags & 0x0100
    hdr = struct.pack("!HHHHHH", qid, 0x8000 | 0x0400 | rd | 0x0080 | rcode, 1, len(addrs), 0, 0)
    out = hdr + data[12:qend]
    for a in addrs:
        rd_ = _rdata(qtype, a)
        out += struct.pack("!HHHIH", 0xC00C, qtype, 1, 600, len(rd_)) + rd_
    return out


def respond(data: bytes, lookup: Lookup) -> bytes | None:
    """The daemon's own answer to query DATA, or None: not a name it knows (forward it)."""
    q = parse_query(data)
    if q is None:
        return None
    qid, flags, name, qtype, qend = q
    if qtype == _PTR:
        found = lookup(name, _PTR)
        return None if found is None else answer(data, qid, flags, qend, found, qtype=_PTR)
    found = lookup(name, qtype if qtype in (_A, _AAAA) else _A)
    if found is None:
        return None
    # a known container name: its records of the family asked for (none: an empty
    # NOERROR answer, as dockerd gives for AAAA of an IPv4-only container)
    want = found if qtype in (_A, _AAAA) else []
    return answer(data, qid, flags, qend, want, qtype=qtype)


async def _upstream(data: bytes, upstream: list[str]) -> bytes:
    """The first upstream server's reply to DATA; SERVFAIL when none answers."""
    loop = asyncio.get_running_loop()
    for server in upstream:
        fut: asyncio.Future[bytes] = loop.create_future()
        try:
            t, _ = await loop.create_datagram_endpoint(
                functools.partial(_Up, fut), remote_addr=(server, 53)
            )
        except OSError:
            continue
        try:
            t.sendto(data)
            return await asyncio.wait_for(fut, 2.0)
        except (TimeoutError, OSError):
            continue
        finally:
            t.close()
    q = parse_query(data)
    if q is None:
        return b""
    qid, flags, _, _, qend = q
    return answer(data, qid, flags, qend, [], rcode=2)


class _Server(asyncio.DatagramProtocol):
    def __init__(self, lookup: Lookup, upstream: list[str]) -> None:
        self.lookup = lookup
        self.upstream = upstream
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        q = parse_query(data)
        if q is None:
            return
        qid, flags, name, qtype, qend = q
        mine = respond(data, self.lookup)
        if mine is not None:
            self.transport.sendto(mine, addr)
            return
        asyncio.get_running_loop().create_task(self._forward(data, addr, qid, flags, qend))

    async def _forward(self, data: bytes, addr: Any, qid: int, flags: int, qend: int) -> None:
        loop = asyncio.get_running_loop()
        for server in self.upstream:
            fut: asyncio.Future[bytes] = loop.create_future()
            try:
                t, _ = await loop.create_datagram_endpoint(
                    functools.partial(_Up, fut), remote_addr=(server, 53)
                )
            except OSError:
                continue
            try:
                t.sendto(data)
                reply = await asyncio.wait_for(fut, 2.0)
            except (TimeoutError, OSError):
                continue
            finally:
                t.close()
            if self.transport is not None:
                self.transport.sendto(reply, addr)
            return
        if self.transport is not None:  # SERVFAIL: no upstream answered
            self.transport.sendto(answer(data, qid, flags, qend, [], rcode=2), addr)


class _Up(asyncio.DatagramProtocol):
    def __init__(self, fut: asyncio.Future[bytes]) -> None:
        self.fut = fut

    def datagram_received(self, d: bytes, _a: Any) -> None:
        if not self.fut.done():
            self.fut.set_result(d)


def open_socket(netns_path: str, kind: int = socket.SOCK_DGRAM) -> socket.socket:
    """A UDP (or, with KIND SOCK_STREAM, listening TCP) socket bound to 127.0.0.11:53
    inside the netns (blocking: a worker thread)."""
    from berth.engine.network.rtnl import entered

    with entered(netns_path):
        s = socket.socket(socket.AF_INET, kind)
    try:
        if kind == socket.SOCK_STREAM:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((ADDRESS, 53))
        if kind == socket.SOCK_STREAM:
            s.listen(64)
        s.setblocking(False)
    except BaseException:
        s.close()
        raise
    return s


class _Both:
    """The UDP transport and the TCP server of one container, closed together."""

    def __init__(self, udp: Any, tcp: Any) -> None:
        self.udp, self.tcp = udp, tcp

    def close(self) -> None:
        self.udp.close()
        if self.tcp is not None:
            self.tcp.close()


async def _tcp_client(
    r: asyncio.StreamReader, w: asyncio.StreamWriter, lookup: Lookup, upstream: list[str]
) -> None:
    try:
        while True:
            try:
                (n,) = struct.unpack("!H", await r.readexactly(2))
                data = await r.readexactly(n)
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            reply = respond(data, lookup)
            if reply is None:
                reply = await _upstream(data, upstream)
            if not reply:
                return
            w.write(struct.pack("!H", len(reply)) + reply)
            await w.drain()
    finally:
        w.close()


async def serve(
    sock: socket.socket,
    lookup: Lookup,
    upstream: list[str],
    tcp_sock: socket.socket | None = None,
) -> Any:
    loop = asyncio.get_running_loop()
    t, _ = await loop.create_datagram_endpoint(lambda: _Server(lookup, upstream), sock=sock)
    srv = None
    if tcp_sock is not None:
        try:
            srv = await asyncio.start_server(
                lambda r, w: _tcp_client(r, w, lookup, upstream), sock=tcp_sock
            )
        except BaseException:
            t.close()
            raise
    return _Both(t, srv)


def host_nameservers() -> list[str]:
    out = []
    with contextlib.suppress(OSError), open("/etc/resolv.conf") as f:
        for ln in f:
            p = ln.split()
            if len(p) >= 2 and p[0] == "nameserver" and not p[1].startswith("127."):
                out.append(p[1])
    return out


def resolv_conf(search: list[str] | None, options: list[str] | None) -> str:
    lines = [f"nameserver {ADDRESS}"]
    if search:
        lines.append("search " + " ".join(search))
    else:
        with contextlib.suppress(OSError), open("/etc/resolv.conf") as f:
            for ln in f:
                if ln.split()[:1] in (["search"], ["domain"]):
                    lines.append(ln.strip())
    lines.append("options " + " ".join(["ndots:0", *(options or [])]))
    return "\n".join(lines) + "\n"
