#!/usr/bin/env python3
"""Where the milliseconds of a run go inside berth: the median of each listed engine,
runtime and shim function over N `docker run --rm busybox true`, and of the container
child's steps and syscalls up to its execve.

    sudo python3 bench/trace_run.py [--runs 10] [--network none] [-- docker run args...]
    sudo python3 bench/trace_run.py --exec [--runs 10]    # docker exec CTR true instead

Starts its own berthd with bench/trace/sitecustomize.py on PYTHONPATH (function timers
injected at import; berth itself is unchanged). Timers add ~20 us per call; compare the
phases, not the total, with bench/phases.py."""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.conftest import Daemon, cleanup_root, takes_back_default_bridge  # noqa: E402

DOCKER = "/usr/local/bin/docker"
TARGETS = [
    "berth.engine.containers.starting:Starting.create",
    "berth.engine.containers.starting:Starting._start_locked",
    "berth.engine.containers.resources:RunResources.acquire",
    "berth.engine.containers.resources:RunResources.release",
    "berth.runtime.adapter:RuntimeAdapter.mount_rootfs",
    "berth.runtime.adapter:RuntimeAdapter.write_bundle",
    "berth.runtime.adapter:RuntimeAdapter.spawn_shim",
    "berth.runtime.adapter:RuntimeAdapter.unmount",
    "berth.runtime.shim_client:ShimClient.start",
    "berth.runtime.shim_client:ShimClient.attach",
    "berth.engine.network.endpoints:EndpointOps.attach",
    "berth.engine.network.endpoints:EndpointOps.detach",
    "berth.engine.network.endpoints:EndpointOps.prepare",
    "berth.engine.network.endpoints:EndpointOps.plug",
    "berth.engine.containers.resources:RunResources.plug",
    "berth.engine.network.host:RealHost.create_netns",
    "berth.engine.network.host:RealHost.add_endpoint",
    "berth.engine.network.host:RealHost.delete_netns",
    "berth.engine.containers.store:ContainerStore.save",
    "berth.engine.containers.exits:Exits._after_exit",
    "berth.engine.containers.exits:Exits._auto_remove",
    "berth.engine.containers.exits:Exits._record_exit",
    "berth.engine.containers.removal:Removal._remove_locked",
    "berth.engine.containers.store:ContainerStore.delete",
    "berth.runtime.adapter:RuntimeAdapter.remove_cgroup",
    "shutil:rmtree",
    "berth.runtime.shim.server:Shim.finalize",
    "berth.runtime.executor.launch:cleanup",
    "berth.runtime.shim.process:InitProcess.reap_exit",
    "berth.runtime.shim.process:InitProcess.start",
    "berth.runtime.shim.process:InitProcess.load_config",
    "berth.runtime.executor.launch:plan",
    "berth.runtime.executor.launch:_fork",
    "berth.runtime.executor.launch:_read_all",
    "berth.runtime.cgroups:create",
    "berth.engine.containers.exec:ExecService.create",
    "berth.engine.containers.exec:ExecService.start",
    "berth.engine.containers.exec:ExecService.inspect",
    "berth.runtime.shim_client:ShimClient.exec",
    "berth.runtime.shim.server:Shim._op_exec",
    "berth.runtime.shim.process:ExecProcess.open_stdio",
    "berth.runtime.shim.process:ExecProcess.spawn",
    "berth.runtime.executor.launch:exec_process",
    "berth.runtime.executor.planning:plan_exec",
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--network", default="")
    ap.add_argument("--exec", action="store_true", help="time docker exec CTR true")
    ap.add_argument("args", nargs="*", help="docker run arguments (default: busybox true)")
    ns = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bt-trace-", dir="/tmp"))
    out = root / "trace.txt"
    img = root / "busybox.tar"
    subprocess.run(
        [sys.executable, str(REPO / "scripts/mkimage-busybox"), "-o", str(img)], check=True
    )
    (root / "d").mkdir()
    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "BERTH_TRACE", "BERTH_TRACE_TARGETS")}
    os.environ.update(
        PYTHONPATH=str(REPO / "bench" / "trace"),
        BERTH_TRACE=str(out),
        BERTH_TRACE_TARGETS=",".join(TARGETS),
    )
    d = Daemon(root / "d")
    argv = [DOCKER, "run", "--rm", *(["--network", ns.network] if ns.network else [])]
    argv += ns.args or ["busybox", "true"]
    try:
        with takes_back_default_bridge():
            d.start()
            for k, v in saved.items():  # the docker CLI and the image load need none of it
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            d.load_image(img)
            if ns.exec:
                ctr = subprocess.run(
                    [DOCKER, "run", "-d", "busybox", "sleep", "3600"],
                    env=d.env, check=True, capture_output=True, text=True,
                ).stdout.strip()  # fmt: skip
                argv = [DOCKER, "exec", ctr, "true"]
            subprocess.run(argv, env=d.env, check=True, stdout=subprocess.DEVNULL)  # warm
            out.write_text("")
            for _ in range(ns.runs):
                subprocess.run(argv, env=d.env, check=True, stdout=subprocess.DEVNULL)
            if ns.exec:
                subprocess.run([DOCKER, "rm", "-f", ctr], env=d.env, capture_output=True)
            d.stop()
        times: dict[str, list[float]] = collections.defaultdict(list)
        for line in out.read_text().splitlines():
            _, name, ms = line.split()
            times[name].append(float(ms))
    finally:
        cleanup_root(root)
    print(f"{'function':48} {'calls/run':>9} {'median ms':>10} {'min':>7}")
    for name, xs in sorted(times.items(), key=lambda kv: -statistics.median(kv[1])):
        print(f"{name:48} {len(xs) / ns.runs:9.1f} {statistics.median(xs):10.2f} {min(xs):7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
