#!/usr/bin/env python3
"""Networking costs: container start on the default bridge vs --network none, and
throughput and connection rate through a published port (the userland proxy) vs
connecting to the container's address directly.

    sudo python3 bench/network.py [--starts 20] [--mb 200] [--conns 200] [--json out.json]

Starts its own berthd (own bridge, btbench) on a temporary socket and data root; traffic
stays on loopback and that bridge. Targets: networking adds < 20 ms to a start; a
published port carries >= 80% of the direct throughput."""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from berth.engine.network import nat  # noqa: E402
from tests.conftest import Daemon, cleanup_root, takes_back_default_bridge  # noqa: E402

DOCKER = "/usr/local/bin/docker"
BRIDGE = "btbench"


def _starts(env: dict[str, str], n: int, network: str) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run(
            [DOCKER, "run", "--rm", "--network", network, "busybox", "true"],
            env=env, check=True, capture_output=True,
        )  # fmt: skip
        out.append(time.perf_counter() - t0)
    return out


def _push(addr: tuple[str, int], total: int) -> float:
    """Seconds to send TOTAL bytes to a sink; retried while the sink's `nc` is restarting
    (the proxy then resets the connection it accepted)."""
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
        while s.recv(65536):
            pass
    return time.perf_counter() - t0


def _conns(addr: tuple[str, int], n: int) -> float:
    """HTTP requests per second, one connection each."""
    req = b"GET /hostname HTTP/1.0\r\n\r\n"
    t0 = time.perf_counter()
    for _ in range(n):
        with socket.create_connection(addr, timeout=5) as s:
            s.sendall(req)
            while s.recv(65536):
                pass
    return n / (time.perf_counter() - t0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--starts", type=int, default=20)
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--conns", type=int, default=200)
    ap.add_argument("--json", help="write the figures here too")
    ns = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bt-bnet-", dir="/tmp"))
    img = root / "busybox.tar"
    subprocess.run(
        [sys.executable, str(REPO / "scripts/mkimage-busybox"), "-o", str(img)], check=True
    )
    (root / "d").mkdir()
    d = Daemon(root / "d", ["--bridge", BRIDGE])
    env = {**os.environ, **d.env}
    try:
        d.start()
        d.load_image(img)
        _starts(env, 3, "bridge")  # warm: pyroute2 import, bridge
        none = _starts(env, ns.starts, "none")
        bridge = _starts(env, ns.starts, "bridge")
        added_ms = (statistics.median(bridge) - statistics.median(none)) * 1000
        sink_port, web_port = _free_port(), _free_port()
        # one connection at a time into /dev/null, and a web server for the rate
        sink = "while :; do nc -l -p 9000 > /dev/null; done"
        subprocess.run(
            [DOCKER, "run", "-d", "--name", "bsink", "-p", f"127.0.0.1:{sink_port}:9000",
             "-p", f"127.0.0.1:{web_port}:80", "busybox", "sh", "-c",
             sink + " & httpd -f -p 80 -h /etc"],
            env=env, check=True, capture_output=True,
        )  # fmt: skip
        ip = subprocess.run(
            [DOCKER, "inspect", "-f", "{{.NetworkSettings.IPAddress}}", "bsink"],
            env=env, check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
        total = ns.mb * 1_000_000
        direct_s = min(_push((ip, 9000), total) for _ in range(3))
        proxied_s = min(_push(("127.0.0.1", sink_port), total) for _ in range(3))
        direct_rate = _conns((ip, 80), ns.conns)
        proxied_rate = _conns(("127.0.0.1", web_port), ns.conns)
        figures = {
            "start_none_ms": round(statistics.median(none) * 1000, 1),
            "start_bridge_ms": round(statistics.median(bridge) * 1000, 1),
            "network_adds_ms": round(added_ms, 1),
            "direct_mb_s": round(ns.mb / direct_s, 1),
            "published_mb_s": round(ns.mb / proxied_s, 1),
            "published_vs_direct": round(direct_s / proxied_s, 3),
            "direct_conn_per_s": round(direct_rate, 1),
            "published_conn_per_s": round(proxied_rate, 1),
        }
        print(json.dumps(figures, indent=2))
        print(
            f"start: none {figures['start_none_ms']} ms, bridge {figures['start_bridge_ms']} ms"
            f" -> networking adds {added_ms:.1f} ms (target < 20 ms)\n"
            f"throughput: direct {figures['direct_mb_s']} MB/s, published "
            f"{figures['published_mb_s']} MB/s = {figures['published_vs_direct']:.0%}"
            " (target >= 80%)\n"
            f"connections: direct {direct_rate:.0f}/s, published {proxied_rate:.0f}/s"
        )
        if ns.json:
            Path(ns.json).write_text(json.dumps(figures, indent=2) + "\n")
    finally:
        d.remove_all_containers()
        d.stop()
        subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)
        nat.remove_bridge(BRIDGE)
        cleanup_root(root)
    return 0


if __name__ == "__main__":
    with takes_back_default_bridge():
        raise SystemExit(main())
