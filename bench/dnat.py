#!/usr/bin/env python3
"""Traffic for bench/network.py: a client network namespace whose connections to a
published port really go through the kernel's DNAT, and the sender and connection loop
that run in it (or on the host).

    ip netns exec btb-client python3 bench/dnat.py push HOST PORT BYTES  -> seconds
    ip netns exec btb-client python3 bench/dnat.py conns HOST PORT N     -> connections/s
    nsenter -t CTR_PID -n python3 bench/dnat.py sink PORT                -> until killed

Connections to a published port made on the host itself go to a loopback address, which
the kernel cannot DNAT (no route_localnet), so berth's userland proxy serves them; only a
connection that arrives on an interface, as from another host, meets the DNAT rule. The
namespace plays that other host: a veth pair, HOST_IP on the host side, CLIENT_IP inside,
and a route to each container address via HOST_IP (no default route: the namespace can
reach nothing else). The sink runs in the container's network namespace rather than in
the container: busybox `nc` reads 1 KiB at a time and tops out near 600 MB/s here, below
what the paths carry, so it would measure itself and hide any cost of DNAT. This file
imports only the standard library, so the helpers start quickly in any namespace."""

from __future__ import annotations

import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

NETNS = "btb-client"
HOST_IF = "btb-host"
CLIENT_IF = "btb-cli"
HOST_IP = "10.203.0.1"
CLIENT_IP = "10.203.0.2"
PREFIX = 30
IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")


def push(addr: tuple[str, int], total: int) -> float:
    """Seconds to send TOTAL bytes to a sink; retried while the sink is not listening yet
    (the proxy then resets the connection it accepted; through DNAT it is refused)."""
    for _ in range(50):
        try:
            return _push_once(addr, total)
        except (ConnectionResetError, BrokenPipeError, ConnectionRefusedError):
            time.sleep(0.1)
    raise RuntimeError(f"no sink at {addr}")


def _push_once(addr: tuple[str, int], total: int) -> float:
    buf = b"x" * (256 * 1024)
    s = socket.create_connection(addr, timeout=5)
    t0 = time.perf_counter()
    sent = 0
    with s:
        while sent < total:
            s.sendall(buf)
            sent += len(buf)
        s.shutdown(socket.SHUT_WR)
        # the sink closes only once it has read everything: the time covers delivery
        while s.recv(65536):
            pass
    return time.perf_counter() - t0


def sink(port: int) -> None:
    """Read and drop what each connection to PORT sends, one connection at a time (the
    pushes are sequential), closing it at its end so that the sender sees delivery."""
    with socket.socket() as ls:
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("0.0.0.0", port))
        ls.listen(8)
        buf = memoryview(bytearray(1 << 20))
        while True:
            c, _ = ls.accept()
            with c:
                while c.recv_into(buf):
                    pass


def start_sink(pid: int, port: int) -> subprocess.Popen[bytes]:
    """`sink` on PORT in the network namespace of process PID (a container's)."""
    return subprocess.Popen(
        ["nsenter", "-t", str(pid), "-n", sys.executable, __file__, "sink", str(port)],
        stdin=subprocess.DEVNULL,
    )


def conns(addr: tuple[str, int], n: int) -> float:
    """HTTP requests per second, one connection each."""
    req = b"GET /hostname HTTP/1.0\r\n\r\n"
    t0 = time.perf_counter()
    for _ in range(n):
        with socket.create_connection(addr, timeout=5) as s:
            s.sendall(req)
            while s.recv(65536):
                pass
    return n / (time.perf_counter() - t0)


def _run(*argv: str) -> None:
    p = subprocess.run(argv, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)}: {p.stderr.strip()}")


