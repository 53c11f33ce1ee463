#!/usr/bin/env python3
"""berthd's memory across many runs: idle RSS, then RSS every 100 `docker run --rm busybox
true` (through the real docker CLI, default bridge network), up to --runs.

    sudo python3 bench/rss.py [--runs 1000] [--json out.json]

Starts its own berthd on a temporary socket and data root. The first several hundred runs
warm caches (SQLite's page cache, the allocator's arenas, the interpreter's string table);
flat means the second half of the runs adds next to nothing: its growth per run is
printed. One run here (3000 runs): idle 33.0 MiB, 35.6 after 1000, 35.7 from 1100 to
2500, 36.6 from 2600 to 3000 (one step of an allocator arena)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

sys.path.insert(0, str(REPO / "bench"))

from run import rss_kib  # noqa: E402

from tests.conftest import Daemon, cleanup_root, takes_back_default_bridge  # noqa: E402

DOCKER = "/usr/local/bin/docker"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--json", help="write the figures here too")
    ns = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bt-brss-", dir="/tmp"))
    img = root / "busybox.tar"
    subprocess.run(
        [sys.executable, str(REPO / "scripts/mkimage-busybox"), "-o", str(img)], check=True
    )
    (root / "d").mkdir()
    d = Daemon(root / "d")
    env = {**os.environ, **d.env}
    samples: list[tuple[int, float]] = []
    try:
        with takes_back_default_bridge():
            d.start()
            d.load_image(img)
            assert d.proc is not None
            pid = d.proc.pid
            samples.append((0, rss_kib(pid) / 1024))
            t0 = time.perf_counter()
            for i in range(1, ns.runs + 1):
                subprocess.run(
                    [DOCKER, "run", "--rm", "busybox", "true"],
                    env=env, check=True, stdout=subprocess.DEVNULL,
                )  # fmt: skip
                if i % 100 == 0 or i == ns.runs:
                    samples.append((i, rss_kib(pid) / 1024))
                    print(f"  after {i:5} runs: {samples[-1][1]:.1f} MiB", flush=True)
            took = time.perf_counter() - t0
            left = subprocess.run(
                [DOCKER, "ps", "-aq"], env=env, check=True, capture_output=True, text=True
            ).stdout.split()
            d.stop()
    finally:
        cleanup_root(root)
    idle = samples[0][1]
    half_n, half = next(((n, mib) for n, mib in samples if n >= ns.runs // 2), samples[-1])
    last_n, last = samples[-1]
    per_run = (last - half) * 1024 / max(1, last_n - half_n)
    print(
        f"berthd RSS: idle {idle:.1f} MiB, after {half_n} runs {half:.1f}, after {last_n} "
        f"{last:.1f} ({per_run:+.2f} KiB/run over the second half); {ns.runs} runs in "
        f"{took:.0f} s; containers left: {len(left)}"
    )
    if ns.json:
        Path(ns.json).write_text(
            json.dumps({"samples": samples, "kib_per_run": round(per_run, 2), "left": len(left)})
        )
    return 0 if not left else 1


if __name__ == "__main__":
    sys.exit(main())
