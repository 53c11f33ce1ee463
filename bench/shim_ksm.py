#!/usr/bin/env python3
"""Per-container memory with berthd --shim-memory-merge: N sleeping containers, the shims'
PSS before and after the kernel's KSM has merged their identical pages, and what ksmd
spent doing it.

    sudo python3 bench/shim_ksm.py [--containers 50] [--json out.json]

KSM is the host's setting, which berth never changes: this bench turns ksmd on for its
run (/sys/kernel/mm/ksm/run = 1, pages_to_scan as given) and puts both values back
after, whatever happens. Not for CI."""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from run import pss_kib, shim_pids  # noqa: E402

from tests.conftest import Daemon, cleanup_root, takes_back_default_bridge  # noqa: E402

KSM = Path("/sys/kernel/mm/ksm")
DOCKER = "/usr/local/bin/docker"


def ksmd_cpu_s() -> float:
    """ksmd's CPU time so far (user + system), in seconds."""
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if (p / "comm").read_text().strip() == "ksmd":
                    f = (p / "stat").read_text().rsplit(")", 1)[1].split()
                    return (int(f[11]) + int(f[12])) / 100
            except OSError:
                continue
    return 0.0


def median_pss_mib(d: Daemon) -> float:
    return round(statistics.median(pss_kib(p) for p in shim_pids(str(d.exec_root))) / 1024, 2)


def settled(timeout: float) -> float:
    """Wait until ksmd's merge count stops moving (two equal readings 2 s apart)."""
    t0 = time.monotonic()
    last = -1
    while time.monotonic() - t0 < timeout:
        now = int((KSM / "pages_sharing").read_text())
        if now == last and now > 0:
            break
        last = now
        time.sleep(2)
    return time.monotonic() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--containers", type=int, default=50)
    ap.add_argument("--pages-to-scan", type=int, default=100, help="ksmd's (100: the default)")
    ap.add_argument("--json")
    ns = ap.parse_args()
    saved = {k: (KSM / k).read_text().strip() for k in ("run", "pages_to_scan")}
    root = Path(tempfile.mkdtemp(prefix="bt-bksm-", dir="/tmp"))
    img = root / "busybox.tar"
    subprocess.run(
        [sys.executable, str(REPO / "scripts/mkimage-busybox"), "-o", str(img)], check=True
    )
    (root / "d").mkdir()
    d = Daemon(root / "d", ["--shim-memory-merge"])
    figures: dict[str, object] = {}
    try:
        with takes_back_default_bridge():
            d.start()
            d.load_image(img)
            for _ in range(ns.containers):
                subprocess.run(
                    [DOCKER, "run", "-d", "busybox", "sleep", "3600"],
                    env=d.env, check=True, stdout=subprocess.DEVNULL,
                )  # fmt: skip
            time.sleep(1)
            figures["shim_pss_mib_before_ksm"] = median_pss_mib(d)
            (KSM / "pages_to_scan").write_text(str(ns.pages_to_scan))
            cpu0 = ksmd_cpu_s()
            (KSM / "run").write_text("1")
            figures["seconds_to_settle"] = round(settled(300), 1)
            figures["ksmd_cpu_s"] = round(ksmd_cpu_s() - cpu0, 2)
            figures["shim_pss_mib_after_ksm"] = median_pss_mib(d)
            # the shims still work once merged
            out = subprocess.run(
                [DOCKER, "run", "--rm", "busybox", "echo", "ok"],
                env=d.env, capture_output=True, check=True,
            )  # fmt: skip
            assert out.stdout == b"ok\n", out
            d.remove_all_containers()
            d.stop()
    finally:
        # "2" unmerges every page before stopping, then the host's own setting again
        (KSM / "run").write_text("2")
        (KSM / "pages_to_scan").write_text(saved["pages_to_scan"])
        (KSM / "run").write_text(saved["run"])
        cleanup_root(root)
    for k, v in figures.items():
        print(f"{k:28} {v}")
    if ns.json:
        Path(ns.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
