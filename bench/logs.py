#!/usr/bin/env python3
"""`docker logs` throughput: a container writes 100 MB (1M lines of 100 bytes), then
`docker logs CID > /dev/null` is timed through the real docker CLI.

    sudo python3 bench/logs.py [--mb 100] [--runs 3] [--json out.json]

Starts its own berthd on a temporary socket and data root. Target: at least 300 MB/s (issue 14)."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.conftest import Daemon, cleanup_root, takes_back_default_bridge  # noqa: E402

DOCKER = "/usr/local/bin/docker"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=100, help="megabytes of output (10^6 bytes)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", help="write the figures here too")
    ns = ap.parse_args()
    total = ns.mb * 1_000_000
    root = Path(tempfile.mkdtemp(prefix="bt-blog-", dir="/tmp"))
    img = root / "busybox.tar"
    subprocess.run(
        [sys.executable, str(REPO / "scripts/mkimage-busybox"), "-o", str(img)], check=True
    )
    d = Daemon(root / "d")
    (root / "d").mkdir()
    env = {**os.environ, **d.env}
    try:
        d.start()
        d.load_image(img)
        # 99 'x' and a newline per line: exactly `total` bytes of output
        script = f"yes {'x' * 99} | head -n {total // 100}"
        t0 = time.perf_counter()
        cid = subprocess.run(
            [DOCKER, "run", "-d", "busybox", "sh", "-c", script],
            env=env, check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
        subprocess.run([DOCKER, "wait", cid], env=env, check=True, capture_output=True)
        write_s = time.perf_counter() - t0
        log = d.data_root / "containers" / cid / f"{cid}-json.log"
        size = log.stat().st_size if log.exists() else 0
        times = []
        for _ in range(ns.runs):
            t0 = time.perf_counter()
            with open(os.devnull, "wb") as null:
                p = subprocess.run([DOCKER, "logs", cid], env=env, stdout=null, check=True)
            assert p.returncode == 0
            times.append(time.perf_counter() - t0)
        # the output is all there
        p = subprocess.run(
            [DOCKER, "logs", "--tail", "2", cid], env=env, capture_output=True, check=True
        )
        assert p.stdout == (b"x" * 99 + b"\n") * 2, p.stdout[:200]
        med = statistics.median(times)
        figures = {
            "output_mb": ns.mb,
            "json_log_bytes": size,
            "write_s": round(write_s, 2),
            "logs_s": [round(t, 3) for t in times],
            "logs_mb_per_s": round(ns.mb / med, 1),
        }
        print(
            f"docker logs of {ns.mb} MB: {med:.2f} s median "
            f"({min(times):.2f}-{max(times):.2f}) = {ns.mb / med:.1f} MB/s "
            f"(target >= 300 MB/s); writing it took {write_s:.1f} s"
        )
        if ns.json:
            Path(ns.json).write_text(json.dumps(figures, indent=2) + "\n")
        subprocess.run([DOCKER, "rm", "-f", cid], env=env, capture_output=True)
    finally:
        d.stop()
        cleanup_root(root)
    return 0


if __name__ == "__main__":
    with takes_back_default_bridge():
        raise SystemExit(main())
