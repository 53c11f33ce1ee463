"""Runs leave nothing behind: after `docker run --rm` in a row and in parallel, berthd's
fds and threads, the mounts, netns, veths, cgroups and iptables rules are back where they
were, and a second pass does not grow berthd's memory. (Longer: bench/.)"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import IS_ROOT, Daemon, docker_for, own_daemon

pytestmark = [pytest.mark.integration, pytest.mark.skipif(not IS_ROOT, reason="needs root")]

SERIAL, PARALLEL = 60, 30


@pytest.fixture
def own(busybox_tar: Path) -> Iterator[Daemon]:
    with own_daemon(busybox_tar) as d:
        yield d


def _snapshot(d: Daemon) -> dict[str, int]:
    assert d.proc is not None
    pid = d.proc.pid
    with open("/proc/self/mounts") as f:
        mounts = sum(1 for ln in f if str(d.root) in ln)
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    cg = (
        [p for p in Path("/sys/fs/cgroup/pids/berth").glob("*") if p.is_dir()]
        if Path("/sys/fs/cgroup/pids/berth").is_dir()
        else []
    )
    return {
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
        "threads": len(os.listdir(f"/proc/{pid}/task")),
        "mounts": mounts,
        "netns": len([n for n in os.listdir("/run/netns")]) if os.path.isdir("/run/netns") else 0,
        "veths": len([n for n in os.listdir("/sys/class/net") if n.startswith("veth")]),
        "cgroups": len(cg),
        "rules": rules.count("berth:"),
    }


def _rss_kib(d: Daemon) -> int:
    assert d.proc is not None
    for line in Path(f"/proc/{d.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _pass(d: Daemon) -> None:
    docker = docker_for(d)
    for _ in range(SERIAL):
        r = docker("run", "--rm", "busybox", "true")
        assert r.returncode == 0, r.stderr
    with ThreadPoolExecutor(6) as pool:
        results = list(
            pool.map(lambda _: docker("run", "--rm", "busybox", "true"), range(PARALLEL))
        )
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results if r.returncode]


_KERNEL = ("mounts", "netns", "veths", "cgroups", "rules")


def _settled(d: Daemon, want: dict[str, int]) -> dict[str, int]:
    """The snapshot once its kernel objects are those of WANT, or the last one after 15 s
    (a netns and its veth go a moment after their container)."""
    deadline = time.monotonic() + 15
    while True:
        got = _snapshot(d)
        if all(got[k] == want[k] for k in _KERNEL) or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def test_runs_leave_nothing_and_memory_stays_flat(own: Daemon) -> None:
    base = _snapshot(own)  # no container has run yet
    _pass(own)  # warms up what is made once (the thread pool, caches, the bridge's rules)
    before = _settled(own, base)
    rss_before = _rss_kib(own)
    _pass(own)
    after = _settled(own, base)
    assert {k: after[k] for k in _KERNEL} == {k: base[k] for k in _KERNEL}
    # the daemon's own: no fd per run; threads only up to the default executor's few
    # (min(32, cpus + 4)), never one per run
    assert after["fds"] <= before["fds"] + 2, (before, after)
    assert after["threads"] <= before["threads"] + 6, (before, after)
    assert own.api.call("GET", "/containers/json?all=1")[1] == []
    # within 2 MiB on a second pass of the same work
    assert _rss_kib(own) - rss_before < 2048, (rss_before, _rss_kib(own))
