#!/usr/bin/env python3
"""Where the time of one `run --rm busybox true` goes, phase by phase, at the API.

    sudo python3 bench/phases.py [--runs 20]

Replays the docker CLI's calls (create, wait?condition=removed, start, then the wait
result, which arrives after the auto-removal) on one keep-alive connection and prints
the median of each phase."""

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

from tests.apiclient import UnixHTTPConnection  # noqa: E402
from tests.conftest import Daemon, cleanup_root, takes_back_default_bridge  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bt-bench-", dir="/tmp"))
    img = root / "busybox.tar"
    subprocess.run(
        [sys.executable, str(REPO / "scripts/mkimage-busybox"), "-o", str(img)], check=True
    )
    (root / "d").mkdir()
    d = Daemon(root / "d")
    phases: dict[str, list[float]] = {"create": [], "start": [], "exit+remove": [], "total": []}
    try:
        d.start()
        d.load_image(img)
        body = json.dumps(
            {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"AutoRemove": True}}
        ).encode()
        for i in range(args.runs + 2):
            c1 = UnixHTTPConnection(d.sock)
            c2 = UnixHTTPConnection(d.sock)
            t0 = time.perf_counter()
            c1.request(
                "POST", "/v1.50/containers/create", body, {"Content-Type": "application/json"}
            )
            cid = json.loads(c1.getresponse().read())["Id"]
            t1 = time.perf_counter()
            c2.request("POST", f"/v1.50/containers/{cid}/wait?condition=removed")
            wr = c2.getresponse()  # headers only: the body comes after the removal
            t2 = time.perf_counter()
            c1.request("POST", f"/v1.50/containers/{cid}/start")
            c1.getresponse().read()
            t3 = time.perf_counter()
            wr.read()
            t4 = time.perf_counter()
            c1.close()
            c2.close()
            if i >= 2:
                phases["create"].append(t1 - t0)
                phases["start"].append(t3 - t2)
                phases["exit+remove"].append(t4 - t3)
                phases["total"].append(t4 - t0)
    finally:
        d.remove_all_containers()
        d.stop()
        cleanup_root(root)
    for k, v in phases.items():
        print(f"{k:14} median {statistics.median(v) * 1000:6.1f} ms  (min {min(v) * 1000:.1f})")
    return 0


if __name__ == "__main__":
    with takes_back_default_bridge():
        sys.exit(main())
