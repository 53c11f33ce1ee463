"""The event bus: dockerd's message shape, its filter rules, history and subscribers."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from berth.engine import events as ev
from berth.engine.errors import InvalidParameter


def _c(name: str = "web", image: str = "busybox:latest", labels: dict | None = None):  # type: ignore[no-untyped-def]
    cfg = SimpleNamespace(image=image, labels=labels or {})
    return SimpleNamespace(id="ab" * 32, name=name, config=cfg)


def _event(action: str = "start", **kw: str) -> ev.Event:
    bus = ev.EventBus()
    return bus.container(_c(**kw), action)


def test_container_message_has_dockerds_fields_in_order() -> None:
    bus = ev.EventBus()
    e = bus.container(_c(labels={"z": "1"}), "die", {"exitCode": "3"})
    wire = e.to_wire()
    assert list(wire) == [
        "status", "id", "from", "Type", "Action", "Actor", "scope", "time", "timeNano"
    ]  # fmt: skip
    assert wire["status"] == "die" and wire["from"] == "busybox:latest"
    assert wire["Actor"] == {
        "ID": "ab" * 32,
        "Attributes": {"exitCode": "3", "image": "busybox:latest", "name": "web", "z": "1"},
    }
    assert wire["scope"] == "local"
    assert wire["time"] == wire["timeNano"] // 1_000_000_000


def test_image_message_has_no_from_and_other_types_no_legacy_fields() -> None:
    bus = ev.EventBus()
    assert "from" not in bus.image("sha256:1", "delete").to_wire()
    other = bus.publish("volume", "create", "v1", {"driver": "local"}).to_wire()
    assert "status" not in other and "id" not in other


def test_times_strictly_increase() -> None:
    bus = ev.EventBus()
    times = [bus.publish("daemon", "reload", "d", {}).time_nano for _ in range(50)]
    assert times == sorted(set(times))


@pytest.mark.parametrize(
    ("flt", "want"),
    [
        ({}, True),
        ({"type": ["container"]}, True),
        ({"type": ["image"]}, False),
        ({"event": ["start"]}, True),
        ({"event": ["star"]}, False),  # exact, not a prefix
        ({"event": ["stop", "start"]}, True),
        ({"container": ["web"]}, True),
        ({"container": ["we"]}, True),  # names and ids match by prefix
        ({"container": ["abab"]}, True),
        ({"container": ["other"]}, False),
        ({"image": ["busybox"]}, True),  # the tag stripped
        ({"image": ["busybox:latest"]}, True),
        ({"image": ["busy"]}, False),
        ({"label": ["app"]}, True),
        ({"label": ["app=db"]}, True),
        ({"label": ["app=web"]}, False),
        ({"label": ["app", "nope"]}, False),  # every label filter must hold
        ({"volume": ["v"]}, False),  # a kind filter keeps only that kind's actors
        ({"scope": ["swarm"]}, False),
        ({"type": ["container"], "event": ["start"], "container": ["web"]}, True),
    ],
)
def test_filter_rules(flt: dict, want: bool) -> None:
    assert ev.matches(flt, _event(labels={"app": "db"})) is want


def test_exec_events_match_by_prefix() -> None:
    bus = ev.EventBus()
    e = bus.container(_c(), "exec_start: sh -c true")
    assert ev.matches({"event": ["exec_start"]}, e)
    assert not ev.matches({"event": ["exec_start", "die"]}, bus.container(_c(), "start"))


def test_image_events_match_image_filter_by_id_and_name() -> None:
    bus = ev.EventBus()
    e = bus.image("sha256:abc", "untag", "busybox:latest")
    assert ev.matches({"image": ["sha256:abc"]}, e)
    assert ev.matches({"image": ["busybox"]}, e)
    assert not ev.matches({"container": ["busybox"]}, _event(name="web"))


def test_normalize_filters_accepts_both_forms_and_refuses_unknown_keys() -> None:
    assert ev.normalize_filters({"event": {"die": True, "start": False}}) == {"event": ["die"]}
    assert ev.normalize_filters({"type": ["container"]}) == {"type": ["container"]}
    with pytest.raises(InvalidParameter, match="invalid filter 'colour'"):
        ev.normalize_filters({"colour": ["red"]})
    with pytest.raises(InvalidParameter):
        ev.normalize_filters(["type"])


def test_parse_time_forms() -> None:
    assert ev.parse_time(None) is None and ev.parse_time("") is None
    assert ev.parse_time("0") == 0
    assert ev.parse_time("12") == 12 * 10**9
    assert ev.parse_time("12.5") == 12_500_000_000
    assert ev.parse_time("1700000000.000000001") == 1_700_000_000_000_000_001
    assert ev.parse_time("1970-01-01T00:00:10Z") == 10 * 10**9
    assert ev.parse_time("10m", now_ns=3600 * 10**9) == 3000 * 10**9
    assert ev.parse_time("1h30m", now_ns=2 * 3600 * 10**9) == 1800 * 10**9
    with pytest.raises(InvalidParameter):
        ev.parse_time("yesterday")


def test_history_needs_since_or_until_and_respects_both() -> None:
    bus = ev.EventBus()
    es = [bus.container(_c(), a) for a in ("create", "start", "die", "destroy")]
    assert bus.history({}, None, None) == []
    assert bus.history({}, 0, None) == es
    assert bus.history({}, es[1].time_nano, es[2].time_nano) == es[1:3]
    assert bus.history({"event": ["die"]}, 0, None) == [es[2]]


def test_history_is_bounded() -> None:
    bus = ev.EventBus(history=5)
    for i in range(20):
        bus.publish("daemon", f"a{i}", "d", {})
    assert [e.action for e in bus.history({}, 0, None)] == [f"a{i}" for i in range(15, 20)]


def test_subscribers_get_matching_events_and_slow_ones_are_dropped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def main() -> None:
        monkeypatch.setattr(ev, "QUEUE_LIMIT", 3)
        bus = ev.EventBus()
        dies = bus.subscribe({"event": ["die"]})
        everything = bus.subscribe({})
        assert bus.listeners == 2
        bus.container(_c(), "start")
        bus.container(_c(), "die")
        got = await asyncio.wait_for(dies.get(), 1)
        assert got is not None and got.action == "die"
        for _ in range(5):
            bus.container(_c(), "start")
        assert everything.dropped and bus.listeners == 1
        seen = []
        while (e := await asyncio.wait_for(everything.get(), 1)) is not None:
            seen.append(e.action)
        assert seen == ["start", "die", "start"]  # then the end-of-stream marker
        bus.unsubscribe(dies)
        assert bus.listeners == 0

    asyncio.run(main())
