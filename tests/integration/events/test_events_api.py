"""GET /events against a real berthd: live streaming, history, filters, and the
events every lifecycle action emits."""

from __future__ import annotations

import json
import time
import urllib.parse

import pytest

from tests.conftest import Daemon
from tests.integration.events.streams import EventStream, actions

pytestmark = pytest.mark.integration


def _wait_for_log(d: Daemon, name: str, text: bytes, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, _, body = d.api.raw("GET", f"/containers/{name}/logs?stdout=1")
        if text in body:
            return
        time.sleep(0.02)
    raise AssertionError(f"{name} never logged {text!r}")


def _create(d: Daemon, name: str, cmd: list[str], **extra: object) -> str:
    st, body = d.api.call(
        "POST", f"/containers/create?name={name}", {"Image": "busybox", "Cmd": cmd, **extra}
    )
    assert st == 201, body
    return body["Id"]  # type: ignore[no-any-return]


def _q(**params: object) -> str:
    return "?" + urllib.parse.urlencode(
        {k: json.dumps(v) if isinstance(v, dict) else v for k, v in params.items()}
    )


@pytest.fixture
def clean(daemon: Daemon):  # type: ignore[no-untyped-def]
    yield daemon
    daemon.remove_all_containers()


def test_live_stream_follows_a_container_life(clean: Daemon) -> None:
    d = clean
    with EventStream(d.sock, _q(filters={"container": ["ev-life"]})) as s:
        assert s.resp.status == 200
        assert s.resp.getheader("Content-Type") == "application/json"
        cid = _create(d, "ev-life", ["sh", "-c", "exit 3"], Labels={"tier": "db"})
        assert d.api.call("POST", "/containers/ev-life/start")[0] == 204
        assert d.api.call("POST", "/containers/ev-life/wait")[1]["StatusCode"] == 3
        assert d.api.call("POST", "/containers/ev-life/rename?name=ev-life2")[0] == 204
        assert d.api.call("DELETE", "/containers/ev-life2")[0] == 204
        got = s.until(lambda e: e["Action"] == "destroy")
    assert actions(got) == ["create", "start", "die", "rename", "destroy"]
    die = got[2]
    assert die["Type"] == "container" and die["status"] == "die" and die["id"] == cid
    assert die["from"] == "busybox" and die["scope"] == "local"
    assert die["Actor"]["ID"] == cid
    attrs = die["Actor"]["Attributes"]
    assert attrs["exitCode"] == "3" and attrs["name"] == "ev-life" and attrs["tier"] == "db"
    assert attrs["image"] == "busybox" and attrs["execDuration"] == "0"
    assert die["time"] == die["timeNano"] // 10**9
    assert abs(die["time"] - time.time()) < 60
    assert got[3]["Actor"]["Attributes"]["oldName"] == "/ev-life"
    assert got[3]["Actor"]["Attributes"]["name"] == "ev-life2"
    assert [e["timeNano"] for e in got] == sorted(e["timeNano"] for e in got)


def test_stop_and_kill_events_carry_the_signal(clean: Daemon) -> None:
    d = clean
    _create(d, "ev-stop", ["sleep", "60"])
    assert d.api.call("POST", "/containers/ev-stop/start")[0] == 204
    since = time.time()
    # sleep as PID 1 ignores SIGTERM: stop escalates to SIGKILL after the timeout
    assert d.api.call("POST", "/containers/ev-stop/stop?t=1")[0] == 204
    with EventStream(d.sock, _q(since=f"{since:.9f}", until=f"{time.time():.9f}")) as s:
        got = s.rest()
    # dockerd logs the network cleanup (disconnect) between die and stop
    assert actions(got) == ["kill", "kill", "die", "disconnect", "stop"]
    assert [e["Actor"]["Attributes"].get("signal") for e in got[:2]] == ["15", "9"]
    assert got[2]["Actor"]["Attributes"]["exitCode"] == "137"

    assert d.api.call("POST", "/containers/ev-stop/start")[0] == 204
    since = time.time()
    assert d.api.call("POST", "/containers/ev-stop/kill?signal=USR1")[0] == 204
    assert d.api.call("DELETE", "/containers/ev-stop?force=1")[0] == 204
    with EventStream(d.sock, _q(since=f"{since:.9f}", until=f"{time.time():.9f}")) as s:
        got = s.rest()
    assert actions(got) == ["kill", "kill", "die", "disconnect", "destroy"]
    assert [e["Actor"]["Attributes"].get("signal") for e in got[:2]] == ["10", "9"]


def test_history_since_until_and_filters(clean: Daemon) -> None:
    d = clean
    t0 = time.time()
    a = _create(d, "ev-hist-a", ["true"], Labels={"app": "a"})
    b = _create(d, "ev-hist-b", ["true"], Labels={"app": "b"})
    for n in ("ev-hist-a", "ev-hist-b"):
        assert d.api.call("POST", f"/containers/{n}/start")[0] == 204
        d.api.call("POST", f"/containers/{n}/wait")
    t1 = time.time()
    window = {"since": f"{t0:.9f}", "until": f"{t1:.9f}"}

    def past(**flt: list[str]) -> list[dict]:
        with EventStream(d.sock, _q(**window, filters=flt)) as s:
            return s.rest()  # until is in the past: the stream ends by itself

    everything = past()
    assert actions(everything, a) == ["create", "start", "die"]
    assert actions(everything, b) == ["create", "start", "die"]
    assert {e["Actor"]["ID"] for e in past(container=["ev-hist-a"])} == {a}
    assert {e["Actor"]["ID"] for e in past(container=[a[:12]])} == {a}
    assert actions(past(event=["die"])) == ["die", "die"]
    assert {e["Actor"]["ID"] for e in past(label=["app=b"])} == {b}
    assert len(past(image=["busybox"])) == 6
    assert past(type=["image"]) == []
    assert past(event=["die"], label=["app=a"])[0]["Actor"]["ID"] == a
    # until alone: the whole history up to it, as dockerd does
    with EventStream(d.sock, _q(until=f"{t1:.9f}")) as s:
        upto = s.rest()
    assert actions(upto, a) == ["create", "start", "die"]
    assert all(e["timeNano"] <= t1 * 1e9 + 1000 for e in upto)


def test_until_in_the_future_ends_the_live_stream(clean: Daemon) -> None:
    d = clean
    start = time.monotonic()
    query = _q(until=f"{time.time() + 1:.9f}", filters={"container": ["ev-until"]})
    with EventStream(d.sock, query) as s:
        _create(d, "ev-until", ["true"])
        got = s.rest()
    assert 0.5 < time.monotonic() - start < 10
    assert actions(got) == ["create"]


@pytest.mark.parametrize(
    ("query", "text"),
    [
        (_q(filters={"colour": ["red"]}), "invalid filter 'colour'"),
        (_q(since="20", until="10"), "cannot be after `until` time"),
        (_q(since="yesterday"), "failed to parse"),
        ("?filters=%7Bbad", "invalid JSON"),
    ],
)
def test_bad_queries_are_400(daemon: Daemon, query: str, text: str) -> None:
    st, _, body = daemon.api.raw("GET", "/events" + query)
    assert st == 400
    assert text in json.loads(body)["message"]


def test_a_client_that_hangs_up_is_unsubscribed(daemon: Daemon) -> None:
    def listeners() -> int:
        return daemon.api.call("GET", "/info")[1]["NEventsListener"]  # type: ignore[no-any-return]

    base = listeners()
    streams = [EventStream(daemon.sock) for _ in range(3)]
    deadline = time.monotonic() + 5
    while listeners() < base + 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert listeners() == base + 3
    for s in streams:
        s.close()
    deadline = time.monotonic() + 5
    while listeners() > base and time.monotonic() < deadline:
        time.sleep(0.05)
    assert listeners() == base


def test_failed_start_emits_die_but_no_start(clean: Daemon) -> None:
    d = clean
    t0 = time.time()
    cid = _create(d, "ev-nostart", ["/no/such/binary"])
    st, _ = d.api.call("POST", "/containers/ev-nostart/start")
    assert st >= 400
    with EventStream(d.sock, _q(since=f"{t0:.9f}", until=f"{time.time():.9f}")) as s:
        got = actions(s.rest(), cid)
    assert got == ["create", "die"]


def test_restart_pause_and_unpause_events(clean: Daemon) -> None:
    d = clean
    cid = _create(
        d, "ev-pr", ["sh", "-c", "trap 'exit 0' TERM; echo ready; while true; do sleep 0.1; done"]
    )
    assert d.api.call("POST", "/containers/ev-pr/start")[0] == 204
    # Until the trap is set, PID 1 ignores SIGTERM and the stop would end in a SIGKILL.
    _wait_for_log(d, "ev-pr", b"ready")
    since = time.time()
    assert d.api.call("POST", "/containers/ev-pr/restart?t=5")[0] == 204
    assert d.api.call("POST", "/containers/ev-pr/pause")[0] == 204
    assert d.api.call("POST", "/containers/ev-pr/unpause")[0] == 204
    with EventStream(d.sock, _q(since=f"{since:.9f}", until=f"{time.time():.9f}")) as s:
        got = actions(s.rest(), cid)
    assert got == ["kill", "die", "stop", "start", "restart", "pause", "unpause"]
