"""Networking through docker-py against a berthd with a bridge of its own (bt-prefixed):
networks, published ports, connect/disconnect, name resolution. Traffic stays on loopback
and on the bridges the test creates."""

from __future__ import annotations

import os
import socket
import subprocess
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from berth.engine.network import nat
from tests.conftest import IS_ROOT, Daemon, _make_daemon

docker_sdk = pytest.importorskip("docker", reason="docker-py is not installed")
pytestmark = [pytest.mark.compat, pytest.mark.skipif(not IS_ROOT, reason="needs root")]

BRIDGE = f"btp{os.getpid() % 100000}"


@pytest.fixture(scope="module")
def nd(busybox_tar: Path) -> Iterator[Daemon]:
    try:
        yield from _make_daemon(busybox_tar, ["--bridge", BRIDGE])
    finally:
        subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)
        nat.remove_bridge(BRIDGE)


@pytest.fixture
def client(nd: Daemon) -> Iterator[Any]:
    c = docker_sdk.DockerClient(base_url=nd.host, version="auto", timeout=60)
    try:
        yield c
    finally:
        nd.remove_all_containers()
        for n in c.networks.list():
            if n.name.startswith("bt"):
                n.remove()
        c.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_network_lifecycle_and_name_resolution(client: Any) -> None:
    name = "bt" + uuid.uuid4().hex[:8]
    ipam = docker_sdk.types.IPAMConfig(
        pool_configs=[docker_sdk.types.IPAMPool(subnet="10.216.0.0/24", gateway="10.216.0.1")]
    )
    net = client.networks.create(name, driver="bridge", ipam=ipam, labels={"t": "1"})
    assert client.networks.get(name).id == net.id
    assert net.attrs["IPAM"]["Config"][0]["Subnet"] == "10.216.0.0/24"
    web = client.containers.run(
        "busybox", ["httpd", "-f", "-p", "80", "-h", "/etc"], detach=True, name="pyweb",
        network=name,
    )  # fmt: skip
    out = client.containers.run(
        "busybox", ["wget", "-qO-", "http://pyweb/hostname"], network=name, remove=True
    )
    assert out.decode().strip() == web.id[:12]
    net.reload()
    assert [x.id for x in net.containers] == [web.id]
    with pytest.raises(docker_sdk.errors.APIError) as ei:
        net.remove()
    assert ei.value.status_code == 403 and "has active endpoints" in str(ei.value)
    # connect a second container later: it is found by its alias
    other = client.containers.run("busybox", ["sleep", "60"], detach=True)
    net.connect(other, aliases=["buddy"])
    out = web.exec_run(["nslookup", "buddy", "127.0.0.11"]).output.decode()
    other.reload()
    assert other.attrs["NetworkSettings"]["Networks"][name]["IPAddress"] in out
    net.disconnect(other)
    other.reload()
    assert name not in other.attrs["NetworkSettings"]["Networks"]


def test_published_port_and_ps(client: Any) -> None:
    port = _free_port()
    c = client.containers.run(
        "busybox", ["httpd", "-f", "-p", "80", "-h", "/etc"], detach=True,
        ports={"80/tcp": ("127.0.0.1", port)},
    )  # fmt: skip
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/hostname", timeout=10) as r:
        assert r.read().decode().strip() == c.id[:12]
    c.reload()
    assert c.ports == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
    summary = client.api.containers(filters={"id": c.id})[0]
    assert summary["Ports"] == [
        {"IP": "127.0.0.1", "PrivatePort": 80, "PublicPort": port, "Type": "tcp"}
    ]
    assert summary["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
