#!/usr/bin/env python3
"""berthd's start and recovery: how long until it serves with 0 and with N existing
containers, and how long after a SIGKILL until N running containers are adopted again;
then start/rm -f races, counted (answers and leftovers), for longer than CI runs them.

    sudo python3 bench/lifecycle.py [--containers 200] [--running 50] [--races 300]

Targets (issue "Lifecycle you can trust"): ready < 300 ms with 0 and 200 containers;
50 live containers adopted < 1 s after a SIGKILL."""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.conftest import Daemon, cleanup_root, takes_back_default_bridge  # noqa: E402


def ready_ms(d: Daemon, runs: int = 5) -> float:
    """Median time from berthd's exec to its first 200 on /_ping."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        d.start(timeout=60)
        times.append(time.perf_counter() - t0)
        d.stop()
    return round(statistics.median(times) * 1000, 1)


def recovery_ms(d: Daemon, n: int) -> float:
    """SIGKILL berthd with N running containers; the time until the next one serves and
    lists all N as running (reconciliation adopts them before the API opens)."""
    d.start()
    for i in range(n):
        st, body = d.api.call(
            "POST", f"/containers/create?name=bench-live{i}", {"Image": "busybox",
                                                               "Cmd": ["sleep", "3600"]}
        )  # fmt: skip
        assert st == 201, body
        assert d.api.call("POST", f"/containers/{body['Id']}/start")[0] == 204
    d.kill()
    t0 = time.perf_counter()
    d.start(timeout=60)
    while True:
        st, items = d.api.call("GET", "/containers/json")
        if st == 200 and len(items) == n:
            break
        time.sleep(0.01)
    took = time.perf_counter() - t0
    d.remove_all_containers()
    d.stop()
    return round(took * 1000, 1)


def races(d: Daemon, rounds: int) -> dict[str, object]:
    d.start()
    rng = random.Random(1)
    answers: dict[int, int] = {}
    for i in range(rounds):
        st, body = d.api.call(
            "POST", f"/containers/create?name=bench-race{i}", {"Image": "busybox",
                                                               "Cmd": ["sleep", "100"]}
        )  # fmt: skip
        cid = body["Id"]
        got: list[int] = []
        delay = rng.uniform(0, 0.05)

        def start(cid: str = cid, got: list[int] = got) -> None:
            got.append(d.api.call("POST", f"/containers/{cid}/start")[0])

        def remove(cid: str = cid, delay: float = delay, got: list[int] = got) -> None:
            time.sleep(delay)
            got.append(d.api.call("DELETE", f"/containers/{cid}?force=1")[0])

        ts = [threading.Thread(target=start), threading.Thread(target=remove)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        d.api.call("DELETE", f"/containers/{cid}?force=1")
        for s in got:
            answers[s] = answers.get(s, 0) + 1
    time.sleep(1)
    veths = [n for n in os.listdir("/sys/class/net") if n.startswith("veth")]
    left = d.api.call("GET", "/containers/json?all=1")[1]
    d.stop()
    return {"answers": answers, "containers_left": len(left), "veths_left": len(veths)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--containers", type=int, default=200)
    ap.add_argument("--running", type=int, default=50)
    ap.add_argument("--races", type=int, default=300)
    ap.add_argument("--runs", type=int, default=5, help="starts per ready measurement")
    ap.add_argument("--ready-only", action="store_true", help="only the two ready measurements")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bt-bench-", dir="/tmp"))
    img = root / "busybox.tar"
    subprocess.run([sys.executable, str(REPO / "scripts/mkimage-busybox"), "-o", str(img)],
                   check=True)  # fmt: skip
    (root / "d").mkdir()
    d = Daemon(root / "d")
    results: dict[str, object] = {}
    try:
        results["ready_ms_0_containers"] = ready_ms(d, args.runs)
        d.start()
        d.load_image(img)
        for i in range(args.containers):
            st, _ = d.api.call("POST", f"/containers/create?name=bench-c{i}", {"Image": "busybox"})
            assert st == 201
        d.stop()
        results[f"ready_ms_{args.containers}_containers"] = ready_ms(d, args.runs)
        if not args.ready_only:
            d.start()
            d.remove_all_containers()
            d.stop()
            results[f"recovery_ms_{args.running}_running"] = recovery_ms(d, args.running)
            results[f"start_rm_races_{args.races}"] = races(d, args.races)
    finally:
        d.kill()
        cleanup_root(root)
    for k, v in results.items():
        print(f"{k:32} {v}")
    return 0


if __name__ == "__main__":
    with takes_back_default_bridge():
        sys.exit(main())