class ClientNetns:
    """The namespace NETNS and its veth pair, made on entry; on exit both are gone and
    net.ipv4.ip_forward has the value it had before (it is set only if it was 0: a host
    that already forwards is left as it is)."""

    def __init__(self) -> None:
        self._made_ns = False
        self._made_link = False
        self._forward_was: str | None = None

    def __enter__(self) -> ClientNetns:
        self.open()
        return self

    def open(self) -> None:
        # never take over names someone else holds (or a killed run left behind): its
        # traffic or its removal would be ours
        if Path(f"/run/netns/{NETNS}").exists() or Path(f"/sys/class/net/{HOST_IF}").exists():
            raise RuntimeError(
                f"netns {NETNS} or link {HOST_IF} exists already; if a killed run of this "
                f"bench left it: ip netns del {NETNS}; ip link del {HOST_IF}"
            )
        try:
            _run("ip", "netns", "add", NETNS)
            self._made_ns = True
            _run("ip", "link", "add", HOST_IF, "type", "veth", "peer", "name", CLIENT_IF)
            self._made_link = True
            _run("ip", "link", "set", CLIENT_IF, "netns", NETNS)
            _run("ip", "addr", "add", f"{HOST_IP}/{PREFIX}", "dev", HOST_IF)
            _run("ip", "link", "set", HOST_IF, "up")
            self.ip("addr", "add", f"{CLIENT_IP}/{PREFIX}", "dev", CLIENT_IF)
            self.ip("link", "set", CLIENT_IF, "up")
            self.ip("link", "set", "lo", "up")
            was = IP_FORWARD.read_text().strip()
            if was != "1":
                # the namespace's packets to a container are routed by the host
                IP_FORWARD.write_text("1\n")
                self._forward_was = was
        except BaseException:
            self.close()
            raise

    def __exit__(
        self,
        et: type[BaseException] | None,
        ev: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._forward_was is not None:
            IP_FORWARD.write_text(self._forward_was + "\n")
            self._forward_was = None
        if self._made_ns:
            # takes the client end of the veth, and with it the host end
            subprocess.run(["ip", "netns", "del", NETNS], capture_output=True)
            self._made_ns = False
        if self._made_link and Path(f"/sys/class/net/{HOST_IF}").exists():
            subprocess.run(["ip", "link", "del", HOST_IF], capture_output=True)
        self._made_link = False

    def ip(self, *args: str) -> None:
        _run("ip", "-n", NETNS, *args)

    def route_to(self, addr: str) -> None:
        """Reach container address ADDR from the namespace, through the host."""
        self.ip("route", "replace", f"{addr}/32", "via", HOST_IP)

    def push(self, addr: tuple[str, int], total: int) -> float:
        return float(self._helper("push", addr, str(total)))

    def conns(self, addr: tuple[str, int], n: int) -> float:
        return float(self._helper("conns", addr, str(n)))

    def _helper(self, what: str, addr: tuple[str, int], arg: str) -> str:
        # the helper times itself: starting the interpreter is not in the figure
        argv = ["ip", "netns", "exec", NETNS, sys.executable, __file__, what, addr[0]]
        p = subprocess.run([*argv, str(addr[1]), arg], capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"{what} to {addr} from {NETNS}: {p.stderr.strip()}")
        return p.stdout.strip()


def dnat_packets(chain: str, host_port: int) -> int:
    """Packets counted by the DNAT rules of nat CHAIN for HOST_PORT. The nat table sees
    only the first packet of a connection, so this is the connections that were DNATed:
    the proof that the traffic did not reach the userland proxy bound to the same
    address."""
    p = subprocess.run(
        ["iptables", "-w", "-t", "nat", "-S", chain, "-v"], capture_output=True, text=True
    )  # fmt: skip
    total = 0  # no such chain counts nothing: the caller then says the rules were missed
    for line in p.stdout.splitlines():
        w = shlex.split(line)
        if "DNAT" in w and "--dport" in w and w[w.index("--dport") + 1] == str(host_port):
            if "-c" in w:
                total += int(w[w.index("-c") + 1])
    return total


def main(argv: list[str]) -> int:
    if argv[:1] == ["sink"]:
        sink(int(argv[1]))
        return 0
    what, host, port, arg = argv
    addr = (host, int(port))
    if what == "push":
        print(push(addr, int(arg)))
    elif what == "conns":
        print(conns(addr, int(arg)))
    else:
        raise SystemExit(f"unknown {what!r}: push, conns or sink")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
