#!/usr/bin/env python3
"""Networking costs: container start on the default bridge vs --network none, and
throughput and connection rate through a published port, by the two ways a connection
reaches it, vs connecting to the container's address directly.

    sudo python3 bench/network.py [--starts 20] [--mb 1000] [--conns 500] [--rounds 7]
                                  [--with-peers] [--json out.json]

Starts its own berthd (own bridge, btbench) on a temporary socket and data root, and a
client network namespace (bench/dnat.py: btb-client, veth 10.203.0.1/30 on the host side,
10.203.0.2 inside). Paths measured, alternating, over --rounds rounds (medians reported):

- host_direct:    the host to the container's address
- loopback_proxy: the host to 127.0.0.1:published, served by berth's userland proxy
- netns_direct:   the namespace to the container's address, routed by the host
- dnat:           the namespace to 10.203.0.1:published, rewritten by berth's DNAT rule
                  (checked with the rule's packet counter)

--with-peers adds the namespace's two paths to a container of dockerd 20.10 from
../shared/peers/ (setup-peers.sh), if it answers on /var/run/docker.sock; skipped with a
message otherwise. Test traffic goes only to loopback, that bridge, and the namespace.
Targets: networking adds < 20 ms to a start; the loopback proxy carries >= 80% and DNAT
>= 95% of the direct throughput; DNAT connections/s on a par with dockerd's."""

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
from collections.abc import Callable
from pathlib import Path
from subprocess import Popen

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.dnat import HOST_IP, ClientNetns, conns, dnat_packets, push, start_sink  # noqa: E402
from berth.engine.network import nat  # noqa: E402
from tests.apiclient import UnixHTTPConnection  # noqa: E402
from tests.conftest import Daemon, cleanup_root, takes_back_default_bridge  # noqa: E402

DOCKER = "/usr/local/bin/docker"
BRIDGE = "btbench"
PEER_SOCK = "/var/run/docker.sock"
PEER_CHAIN = "DOCKER"  # dockerd's nat chain of published ports
# the web server for the connection rate; the byte sink on 9000 is dnat.sink, started in
# the container's network namespace
WEB = ["httpd", "-f", "-p", "80", "-h", "/etc"]
WARM_CONNS = 20


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


