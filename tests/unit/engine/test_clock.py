"""parse_rfc3339's fast path against strptime's: the same seconds for every timestamp
berth writes and for random ones, and the same error for what is not one."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from berth.engine import clock


def _by_strptime(s: str) -> float:
    """What parse_rfc3339 gave when every timestamp went through strptime."""
    orig = clock._fields
    clock._fields = lambda main: None  # type: ignore[assignment]
    try:
        return clock.parse_rfc3339(s)
    finally:
        clock._fields = orig  # type: ignore[assignment]


def _random_stamp(rng: random.Random) -> str:
    t = rng.uniform(0, 4e9)
    base = datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    tail = rng.choice(["Z", f".{rng.randint(0, 10**9 - 1):09d}Z", "+02:00", ".5-07:30", ""])
    return base + tail


def test_every_form_reads_as_strptime_reads_it() -> None:
    rng = random.Random(3339)
    stamps = [clock.rfc3339nano(), clock.ZERO_TIME, "2026-02-28T23:59:59Z", "1970-01-01T00:00:00Z"]
    stamps += [_random_stamp(rng) for _ in range(2000)]
    for s in stamps:
        assert clock.parse_rfc3339(s) == _by_strptime(s), s


def _outcome(parse: object, s: str) -> object:
    try:
        return parse(s)  # type: ignore[operator]
    except ValueError as e:
        return f"ValueError: {e}"


@pytest.mark.parametrize(
    "odd",
    ["2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z", "2026-1-01T00:00:00Z", "2026-01-01 00:00:00Z",
     "２０２６-01-01T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T00:00:61Z", "garbage",
     "2026-01-01T00:00", "2026-01-01T00:00:00+0x:00"],
)  # fmt: skip
def test_what_is_not_a_plain_timestamp_reads_or_fails_as_before(odd: str) -> None:
    assert _outcome(clock.parse_rfc3339, odd) == _outcome(_by_strptime, odd)
