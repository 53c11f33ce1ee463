import asyncio
import json
from pathlib import Path

from berth.engine.clock import parse_rfc3339, rfc3339nano
from berth.engine.containers.logs import LogOptions, read_logs


def write_log(path: Path, entries: list[tuple[str, str, str]]) -> None:
    with open(path, "w") as f:
        for stream, text, ts in entries:
            f.write(json.dumps({"log": text, "stream": stream, "time": ts}) + "\n")


def collect(path: Path, **kw) -> list[tuple[int, bytes]]:
    async def go() -> list[tuple[int, bytes]]:
        return [x async for x in read_logs(str(path), LogOptions(**kw), lambda: False)]

    return asyncio.run(go())


def test_streams_tail_since_timestamps(tmp_path: Path) -> None:
    p = tmp_path / "c-json.log"
    write_log(
        p,
        [
            ("stdout", "one\n", "2026-01-01T00:00:01.000000001Z"),
            ("stderr", "two\n", "2026-01-01T00:00:02.5Z"),
            ("stdout", "three\n", "2026-01-01T00:00:03Z"),
        ],
    )
    assert collect(p) == [(1, b"one\n"), (2, b"two\n"), (1, b"three\n")]
    assert collect(p, stderr=False) == [(1, b"one\n"), (1, b"three\n")]
    assert collect(p, tail=2) == [(2, b"two\n"), (1, b"three\n")]
    assert collect(p, tail=0) == []
    since = parse_rfc3339("2026-01-01T00:00:02Z")
    assert collect(p, since=since) == [(2, b"two\n"), (1, b"three\n")]
    assert collect(p, until=since) == [(1, b"one\n")]
    assert collect(p, tail=1, timestamps=True) == [(1, b"2026-01-01T00:00:03Z three\n")]


def test_clock_roundtrip() -> None:
    ts = rfc3339nano(1767225601.25)
    assert ts == "2026-01-01T00:00:01.250000000Z"
    assert abs(parse_rfc3339(ts) - 1767225601.25) < 1e-6
    assert parse_rfc3339("0001-01-01T00:00:00Z") == 0.0
