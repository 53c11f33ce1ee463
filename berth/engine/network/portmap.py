"""Published ports: a userland proxy in the daemon's event loop (TCP and UDP), bound to
the requested host address only."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from dataclasses import dataclass, field
from typing import Any

from berth.engine.errors import SystemError_

_BUF = 256 * 1024


@dataclass
class Binding:
    proto: str
    host_ip: str
    host_port: int
    ctr_ip: str
    ctr_port: int
    server: Any = None
    extra: list[Any] = field(default_factory=list)


async def _pump(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    try:
        while True:
            data = await r.read(_BUF)
            if not data:
                break
            w.write(data)
            await w.drain()
        if w.can_write_eof():
            w.write_eof()
    except (ConnectionError, OSError):
        w.close()


class _UDPFront(asyncio.DatagramProtocol):
    def __init__(self, b: Binding) -> None:
        self.b = b
        self.transport: Any = None
        self.backs: dict[Any, asyncio.DatagramTransport] = {}

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        back = self.backs.get(addr)
        if back is not None:
            back.sendto(data)
            return
        asyncio.get_running_loop().create_task(self._open(data, addr))

    async def _open(self, data: bytes, addr: Any) -> None:
        front = self

        class Back(asyncio.DatagramProtocol):
            def datagram_received(self, d: bytes, _a: Any) -> None:
                if front.transport is not None:
                    front.transport.sendto(d, addr)

        loop = asyncio.get_running_loop()
        t, _ = await loop.create_datagram_endpoint(
            Back, remote_addr=(self.b.ctr_ip, self.b.ctr_port)
        )
        self.backs[addr] = t
        self.b.extra.append(t)
        t.sendto(data)


def _v6(ip: str) -> bool:
    return ":" in ip


def host_has_ipv6() -> bool:
    """Whether [::] can be bound here (a host or netns with IPv6 turned off has no
    /proc/net/if_inet6, and dockerd then publishes on 0.0.0.0 alone)."""
    return socket.has_ipv6 and os.path.exists("/proc/net/if_inet6")


class PortMapper:
    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str, int], Binding] = {}
        # daemon.json's "userland-proxy": false: the port is held (bound, never served)
        # and the kernel's DNAT alone serves it
        self.proxy = True

    def in_use(self, proto: str, host_ip: str, port: int) -> bool:
        for p, ip, hp in self._by_key:
            if p != proto or hp != port or _v6(ip) != _v6(host_ip):
                continue  # 0.0.0.0 and [::] are two sockets (IPV6_V6ONLY), as dockerd's
            if ip == host_ip or ip in ("0.0.0.0", "::") or host_ip in ("0.0.0.0", "::"):
                return True
        return False

    async def publish(self, b: Binding) -> Binding:
        """B held (no proxy) or served by the proxy; B's host port filled in when it was
        0. A port taken here or on the host is refused in dockerd's words."""
        ip = b.host_ip or "0.0.0.0"
        fam = socket.AF_INET6 if _v6(ip) else socket.AF_INET
        shown = f"[{ip}]" if _v6(ip) else ip
        if b.host_port and self.in_use(b.proto, ip, b.host_port):
            raise SystemError_(f"Bind for {shown}:{b.host_port} failed: port is already allocated")
        try:
            if not self.proxy:
                b.server = _reserve(fam, b.proto, ip, b.host_port)
                b.host_port = b.server.getsockname()[1]
            elif b.proto == "udp":
                b.server, b.host_port = await _serve_udp(b, fam, ip)
            else:
                b.server, b.host_port = await _serve_tcp(b, fam, ip)
        except OSError as exc:
            what = "address already in use" if exc.errno == 98 else (exc.strerror or str(exc))
            raise SystemError_(
                f"Error starting userland proxy: listen {b.proto}{6 if _v6(ip) else 4} "
                f"{shown}:{b.host_port}: bind: {what}"
            ) from exc
        b.host_ip = ip
        self._by_key[(b.proto, ip, b.host_port)] = b
        return b

    def unpublish(self, b: Binding) -> None:
        self._by_key.pop((b.proto, b.host_ip, b.host_port), None)
        for t in b.extra:
            t.close()
        if b.server is not None:
            b.server.close()
            with contextlib.suppress(Exception):
                # servers keep accepted connections: close them too (py3.12+ only)
                b.server.close_clients()


def _reserve(fam: int, proto: str, ip: str, port: int) -> socket.socket:
    """The port held without a proxy: bound, so that nothing else takes it (a TCP socket
    that does not listen accepts nothing); closed by unpublish."""
    return _bound(fam, socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM, ip, port)


def _bound(fam: int, kind: int, ip: str, port: int, reuse: bool = False) -> socket.socket:
    """A socket bound to IP:PORT; an IPv6 one only for IPv6 (0.0.0.0 has its own)."""
    sock = socket.socket(fam, kind)
    try:
        if fam == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if reuse:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((ip, port))
    except BaseException:
        sock.close()
        raise
    return sock


async def _serve_udp(b: Binding, fam: int, ip: str) -> tuple[Any, int]:
    """B's UDP proxy: (its transport, the port it got)."""
    sock = _bound(fam, socket.SOCK_DGRAM, ip, b.host_port)
    loop = asyncio.get_running_loop()
    t, _ = await loop.create_datagram_endpoint(lambda: _UDPFront(b), sock=sock)
    return t, sock.getsockname()[1]


async def _serve_tcp(b: Binding, fam: int, ip: str) -> tuple[Any, int]:
    """B's TCP proxy: (its server, the port it got). Each client gets its own connection
    to the container, with Nagle off on both."""
    cip, cport = b.ctr_ip, b.ctr_port

    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            cr, cw = await asyncio.open_connection(cip, cport, limit=_BUF)
        except OSError:
            w.close()
            return
        for s in (w, cw):
            sk = s.get_extra_info("socket")
            if sk is not None:
                sk.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await asyncio.gather(_pump(r, cw), _pump(cr, w))
        w.close()
        cw.close()

    if fam == socket.AF_INET6:
        # v6 only: the IPv4 side is 0.0.0.0's own socket
        ls = _bound(fam, socket.SOCK_STREAM, ip, b.host_port, reuse=True)
        srv = await asyncio.start_server(handle, sock=ls, limit=_BUF)
    else:
        srv = await asyncio.start_server(handle, ip, b.host_port, reuse_address=True, limit=_BUF)
    return srv, srv.sockets[0].getsockname()[1]
