#!/usr/bin/env python3
"""`berth build` (the classic builder): a 10-step build cold (--no-cache) and fully
cached, and the upload of a 100 MB context (not run in CI).

    sudo python3 bench/build.py [--runs 5] [--context-mb 100] [--with-peers] [--json out.json]

The Dockerfile: FROM busybox, ENV, WORKDIR, three COPYs of a small tree, three RUNs, CMD.
Each figure is the median (min-max) of RUNS whole `berth build` processes against a berthd
of the bench's own. The upload is timed with a Dockerfile of one step (FROM busybox), so
that sending, spooling and unpacking the context is nearly all there is; MB/s counts the
context's bytes. --with-peers runs the same builds with dockerd's classic builder
(DOCKER_BUILDKIT=0 docker build) when dockerd answers on /var/run/docker.sock, alternating
with berth round by round, and prints the ratios (dockerd time / berth time)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.apiclient import UnixHTTPConnection  # noqa: E402
from tests.conftest import Daemon, cleanup_root, takes_back_default_bridge  # noqa: E402

DOCKER = shutil.which("docker") or "/usr/local/bin/docker"
PEER_SOCK = "/var/run/docker.sock"
MB = 1 << 20
DOCKERFILE = """FROM busybox
ENV APP=/app MODE=bench
WORKDIR /app
COPY src/ /app/src/
COPY conf/ /app/conf/
COPY data/ /app/data/
RUN find /app -type f | wc -l > /app/count
RUN cat /app/conf/* > /app/all.conf
RUN echo "$MODE $(cat /app/count)" > /app/summary
CMD ["cat", "/app/summary"]
"""


def small_tree(root: Path) -> None:
    """The 10-step build's context: three small directories (60 files, ~250 kB)."""
    root.mkdir(parents=True)
    (root / "Dockerfile").write_text(DOCKERFILE)
    for sub, n, size in (("src", 30, 4096), ("conf", 10, 256), ("data", 20, 6000)):
        (root / sub).mkdir()
        for i in range(n):
            (root / sub / f"f{i:03}").write_bytes(os.urandom(size // 2).hex().encode())


def big_context(root: Path, mb: int) -> None:
    """MB of incompressible data in 10 files, and a one-step Dockerfile."""
    root.mkdir(parents=True)
    (root / "Dockerfile").write_text("FROM busybox\n")
    per = mb * MB // 10
    for i in range(10):
        with open(root / f"blob{i}", "wb") as f:
            f.write(os.urandom(per))


def _peer_env() -> dict[str, str] | None:
    """The environment that points the docker CLI at the peers' dockerd, if it answers."""
    if not os.path.exists(PEER_SOCK) or not os.path.exists(DOCKER):
        return None
    try:
        c = UnixHTTPConnection(PEER_SOCK, timeout=5)
        c.request("GET", "/_ping")
        ok = c.getresponse().status == 200
        c.close()
    except OSError:
        return None
    if not ok:
        return None
    return {**os.environ, "DOCKER_HOST": "unix://" + PEER_SOCK, "DOCKER_BUILDKIT": "0"}


def timed_build(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(argv, env=env, capture_output=True)
    took = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {r.stderr.decode()[-800:]}")
    return took


def _spread(xs: list[float], unit: str = "s") -> str:
    return f"{statistics.median(xs):.3f} {unit} ({min(xs):.3f}-{max(xs):.3f})"


def _paired(a: list[float], b: list[float]) -> float:
    """The median of A/B round by round (the machine is shared: a neighbour's load that
    comes and goes cancels out of each ratio)."""
    return round(statistics.median(x / y for x, y in zip(a, b, strict=True)), 2)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--context-mb", type=int, default=100)
    ap.add_argument("--with-peers", action="store_true", help="also dockerd's classic builder")
    ap.add_argument("--json", help="write the figures here too")
    ns = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bt-bbuild-", dir="/tmp"))
    img = root / "busybox.tar"
    subprocess.run(
        [sys.executable, str(REPO / "scripts/mkimage-busybox"), "-o", str(img)], check=True
    )
    small, big = root / "small", root / "big"
    small_tree(small)
    big_context(big, ns.context_mb)
    tag = f"bt-bench-build-{os.getpid()}"
    d = Daemon(root / "d")
    (root / "d").mkdir()
    berth = [sys.executable, "-m", "berth.cli.main"]
    peer = _peer_env() if ns.with_peers else None
    if ns.with_peers and peer is None:
        print(f"--with-peers: dockerd not answering on {PEER_SOCK}; berth alone")
    times: dict[str, list[float]] = {}
    results: dict[str, object] = {"runs": ns.runs, "context_mb": ns.context_mb}
    try:
        with takes_back_default_bridge():
            d.start()
            d.load_image(img)
            env = {**d.env, "PYTHONPATH": str(REPO)}
            clients = {"berth": (berth, env)}
            if peer is not None:
                clients["dockerd"] = ([DOCKER], peer)
                subprocess.run([DOCKER, "pull", "-q", "busybox"], env=peer, capture_output=True)
            for cli, e in clients.values():
                # warm-up: the base image in place, the cache filled for the cached runs
                timed_build([*cli, "build", "-t", tag, str(small)], e)
            for _ in range(ns.runs):
                for who, (cli, e) in clients.items():
                    times.setdefault(f"{who}_cold", []).append(
                        timed_build([*cli, "build", "--no-cache", "-t", tag, str(small)], e)
                    )
                    times.setdefault(f"{who}_cached", []).append(
                        timed_build([*cli, "build", "-t", tag, str(small)], e)
                    )
                    took = timed_build([*cli, "build", "-q", "-t", tag + "-big", str(big)], e)
                    times.setdefault(f"{who}_upload", []).append(took)
            for key, xs in times.items():
                if key.endswith("_upload"):
                    mbps = [ns.context_mb / x for x in xs]
                    results[key + "_s"] = _spread(xs)
                    results[key + "_mb_per_s"] = round(statistics.median(mbps), 1)
                else:
                    results[key + "_s"] = _spread(xs)
            if peer is not None:
                for kind in ("cold", "cached", "upload"):
                    results[f"ratio_{kind}_dockerd_over_berth"] = _paired(
                        times[f"dockerd_{kind}"], times[f"berth_{kind}"]
                    )
                for t in (tag, tag + "-big"):
                    subprocess.run([DOCKER, "rmi", "-f", t], env=peer, capture_output=True)
                subprocess.run([DOCKER, "builder", "prune", "-f"], env=peer, capture_output=True)
            d.remove_all_containers()
            d.stop()
    finally:
        d.kill()
        cleanup_root(root)
    for k, v in results.items():
        print(f"{k:40} {v}")
    if ns.json:
        Path(ns.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
