"""The embedded DNS server at 127.0.0.11 of containers on user-defined networks (as
dockerd's): names of containers on the same networks are answered from the daemon's
state; other names are forwarded to the upstream servers (--dns, else the host's).

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
_A, _AAAA = 1, 28


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


def answer(data: bytes, qid: int, flags: int, qend: int, addrs: list[str], rcode: int = 0) -> bytes:
    rd = flags & 0x0100
    hdr = struct.pack("!HHHHHH", qid, 0x8000 | 0x0400 | rd | 0x0080 | rcode, 1, len(addrs), 0, 0)
    out = hdr + data[12:qend]
    for a in addrs:
        out += struct.pack("!HHHIH", 0xC00C, _A, 1, 600, 4) + ipaddress.IPv4Address(a).packed
    return out


class _Server(asyncio.DatagramProtocol):
    def __init__(self, lookup: Callable[[str], list[str] | None], upstream: list[str]) -> None:
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
        found = self.lookup(name)
        if found is not None:
            # a known container name: A records; no IPv6 addresses (empty answer)
            self.transport.sendto(
                answer(data, qid, flags, qend, found if qtype == _A else []), addr
            )
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


def open_socket(netns_path: str) -> socket.socket:
    """A UDP socket bound to 127.0.0.11:53 inside the netns (blocking: a worker thread)."""
    from berth.engine.network.bridge import _entered

    with _entered(netns_path):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((ADDRESS, 53))
        s.setblocking(False)
    except BaseException:
        s.close()
        raise
    return s


async def serve(
    sock: socket.socket, lookup: Callable[[str], list[str] | None], upstream: list[str]
) -> Any:
    loop = asyncio.get_running_loop()
    t, _ = await loop.create_datagram_endpoint(lambda: _Server(lookup, upstream), sock=sock)
    return t


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
