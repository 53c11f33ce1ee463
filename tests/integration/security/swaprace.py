"""What the race tests share: a berthd per resolution mode, the swapping container
(c/swap.c) and host files that must never be read or written through it."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import Daemon, _make_daemon, docker_for

# berth/runtime/rootdir.py reads it: "fallback" forces the fd walk used without openat2
MODE_ENV = "BERTH_ROOTDIR_RESOLVE"


@pytest.fixture(params=["openat2", "fallback"])
def racing_daemon(
    request: pytest.FixtureRequest,
    daemon: Daemon,
    busybox_tar: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Daemon]:
    """The shared berthd (openat2 on this kernel), or one of the test's own forced onto
    the component-by-component fallback."""
    if request.param == "openat2":
        try:
            yield daemon
        finally:
            daemon.remove_all_containers()
        return
    monkeypatch.setenv(MODE_ENV, "fallback")
    yield from _make_daemon(busybox_tar)


@dataclass
class Swapper:
    cid: str
    name: str  # /w/d/<name> and /<name> exist in the container, /<name> on the host too
    upper: Path


def wait_for(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@contextlib.contextmanager
def swapper(d: Daemon, swap_bin: Path, name: str) -> Iterator[Swapper]:
    """A busybox container running swap: /w/d and /w/l (-> /) exchanged in a loop."""
    docker = docker_for(d)
    r = docker("run", "-d", "-v", f"{swap_bin}:/swap:ro", "busybox", "/swap", name)
    assert r.returncode == 0, r.stderr.decode()
    cid = r.stdout.decode().strip()
    try:

        def ready() -> bool:
            status = d.api.raw("HEAD", f"/containers/{cid}/archive?path=/w/ready")[0]
            if status != 200:
                running = d.api.call("GET", f"/containers/{cid}/json")[1]["State"]["Running"]
                assert running, f"swap exited: {docker('logs', cid).stderr.decode()}"
            return status == 200

        wait_for(ready, 15, "the swapper to start")
        yield Swapper(cid, name, d.data_root / "overlay" / cid / "upper")
    finally:
        docker("rm", "-f", cid)


@contextlib.contextmanager
def host_secret(prefix: str = "bt-race-secret") -> Iterator[tuple[str, bytes]]:
    """A file on the host's / that no container has: (name, content)."""
    name = f"{prefix}-{uuid.uuid4().hex[:12]}"
    content = f"HOST-ONLY {name}\n".encode()
    path = "/" + name
    with open(path, "wb") as f:
        f.write(content)
    try:
        yield name, content
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def remove_host_markers(pattern: str) -> list[str]:
    """Remove what the engine wrongly wrote on the host's /; returns what it found."""
    found = sorted(glob.glob("/" + pattern))
    for p in found:
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(p)
    return found
