"""Published ports: a userland proxy in the daemon's event loop (TCP and UDP), bound to
the requested host address only."""

from __future__ import annotations

import asyncio
import contextlib
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


class PortMapper:
    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str, int], Binding] = {}

    def in_use(self, proto: str, host_ip: str, port: int) -> bool:
        for p, ip, hp in self._by_key:
            if p == proto and hp == port and (ip == host_ip or "0.0.0.0" in (ip, host_ip)):
                return True
        return False

    async def publish(self, b: Binding) -> Binding:
        ip = b.host_ip or "0.0.0.0"
        if b.host_port and self.in_use(b.proto, ip, b.host_port):
            raise SystemError_(f"Bind for {ip}:{b.host_port} failed: port is already allocated")
        loop = asyncio.get_running_loop()
        try:
            if b.proto == "udp":
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                try:
                    sock.bind((ip, b.host_port))
                except BaseException:
                    sock.close()
                    raise
                t, _ = await loop.create_datagram_endpoint(lambda: _UDPFront(b), sock=sock)
                b.server = t
                b.host_port = sock.getsockname()[1]
            else:
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

                srv = await asyncio.start_server(
                    handle, ip, b.host_port, reuse_address=True, limit=_BUF
                )
                b.server = srv
                b.host_port = srv.sockets[0].getsockname()[1]
        except OSError as exc:
            what = "address already in use" if exc.errno == 98 else (exc.strerror or str(exc))
            raise SystemError_(
                f"Error starting userland proxy: listen {b.proto}4 {ip}:{b.host_port}: bind: {what}"
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
