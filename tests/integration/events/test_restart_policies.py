"""Restart policies on a real berthd: dockerd's back-off, stop and kill calling off a
restart, RestartCount, and the policies honoured when berthd starts again."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import Daemon
from tests.integration.events.streams import EventStream, actions
from tests.waiting import holds

pytestmark = pytest.mark.integration


def _run(d: Daemon, name: str, cmd: list[str], policy: str, retries: int = 0) -> str:
    hc = {"RestartPolicy": {"Name": policy, "MaximumRetryCount": retries}}
    st, body = d.api.call(
        "POST",
        f"/containers/create?name={name}",
        {"Image": "busybox", "Cmd": cmd, "HostConfig": hc},
    )
    assert st == 201, body
    assert d.api.call("POST", f"/containers/{name}/start")[0] == 204
    return body["Id"]  # type: ignore[no-any-return]


def _inspect(d: Daemon, name: str) -> dict[str, Any]:
    st, body = d.api.call("GET", f"/containers/{name}/json")
    assert st == 200, body
    return body  # type: ignore[no-any-return]


def _wait_for(cond: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


@pytest.fixture
def d(daemon: Daemon):  # type: ignore[no-untyped-def]
    yield daemon
    daemon.remove_all_containers()


def test_on_failure_retries_up_to_its_limit_with_backoff(d: Daemon) -> None:
    since = time.time()
    cid = _run(d, "rp-fail", ["sh", "-c", "exit 4"], "on-failure", 2)
    _wait_for(lambda: _inspect(d, "rp-fail")["RestartCount"] == 2)
    _wait_for(lambda: _inspect(d, "rp-fail")["State"]["Status"] == "exited")
    holds(lambda: _inspect(d, "rp-fail")["RestartCount"] == 2, 0.5, "no third restart comes")
    info = _inspect(d, "rp-fail")
    assert info["RestartCount"] == 2 and info["State"]["ExitCode"] == 4
    with EventStream(d.sock, f"?since={since:.9f}&until={time.time():.9f}") as s:
        got = [e for e in s.rest() if e["Actor"]["ID"] == cid]
    assert actions(got) == ["create", "start", "die", "start", "die", "start", "die"]
    starts = [e["timeNano"] / 1e9 for e in got if e["Action"] == "start"]
    dies = [e["timeNano"] / 1e9 for e in got if e["Action"] == "die"]
    # 100 ms, then 200 ms between an exit and the next start
    assert starts[1] - dies[0] >= 0.09 and starts[2] - dies[1] >= 0.19


def test_on_failure_does_not_restart_a_clean_exit(d: Daemon) -> None:
    _run(d, "rp-clean", ["true"], "on-failure")
    d.api.call("POST", "/containers/rp-clean/wait")
    holds(
        lambda: (
            (i := _inspect(d, "rp-clean"))["RestartCount"] == 0 and i["State"]["Status"] == "exited"
        ),
        0.4,
        "a clean exit is not restarted",
    )


def test_always_restarts_until_stopped_and_stop_ends_it(d: Daemon) -> None:
    _run(d, "rp-always", ["sh", "-c", "sleep 0.1"], "always")
    _wait_for(lambda: _inspect(d, "rp-always")["RestartCount"] >= 2)
    st, _ = d.api.call("POST", "/containers/rp-always/stop?t=1")
    assert st == 204
    info = _inspect(d, "rp-always")
    assert info["State"]["Status"] == "exited" and not info["State"]["Restarting"]
    count = info["RestartCount"]
    holds(
        lambda: (
            (i := _inspect(d, "rp-always"))["State"]["Status"] == "exited"
            and i["RestartCount"] == count
        ),
        1.0,
        "a stop ends the always policy",
    )
    # a start by the user begins afresh
    assert d.api.call("POST", "/containers/rp-always/start")[0] == 204
    assert _inspect(d, "rp-always")["RestartCount"] == 0


def test_restarting_state_shows_in_inspect_and_ps(d: Daemon) -> None:
    # long enough exits that a back-off is caught in progress
    _run(d, "rp-show", ["sh", "-c", "exit 2"], "always")
    seen: dict[str, Any] = {}

    def restarting() -> bool:
        info = _inspect(d, "rp-show")
        if info["State"]["Status"] == "restarting":
            seen.update(info)
            return True
        return False

    _wait_for(restarting)
    state = seen["State"]
    assert state["Restarting"] and state["Running"] and state["Pid"] == 0
    assert state["ExitCode"] == 2
    # kill during the back-off calls the restart off
    assert d.api.call("POST", "/containers/rp-show/kill")[0] in (204, 409)
    _wait_for(lambda: _inspect(d, "rp-show")["State"]["Status"] == "exited")
    count = _inspect(d, "rp-show")["RestartCount"]
    holds(lambda: _inspect(d, "rp-show")["RestartCount"] == count, 0.8, "kill calls it off")


def test_a_restarting_container_needs_force_to_be_removed(d: Daemon) -> None:
    _run(d, "rp-rm", ["sh", "-c", "exit 1"], "always")
    outcomes = set()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "restarting" not in outcomes:
        st, body = d.api.call("DELETE", "/containers/rp-rm")
        assert st == 409, body
        outcomes.add("restarting" if "container is restarting" in body["message"] else "running")
    assert "restarting" in outcomes
    assert d.api.call("DELETE", "/containers/rp-rm?force=1")[0] == 204
    assert d.api.call("GET", "/containers/rp-rm/json")[0] == 404


def test_policies_are_honoured_when_berthd_starts(fresh_daemon: Daemon) -> None:
    d = fresh_daemon
    for name, policy in (
        ("always-stopped", "always"),
        ("always-running", "always"),
        ("unless-running", "unless-stopped"),
        ("unless-stopped", "unless-stopped"),
        ("onfail", "on-failure"),
        ("plain", "no"),
    ):
        _run(d, name, ["sleep", "60"], policy)
    for name in ("always-stopped", "unless-stopped"):
        assert d.api.call("POST", f"/containers/{name}/stop?t=0")[0] == 204
    assert d.stop() == 0
    d.start()
    status = {n: _inspect(d, n)["State"]["Status"] for n in (
        "always-stopped", "always-running", "unless-running", "unless-stopped", "onfail", "plain"
    )}  # fmt: skip
    assert status == {
        "always-stopped": "running",  # always: even after `docker stop`, as dockerd does
        "always-running": "running",
        "unless-running": "running",
        "unless-stopped": "exited",
        "onfail": "exited",
        "plain": "exited",
    }
    # and they run for real
    pid = _inspect(d, "unless-running")["State"]["Pid"]
    assert pid > 0 and open(f"/proc/{pid}/cmdline", "rb").read().startswith(b"sleep")
