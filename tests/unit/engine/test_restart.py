"""Restart policies: dockerd's decision rules and back-off, without containers."""

from __future__ import annotations

import asyncio

import pytest

from berth.engine.containers import restart as rs
from berth.engine.containers.model import RestartPolicy


def test_backoff_doubles_from_100ms_and_caps_at_a_minute() -> None:
    b = rs.Backoff()
    delays = [b.next(0.0) for _ in range(12)]
    assert delays[:5] == [0.1, 0.2, 0.4, 0.8, 1.6]
    assert max(delays) == 60.0 and delays[-1] == 60.0


def test_backoff_resets_after_a_run_of_10_seconds() -> None:
    b = rs.Backoff()
    for _ in range(4):
        b.next(1.0)
    assert b.delay == 0.8
    assert b.next(9.9) == 1.6
    assert b.next(10.0) == 0.1
    assert b.next(0.5) == 0.2


@pytest.mark.parametrize(
    ("name", "limit", "code", "manual", "count", "want"),
    [
        ("no", 0, 1, False, 0, False),
        ("", 0, 1, False, 0, False),
        ("always", 0, 0, False, 0, True),
        ("always", 0, 0, True, 0, True),
        ("unless-stopped", 0, 0, False, 0, True),
        ("unless-stopped", 0, 1, True, 0, False),
        ("on-failure", 0, 0, False, 0, False),
        ("on-failure", 0, 1, False, 99, True),  # 0: no limit
        ("on-failure", 2, 1, False, 1, True),
        ("on-failure", 2, 1, False, 2, False),
        ("on-failure", 2, 137, True, 0, True),
    ],
)
def test_should_restart(
    name: str, limit: int, code: int, manual: bool, count: int, want: bool
) -> None:
    assert rs.should_restart(RestartPolicy(name, limit), code, manual, count) is want


def test_starts_with_daemon() -> None:
    assert rs.starts_with_daemon(RestartPolicy("always"), True)
    assert rs.starts_with_daemon(RestartPolicy("unless-stopped"), False)
    assert not rs.starts_with_daemon(RestartPolicy("unless-stopped"), True)
    assert not rs.starts_with_daemon(RestartPolicy("on-failure", 3), False)
    assert not rs.starts_with_daemon(RestartPolicy("no"), False)


def test_manager_decides_with_backoff_and_cancel() -> None:
    m = rs.RestartManager()
    always = RestartPolicy("always")
    assert m.decide("c", always, 0, False, 0, 0.0) == 0.1
    assert m.decide("c", always, 0, False, 1, 0.0) == 0.2
    assert m.decide("c", RestartPolicy("no"), 0, False, 0, 0.0) is None
    m.cancel("c")  # `docker stop`: the next exit is final
    assert m.decide("c", always, 0, False, 2, 0.0) is None
    m.reset("c")  # a start by the user begins afresh
    assert m.decide("c", always, 0, False, 0, 0.0) == 0.1


def test_manager_runs_pending_restart_and_cancel_drops_it() -> None:
    async def main() -> None:
        m = rs.RestartManager()
        ran: list[str] = []

        async def start(cid: str) -> None:
            ran.append(cid)

        m.schedule("a", 0.05, lambda: start("a"))
        m.schedule("b", 0.05, lambda: start("b"))
        assert m.pending("a") and sorted(m.pending_ids()) == ["a", "b"]
        assert m.cancel("b") is True
        await asyncio.sleep(0.2)
        assert ran == ["a"] and not m.pending("a")
        m.schedule("c", 5, lambda: start("c"))
        await m.close()
        assert ran == ["a"] and m.decide("a", RestartPolicy("always"), 0, False, 0, 0) is None

    asyncio.run(main())


def test_a_failing_restart_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        m = rs.RestartManager()

        async def boom() -> None:
            raise RuntimeError("no shim")

        m.schedule("x", 0, boom)
        await asyncio.sleep(0.05)
        assert not m.pending("x")

    asyncio.run(main())
    assert "restarting container x" in caplog.text
