"""Host selection and parsing (-H, DOCKER_HOST, BERTH_HOST)."""

from __future__ import annotations

import pytest

from berth.client.hosts import Host, HostError, parse_host, pick_host
from berth.constants import DEFAULT_HOST


def test_flag_wins_over_environment() -> None:
    env = {"DOCKER_HOST": "unix:///d.sock", "BERTH_HOST": "unix:///b.sock"}
    assert pick_host("tcp://1.2.3.4:5", env) == "tcp://1.2.3.4:5"


def test_docker_host_wins_over_berth_host() -> None:
    assert pick_host(None, {"DOCKER_HOST": "unix:///d", "BERTH_HOST": "unix:///b"}) == "unix:///d"


def test_berth_host_then_default() -> None:
    assert pick_host(None, {"BERTH_HOST": "unix:///b"}) == "unix:///b"
    assert pick_host(None, {"DOCKER_HOST": ""}) == DEFAULT_HOST


@pytest.mark.parametrize(
    "spec, want",
    [
        ("unix:///var/run/berth.sock", Host("unix", path="/var/run/berth.sock")),
        ("/tmp/x.sock", Host("unix", path="/tmp/x.sock")),
        ("tcp://127.0.0.1:2376", Host("tcp", host="127.0.0.1", port=2376)),
        ("tcp://localhost", Host("tcp", host="localhost", port=2375)),
        ("localhost:99", Host("tcp", host="localhost", port=99)),
        ("tcp://:2375", Host("tcp", host="127.0.0.1", port=2375)),
        ("tcp://[::1]:2375", Host("tcp", host="::1", port=2375)),
        ("tcp://host:1/", Host("tcp", host="host", port=1)),
    ],
)
def test_parse(spec: str, want: Host) -> None:
    assert parse_host(spec) == want


@pytest.mark.parametrize(
    "spec", ["fd://", "ssh://me@host", "tcp://host:notaport", "tcp://host:70000", "unix://", ""]
)
def test_parse_rejects(spec: str) -> None:
    with pytest.raises(HostError):
        parse_host(spec)


def test_url_round_trip() -> None:
    assert parse_host("unix:///a/b.sock").url == "unix:///a/b.sock"
    assert parse_host("tcp://h:7").url == "tcp://h:7"
