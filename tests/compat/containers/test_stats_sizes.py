"""`docker stats` answers at once with one sample and real NET I/O; `docker ps -s` and
inspect ?size=1 show the upper dir's size."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.conftest import Daemon, docker_for

pytestmark = pytest.mark.compat


@pytest.fixture
def running(daemon: Daemon) -> Iterator[str]:
    docker = docker_for(daemon)
    # a little traffic on eth0: an ARP request to the gateway at least
    r = docker(
        "run",
        "-d",
        "busybox",
        "sh",
        "-c",
        "ping -c 3 -W 1 $(ip route | awk '/default/ {print $3}'); sleep 300",
    )
    assert r.returncode == 0, r.stderr.decode()
    yield r.stdout.decode().strip()
    daemon.remove_all_containers()


def test_one_shot_and_networks(daemon: Daemon, running: str) -> None:
    st, doc = daemon.api.call("GET", f"/containers/{running}/stats?stream=false&one-shot=true")
    assert st == 200
    assert doc["precpu_stats"]["cpu_usage"]["total_usage"] == 0  # no second sample waited for
    assert list(doc["networks"]) == ["eth0"]
    eth0 = doc["networks"]["eth0"]
    assert set(eth0) == {
        "rx_bytes", "rx_packets", "rx_errors", "rx_dropped",
        "tx_bytes", "tx_packets", "tx_errors", "tx_dropped",
    }  # fmt: skip
    assert eth0["tx_packets"] > 0 and eth0["tx_bytes"] > 0
    assert "blkio_stats" in doc and "io_service_bytes_recursive" in doc["blkio_stats"]
    # without one-shot, two samples: precpu is filled
    st, doc = daemon.api.call("GET", f"/containers/{running}/stats?stream=false")
    assert st == 200 and doc["precpu_stats"]["cpu_usage"]["total_usage"] > 0


def test_docker_stats_net_io_is_real(daemon: Daemon, running: str) -> None:
    r = docker_for(daemon)("stats", "--no-stream", "--format", "{{.NetIO}}", running)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.decode().strip() not in ("0B / 0B", "--")


def test_sizes(daemon: Daemon) -> None:
    docker = docker_for(daemon)
    try:
        r = docker(
            "run", "--name", "sized", "busybox", "sh", "-c", "head -c 100000 /dev/zero > /big"
        )
        assert r.returncode == 0, r.stderr.decode()
        st, items = daemon.api.call("GET", "/containers/json?all=1&size=1")
        (item,) = [i for i in items if i["Names"] == ["/sized"]]
        st, img = daemon.api.call("GET", "/images/busybox/json")
        assert item["SizeRw"] == 100000
        assert item["SizeRootFs"] == img["Size"] + 100000
        st, doc = daemon.api.call("GET", "/containers/sized/json?size=1")
        assert (doc["SizeRw"], doc["SizeRootFs"]) == (100000, img["Size"] + 100000)
        st, doc = daemon.api.call("GET", "/containers/sized/json")
        assert "SizeRw" not in doc
        out = docker("ps", "-a", "-s", "--filter", "name=sized", "--format", "{{json .}}")
        assert json.loads(out.stdout)["Size"].startswith("100kB (virtual ")
    finally:
        daemon.remove_all_containers()