def _free_port(addr: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((addr, 0))
        return int(s.getsockname()[1])


def _run_sink(
    env: dict[str, str], name: str, ports: list[tuple[str, int, int]], sinks: list[Popen[bytes]]
) -> tuple[str, str]:
    """Start the sink container NAME with PORTS (host address, host port, container port)
    published, and its byte sink (added to SINKS); returns its id and address."""
    pub = [a for hip, hport, cport in ports for a in ("-p", f"{hip}:{hport}:{cport}")]
    cid = subprocess.run(
        [DOCKER, "run", "-d", "--name", name, *pub, "busybox", *WEB],
        env=env, check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    ip, pid = subprocess.run(
        [DOCKER, "inspect", "-f", "{{.NetworkSettings.IPAddress}} {{.State.Pid}}", cid],
        env=env, check=True, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    sinks.append(start_sink(int(pid), 9000))
    return cid, ip


def _peer_env() -> dict[str, str] | None:
    """The environment that points the CLI at the peers' dockerd, if it answers."""
    if not os.path.exists(PEER_SOCK):
        return None
    try:
        c = UnixHTTPConnection(PEER_SOCK, timeout=5)
        c.request("GET", "/_ping")
        ok = c.getresponse().status == 200
        c.close()
    except OSError:
        return None
    return {**os.environ, "DOCKER_HOST": "unix://" + PEER_SOCK} if ok else None


def _paired(a: list[float], b: list[float]) -> float:
    """The median of A/B round by round: the two were measured seconds apart, so a
    neighbour's load that comes and goes (the machine is shared) cancels out of each
    ratio instead of landing in one median and not the other."""
    return round(statistics.median(x / y for x, y in zip(a, b, strict=True)), 3)


def _spread(xs: list[float]) -> str:
    return f"{statistics.median(xs):.1f} ({min(xs):.1f}-{max(xs):.1f})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--starts", type=int, default=20)
    ap.add_argument("--mb", type=int, default=1000)
    ap.add_argument("--conns", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=7, help="alternating rounds per path")
    ap.add_argument("--with-peers", action="store_true", help="also dockerd from ../shared/peers")
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
    berth_ids: list[str] = []
    peer_env: dict[str, str] | None = None
    peer_name = f"btb-sink-{os.getpid()}"  # the peer is shared: a name of this run only
    client = ClientNetns()
    sinks: list[Popen[bytes]] = []
    try:
        d.start()
        d.load_image(img)
        _starts(env, 3, "bridge")  # warm: pyroute2 import, bridge
        none = _starts(env, ns.starts, "none")
        bridge = _starts(env, ns.starts, "bridge")
        added_ms = (statistics.median(bridge) - statistics.median(none)) * 1000
        client.open()  # before the sink: its ports are published on HOST_IP
        lo_sink, lo_web = _free_port(), _free_port()
        dn_sink, dn_web = _free_port(HOST_IP), _free_port(HOST_IP)
        cid, ip = _run_sink(
            env,
            "bsink",
            [("127.0.0.1", lo_sink, 9000), ("127.0.0.1", lo_web, 80)]
            + [(HOST_IP, dn_sink, 9000), (HOST_IP, dn_web, 80)],
            sinks,
        )
        berth_ids.append(cid)
        client.route_to(ip)
        total = ns.mb * 1_000_000
        # path -> (throughput: seconds for TOTAL, rate: connections/s)
        paths: dict[str, tuple[Callable[[int], float], Callable[[int], float]]] = {
            "host_direct": (
                lambda b: push((ip, 9000), b), lambda n: conns((ip, 80), n)
            ),
            "loopback_proxy": (
                lambda b: push(("127.0.0.1", lo_sink), b),
                lambda n: conns(("127.0.0.1", lo_web), n),
            ),
            "netns_direct": (
                lambda b: client.push((ip, 9000), b), lambda n: client.conns((ip, 80), n)
            ),
            "dnat": (
                lambda b: client.push((HOST_IP, dn_sink), b),
                lambda n: client.conns((HOST_IP, dn_web), n),
            ),
        }  # fmt: skip
        # (nat chain, published port, connections made to it through DNAT): at least one
        # per push (more if the sink was not up yet) and one per request
        want_push, want_web = 1 + ns.rounds, WARM_CONNS + ns.rounds * ns.conns
        dnat_ports = [(nat.NAT_CHAIN, dn_sink, want_push), (nat.NAT_CHAIN, dn_web, want_web)]
        if ns.with_peers:
            peer_env = _peer_env()
            if peer_env is None:
                print(f"--with-peers: dockerd not answering on {PEER_SOCK} (start it with "
                      "../shared/peers/setup-peers.sh); skipped")  # fmt: skip
            else:
                p_sink, p_web = _free_port(HOST_IP), _free_port(HOST_IP)
                _, pip = _run_sink(
                    peer_env, peer_name, [(HOST_IP, p_sink, 9000), (HOST_IP, p_web, 80)], sinks
                )
                client.route_to(pip)
                paths["dockerd_netns_direct"] = (
                    lambda b: client.push((pip, 9000), b), lambda n: client.conns((pip, 80), n)
                )  # fmt: skip
                paths["dockerd_dnat"] = (
                    lambda b: client.push((HOST_IP, p_sink), b),
                    lambda n: client.conns((HOST_IP, p_web), n),
                )
                dnat_ports += [(PEER_CHAIN, p_sink, want_push), (PEER_CHAIN, p_web, want_web)]
        before = [dnat_packets(ch, port) for ch, port, _ in dnat_ports]
        for fn_push, fn_conns in paths.values():  # warm: ARP, conntrack, the sinks
            fn_push(total // 10)
            fn_conns(WARM_CONNS)
        secs: dict[str, list[float]] = {k: [] for k in paths}
        rates: dict[str, list[float]] = {k: [] for k in paths}
        # alternate the paths within each round: the machine is shared, and drift then
        # spreads over every path alike; each round starts one path further on, so that
        # no path always runs right after the same other one
        names = list(paths)
        for i in range(ns.rounds):
            order = names[i % len(names) :] + names[: i % len(names)]
            for k in order:
                secs[k].append(paths[k][0](total))
            for k in order:
                rates[k].append(paths[k][1](ns.conns))
        # fewer DNATed connections than made means the rest reached the userland proxy
        dnat_ok = True
        for (ch, port, want), was in zip(dnat_ports, before, strict=True):
            got = dnat_packets(ch, port) - was
            if got < want:
                dnat_ok = False
                print(f"WARNING: DNAT rules of {ch} for port {port} counted {got} connections,"
                      f" {want} were made")  # fmt: skip
        mb_s = {k: [ns.mb / s for s in v] for k, v in secs.items()}
        med_mb = {k: statistics.median(v) for k, v in mb_s.items()}
        med_rate = {k: statistics.median(v) for k, v in rates.items()}
        figures: dict[str, float | bool] = {
            "start_none_ms": round(statistics.median(none) * 1000, 1),
            "start_bridge_ms": round(statistics.median(bridge) * 1000, 1),
            "network_adds_ms": round(added_ms, 1),
        }
        for k in paths:
            figures[f"{k}_mb_s"] = round(med_mb[k], 1)
        for k in paths:
            figures[f"{k}_conn_per_s"] = round(med_rate[k], 1)
        for name, a, b in [
            ("loopback_proxy_vs_direct", "loopback_proxy", "host_direct"),
            ("dnat_vs_direct", "dnat", "netns_direct"),
            ("dockerd_dnat_vs_direct", "dockerd_dnat", "dockerd_netns_direct"),
            ("dnat_vs_dockerd", "dnat", "dockerd_dnat"),
        ]:
            if a in paths and b in paths:
                figures[name] = _paired(mb_s[a], mb_s[b])
                figures[name.replace("_vs_", "_conn_vs_")] = _paired(rates[a], rates[b])
        figures["dnat_counted"] = dnat_ok
        print(json.dumps(figures, indent=2))
        print(
            f"start: none {figures['start_none_ms']} ms, bridge {figures['start_bridge_ms']} ms"
            f" -> networking adds {added_ms:.1f} ms (target < 20 ms)\n"
            f"{ns.mb} MB x {ns.rounds} rounds, MB/s median (min-max); "
            f"{ns.conns} connections x {ns.rounds}, per s median (min-max):"
        )
        for k in paths:
            print(f"  {k:22} {_spread(mb_s[k]):>26} MB/s {_spread(rates[k]):>24} conn/s")
        r = figures
        print(
            "ratios, the median of the rounds' own (MB/s; connections/s):\n"
            f"  loopback proxy / host direct {r['loopback_proxy_vs_direct']:.0%}"
            f" (target >= 80%); {r['loopback_proxy_conn_vs_direct']:.0%}\n"
            f"  DNAT / netns direct          {r['dnat_vs_direct']:.0%}"
            f" (target >= 95%); {r['dnat_conn_vs_direct']:.0%}"
            + ("" if dnat_ok else "  [NOT all through DNAT: see the warning]")
        )
        if "dockerd_dnat" in paths:
            print(
                f"  dockerd DNAT / netns direct  {r['dockerd_dnat_vs_direct']:.0%};"
                f" {r['dockerd_dnat_conn_vs_direct']:.0%}\n"
                f"  berth DNAT / dockerd DNAT    {r['dnat_vs_dockerd']:.0%};"
                f" {r['dnat_conn_vs_dockerd']:.0%}"
            )
        if ns.json:
            Path(ns.json).write_text(json.dumps(figures, indent=2) + "\n")
    finally:
        for p in sinks:
            p.kill()
            p.wait()
        if peer_env is not None:
            subprocess.run(
                [DOCKER, "rm", "-f", peer_name], env=peer_env, capture_output=True
            )  # fmt: skip
        d.remove_all_containers()
        d.stop()
        for c in berth_ids:  # removal takes them; this is for a removal that failed
            nat.remove_ports(c)
        client.close()
        subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)
        nat.remove_bridge(BRIDGE)
        cleanup_root(root)
    return 0


if __name__ == "__main__":
    with takes_back_default_bridge():
        raise SystemExit(main())
