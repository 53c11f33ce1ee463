"""Reading a container's json-file log (dockerd's format) for `docker logs`."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from berth.constants import STDERR, STDOUT
from berth.engine.clock import parse_rfc3339

_POLL = 0.05
_BLOCK = 1 << 20


@dataclass
class LogOptions:
    stdout: bool = True
    stderr: bool = True
    follow: bool = False
    since: float = 0.0
    until: float = 0.0
    tail: int | None = None  # None: all
    timestamps: bool = False


def _tail_offset(f: os.PathLike[str] | str, n: int) -> int:
    """Byte offset where the last n lines start, reading backwards in blocks."""
    with open(f, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        end = fh.tell()
        if n <= 0:
            return end
        pos = end
        count = 0
        # A complete file ends with "\n": that one is not a line start.
        skip_last = True
        while pos > 0:
            step = min(_BLOCK, pos)
            pos -= step
            fh.seek(pos)
            block = fh.read(step)
            i = len(block)
            while True:
                i = block.rfind(b"\n", 0, i)
                if i < 0:
                    break
                if skip_last and pos + i == end - 1:
                    skip_last = False
                    continue
                count += 1
                if count == n:
                    return pos + i + 1
        return 0


async def read_logs(
    path: str, opts: LogOptions, running: Callable[[], bool]
) -> AsyncIterator[tuple[int, bytes]]:
    """Yield (stream id, bytes) for each log entry that passes the options; with
    follow, keep going until the container stops and the file is drained."""
    if not path or not os.path.exists(path):
        return
    offset = _tail_offset(path, opts.tail) if opts.tail is not None else 0
    buf = b""
    with open(path, "rb") as fh:
        fh.seek(offset)
        while True:
            chunk = fh.read(_BLOCK)
            if chunk:
                buf += chunk
                lines = buf.split(b"\n")
                buf = lines.pop()
                for line in lines:
                    item = _parse(line, opts)
                    if item is None:
                        continue
                    if item is _STOP:
                        return
                    yield item  # type: ignore[misc]
                continue
            if not opts.follow:
                return
            if not running():
                # One more read: the shim may have flushed its last lines as it exited.
                if fh.read(1) == b"":
                    return
                fh.seek(-1, os.SEEK_CUR)
                continue
            await asyncio.sleep(_POLL)


_STOP = object()


def _parse(line: bytes, opts: LogOptions) -> object:
    if not line:
        return None
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    stream = STDERR if entry.get("stream") == "stderr" else STDOUT
    if (stream == STDOUT and not opts.stdout) or (stream == STDERR and not opts.stderr):
        return None
    ts = entry.get("time", "")
    if opts.since or opts.until:
        t = parse_rfc3339(ts)
        if opts.since and t < opts.since:
            return None
        if opts.until and t > opts.until:
            return _STOP
    data = entry.get("log", "").encode("utf-8", "surrogateescape")
    if opts.timestamps:
        data = ts.encode() + b" " + data
    return (stream, data)
