"""Timestamps in the forms Docker uses."""

from __future__ import annotations

import time
from datetime import UTC, datetime

ZERO_TIME = "0001-01-01T00:00:00Z"


def rfc3339nano(t: float | None = None) -> str:
    """RFC3339 with nanoseconds in UTC, as Go formats time.Time (e.g. 2026-11-28T07:35:30.123456789Z)."""
    # A float only holds microseconds faithfully at this magnitude.
    ns = time.time_ns() if t is None else round(t * 1_000_000) * 1000
    sec, frac = divmod(ns, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    return f"{base}.{frac:09d}Z"


def parse_rfc3339(s: str) -> float:
    """Seconds since the epoch for an RFC3339(Nano) string; 0 for Go's zero time."""
    if not s or s.startswith("0001-01-01"):
        return 0.0
    main, _, rest = s.partition(".")
    frac = 0.0
    tz = "Z"
    if rest:
        digits = ""
        for i, ch in enumerate(rest):
            if ch.isdigit():
                digits += ch
            else:
                tz = rest[i:]
                break
        frac = float("0." + digits) if digits else 0.0
    elif main.endswith("Z"):
        main = main[:-1]
    elif len(main) > 19:
        tz = main[19:]
        main = main[:19]
    dt = _fields(main[:19]) or datetime.strptime(main[:19], "%Y-%m-%dT%H:%M:%S")
    if tz in ("Z", ""):
        dt = dt.replace(tzinfo=UTC)
    else:
        dt = datetime.fromisoformat(main[:19] + tz)
    return dt.timestamp() + frac


def _fields(main: str) -> datetime | None:
    """MAIN ("2026-12-03T10:00:00") read without strptime, which takes ~10 us a call (a
    `docker ps` of 50 containers parses 100); None for anything else, left to strptime
    (which words the error)."""
    if len(main) != 19 or main[4] != "-" or main[7] != "-" or main[10] != "T":
        return None
    if main[13] != ":" or main[16] != ":":
        return None
    parts = (main[0:4], main[5:7], main[8:10], main[11:13], main[14:16], main[17:19])
    if not all(f.isascii() and f.isdigit() for f in parts):
        return None
    y, mo, d, h, mi, sec = (int(f) for f in parts)
    try:
        return datetime(y, mo, d, h, mi, sec)
    except ValueError:  # out of range
        return None


def parse_timestamp(value: str) -> float:
    """A `since`/`until` query value: unix seconds (with fraction) or RFC3339."""
    try:
        return float(value)
    except ValueError:
        return parse_rfc3339(value)
