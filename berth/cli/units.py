"""Human-readable sizes, durations and times, the way docker's go-units prints them."""

from __future__ import annotations

import re
import time

from berth.humanize import human_duration  # noqa: F401 - part of this module's API

_DECIMAL = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]
_RAM_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
_RAM_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?$", re.IGNORECASE)
_DUR_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DUR_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def human_size(size: float, precision: int = 4) -> str:
    """go-units HumanSizeWithPrecision: decimal units, %.{precision}g ("2.1MB", "4.26MB")."""
    i = 0
    while size >= 1000.0 and i < len(_DECIMAL) - 1:
        size /= 1000.0
        i += 1
    return f"{size:.{precision}g}{_DECIMAL[i]}"


def ram_in_bytes(text: str) -> int:
    """go-units RAMInBytes: "512m", "1g", "100kb", "1024" (binary multiples)."""
    m = _RAM_RE.match(text.strip())
    if not m:
        raise ValueError(f"invalid size: '{text}'")
    return int(float(m.group(1)) * _RAM_UNITS[m.group(2).lower()])


def since(ts: float, now: float | None = None) -> str:
    """A unix timestamp as "3 minutes ago"."""
    now = time.time() if now is None else now
    return human_duration(max(0.0, now - ts)) + " ago"


def go_time(ts: float) -> str:
    """A unix timestamp as Go's time.Time.String() in local time: "2024-01-02 15:04:05 +0000 UTC"."""
    lt = time.localtime(ts)
    return time.strftime("%Y-%m-%d %H:%M:%S %z ", lt) + (lt.tm_zone or "")


def parse_go_duration(text: str) -> float | None:
    """Seconds in a Go duration ("1h30m", "10s", "1.5h"), or None if text is not one."""
    if not text:
        return None
    sign = -1.0 if text[0] == "-" else 1.0
    body = text.lstrip("+-")
    if body == "0":
        return 0.0
    pos = 0
    total = 0.0
    for m in _DUR_RE.finditer(body):
        if m.start() != pos:
            return None
        total += float(m.group(1)) * _DUR_UNITS[m.group(2)]
        pos = m.end()
    if pos != len(body) or pos == 0:
        return None
    return sign * total


def timestamp_arg(value: str, now: float | None = None) -> str:
    """docker's timetypes.GetTimestamp: a duration ("10m" = that long ago), an RFC 3339 /
    ISO date-time, or unix seconds; returned as "seconds.nanoseconds" for the API."""
    value = value.strip()
    if re.fullmatch(r"\d+(\.\d{1,9})?", value):
        return value
    now = time.time() if now is None else now
    dur = parse_go_duration(value)
    if dur is not None:
        return _fmt_ts(now - dur)
    from datetime import datetime

    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"invalid value for timestamp: {value!r}") from None
    return _fmt_ts(dt.timestamp())  # naive values are local time, as docker reads them


def _fmt_ts(ts: float) -> str:
    sec = int(ts // 1)
    nsec = int(round((ts - sec) * 1e9))
    if nsec >= 1_000_000_000:
        sec, nsec = sec + 1, nsec - 1_000_000_000
    return f"{sec}.{nsec:09d}"
