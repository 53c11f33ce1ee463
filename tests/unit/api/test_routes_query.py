"""Query parsing as the handlers hand it to the engine: bools, ints, filters JSON."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from tests.unit.api.fake_backend import FakeBackend, container
from tests.unit.api.route_client import request


def _backend() -> FakeBackend:
    be = FakeBackend()
    be.containers.add(container(1, "web", status="running"))
    be.containers.add(container(2, "old", status="exited"))
    be.containers.add(container(3, "new", status="created"))
    return be


def _names(be: FakeBackend, query: str) -> list[str]:
    a = request(be, "GET", "/containers/json" + query)
    assert a.status == 200
    return sorted(n for s in a.json() for n in s["Names"])


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("", ["/web"]),  # running only by default
        ("?all=0", ["/web"]),
        ("?all=1", ["/new", "/old", "/web"]),
        ("?all=true", ["/new", "/old", "/web"]),
        ("?all=True", ["/new", "/old", "/web"]),
        # a status filter shows stopped ones without all=
        ("?filters=" + quote(json.dumps({"status": ["exited"]})), ["/old"]),
        # the older map form of filters
        ("?all=1&filters=" + quote(json.dumps({"name": {"new": True}})), ["/new"]),
    ],
)
def test_list_all_and_filters(query: str, names: list[str]) -> None:
    assert _names(_backend(), query) == names


def test_limit_keeps_the_newest() -> None:
    a = request(_backend(), "GET", "/containers/json?all=1&limit=2")
    assert len(a.json()) == 2
    assert request(_backend(), "GET", "/containers/json?all=1&limit=0").status == 200


def test_stop_hands_over_the_int_and_the_signal() -> None:
    be = _backend()
    assert request(be, "POST", "/containers/web/stop?t=7&signal=SIGINT").status == 204
    assert be.calls.last("stop") == ("web", 7, "SIGINT")
    request(be, "POST", "/containers/web/stop")
    assert be.calls.last("stop") == ("web", None, None)


@pytest.mark.parametrize(
    ("query", "force", "volumes"),
    [("", False, False), ("?force=1&v=1", True, True), ("?force=false&v=yes", False, True)],
)
def test_remove_flags(query: str, force: bool, volumes: bool) -> None:
    be = _backend()
    assert request(be, "DELETE", "/containers/old" + query).status == 204
    assert be.calls.last("remove") == ("old", force, volumes)


def test_repeated_parameter_takes_the_last_value() -> None:
    be = _backend()
    request(be, "POST", "/containers/web/stop?t=1&t=2")
    assert be.calls.last("stop")[1] == 2


def test_resize_defaults_to_zero() -> None:
    be = _backend()
    assert request(be, "POST", "/containers/web/resize?h=40").status == 200
    assert be.calls.last("resize") == ("web", 40, 0)


def test_volume_filters_are_normalized_before_the_engine() -> None:
    be = FakeBackend()
    flt = quote(json.dumps({"dangling": {"true": True}, "name": ["a"]}))
    assert request(be, "GET", f"/volumes?filters={flt}").status == 200
    assert be.calls.last("volumes.list") == ({"dangling": ["true"], "name": ["a"]},)


def test_logs_options() -> None:
    be = _backend()
    a = request(be, "GET", "/containers/web/logs?stdout=1&tail=5&timestamps=1&since=10")
    assert a.status == 200
    assert a.headers["content-type"] == "application/vnd.docker.multiplexed-stream"
    opts = be.calls.last("log_stream")[1]
    assert (opts.stdout, opts.stderr, opts.tail, opts.timestamps) == (True, False, 5, True)
    assert opts.since == 10.0
    request(be, "GET", "/containers/web/logs?stderr=1&tail=all")
    assert be.calls.last("log_stream")[1].tail is None
    assert request(be, "GET", "/containers/web/logs?stdout=1&tail=x").status == 400
