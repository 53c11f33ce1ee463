"""A berthd with a default bridge of its own (bt-prefixed) for the network compat tests,
driven by the real docker CLI and docker-py. Traffic stays on loopback and on the bridges
the tests create; each test's networks and containers go whatever it did."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from berth.engine.network import nat
from tests.conftest import IS_ROOT, Daemon, Docker, _make_daemon, docker_for

pytestmark = [pytest.mark.compat, pytest.mark.skipif(not IS_ROOT, reason="needs root")]

BRIDGE = f"btq{os.getpid() % 100000}"


@pytest.fixture(scope="module")
def nd(busybox_tar: Path) -> Iterator[Daemon]:
    if not IS_ROOT:
        pytest.skip("needs root")
    try:
        yield from _make_daemon(busybox_tar, ["--bridge", BRIDGE])
    finally:
        subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)
        nat.remove_bridge(BRIDGE)


def clean(d: Daemon, bridges: list[str] | None = None) -> None:
    """The containers and bt networks of daemon D, and the named BRIDGES if any is left."""
    d.remove_all_containers()
    status, nets = d.api.call("GET", "/networks")
    for n in nets if status == 200 else []:
        if n["Name"].startswith("bt"):
            d.api.call("DELETE", f"/networks/{n['Id']}")
    for b in bridges or []:
        subprocess.run(["ip", "link", "del", b], capture_output=True)
        nat.remove_bridge(b)


@pytest.fixture
def cli(nd: Daemon) -> Iterator[Docker]:
    try:
        yield docker_for(nd)
    finally:
        clean(nd)


@pytest.fixture
def client(nd: Daemon) -> Iterator[Any]:
    docker_sdk = pytest.importorskip("docker", reason="docker-py is not installed")
    c = docker_sdk.DockerClient(base_url=nd.host, version="auto", timeout=60)
    try:
        yield c
    finally:
        clean(nd)
        c.close()


def out(p: subprocess.CompletedProcess[bytes]) -> str:
    assert p.returncode == 0, p.stderr.decode()
    return p.stdout.decode().strip()
