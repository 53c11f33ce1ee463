"""Reading a container's json-file log (dockerd's format) for `docker logs`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from typing import BinaryIO, cast

from berth.constants import STDERR, STDOUT
from berth.engine.clock import parse_rfc3339
from berth.stdcopy import frame

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


def rotated_files(path: str) -> list[str]:
    """The rotated files of a log (path.1, path.2, ... as dockerd names them), oldest first."""
    out = []
    i = 1
    while os.path.exists(f"{path}.{i}"):
        out.append(f"{path}.{i}")
        i += 1
    out.reverse()
    return out


def _count_lines(path: str) -> int:
    n = 0
    with open(path, "rb") as fh:
        while block := fh.read(_BLOCK):
            n += block.count(b"\n")
    return n


def _start_points(files: list[str], tail: int | None) -> list[tuple[str, int]]:
    """(file, offset) to read, oldest first, so that only the last `tail` lines come out."""
    if tail is None:
        return [(f, 0) for f in files]
    if tail <= 0:
        return [(files[-1], os.path.getsize(files[-1]))] if files else []
    out: list[tuple[str, int]] = []
    remaining = tail
    for f in reversed(files):
        try:
            n = _count_lines(f)
            if n >= remaining:
                out.append((f, _tail_offset(f, remaining)))
                break
        except FileNotFoundError:
            continue
        out.append((f, 0))
        remaining -= n
    out.reverse()
    return out


async def _line_blocks(
    path: str, opts: LogOptions, running: Callable[[], bool]
) -> AsyncGenerator[bytes, None]:
    """The log's bytes in blocks of whole lines, from the entries the tail option selects,
    across the rotated files too; with follow, keep going (through rotations) until the
    container stops and the file is drained."""
    if not path:
        return
    files = rotated_files(path)
    if os.path.exists(path):
        files.append(path)
    if not files:
        # a follower that came before the shim's first write waits for the file, so
        # that a stream opened right after the start gets the first lines too
        while opts.follow and not os.path.exists(path):
            if not running():
                if not os.path.exists(path):
                    return
                break
            await asyncio.sleep(_POLL)
        if not os.path.exists(path):
            return
        files = [path]
    points = _start_points(files, opts.tail)
    for name, offset in points:
        current = name == path
        try:
            fh = open(name, "rb")
        except FileNotFoundError:
            continue
        buf = b""
        try:
            fh.seek(offset)
            while True:
                chunk = fh.read(_BLOCK)
                if chunk:
                    buf += chunk
                    cut = buf.rfind(b"\n") + 1
                    if cut:
                        block, buf = buf[:cut], buf[cut:]
                        yield block
                    continue
                if not current or not opts.follow:
                    break
                if _replaced(path, fh):
                    # rotated (or truncated): what was left is read, go on with the new file
                    fh.close()
                    fh = open(path, "rb")
                    buf = b""
                    continue
                if not running():
                    # One more read: the shim may have flushed its last lines as it exited.
                    if fh.read(1) == b"":
                        return
                    fh.seek(-1, os.SEEK_CUR)
                    continue
                await asyncio.sleep(_POLL)
        finally:
            fh.close()


async def read_logs(
    path: str, opts: LogOptions, running: Callable[[], bool]
) -> AsyncIterator[tuple[int, bytes]]:
    """Yield (stream id, bytes) for each log entry that passes the options."""
    async with contextlib.aclosing(_line_blocks(path, opts, running)) as blocks:
        async for block in blocks:
            for line in block.split(b"\n"):
                item = _parse(line, opts)
                if item is None:
                    continue
                if item is _STOP:
                    return
                yield item  # type: ignore[misc]


# A whole block of plain entries of one stream (no escapes but the final newline, which is
# what line-oriented output mostly is) becomes its payload with a few C-level passes: the
# wrapper between two payloads is one separator, and a block whose backslashes are exactly
# its lines' final "\\n"s has no other escapes to decode.
_HEAD = b'{"log":"'
_NAMES = {STDOUT: b"stdout", STDERR: b"stderr"}
_SEP = {
    s: re.compile(rb'\\n","stream":"' + n + rb'","time":"[^"\n]*"\}\n\{"log":"')
    for s, n in _NAMES.items()
}
_LAST = {
    s: re.compile(rb'\\n","stream":"' + n + rb'","time":"[^"\n]*"\}\n\Z') for s, n in _NAMES.items()
}


try:  # the same in C (setup.py builds it where a compiler is): ~10x faster
    from berth.engine.containers._jsonlog import plain_payload as _c_plain
except ImportError:  # pragma: no cover - an install without the accelerator
    _c_plain = None


def _plain(block: bytes, stream: int) -> bytes | None:
    """The payload of a block of plain `stream` entries, or None if it is not one."""
    if _c_plain is not None:
        return _c_plain(block, _NAMES[stream])  # type: ignore[no-any-return]
    return _plain_py(block, stream)


def _plain_py(block: bytes, stream: int) -> bytes | None:
    """_plain with the re module (the reference the accelerator is tested against)."""
    lines = block.count(b"\n")
    if not block.startswith(_HEAD) or block.count(b"\\") != lines:
        return None
    last = _LAST[stream].search(block, max(0, len(block) - 256))
    if last is None:
        return None
    data, n = _SEP[stream].subn(b"\n", block[len(_HEAD) : last.start()])
    return data + b"\n" if n == lines - 1 else None


async def read_log_stream(
    path: str, opts: LogOptions, running: Callable[[], bool], *, raw: bool
) -> AsyncIterator[bytes]:
    """The log as `docker logs` sends it: raw bytes (a tty container) or stdcopy frames, in
    big chunks (one per block read). Consecutive entries of one stream share a frame, which
    a client demultiplexes to the same bytes."""
    fast = not (opts.timestamps or opts.since or opts.until)
    wanted = [s for s, on in ((STDOUT, opts.stdout), (STDERR, opts.stderr)) if on]
    async with contextlib.aclosing(_line_blocks(path, opts, running)) as blocks:
        async for block in blocks:
            if fast:
                plain = None
                for stream in wanted:
                    plain = _plain(block, stream)
                    if plain is not None:
                        yield plain if raw else frame(stream, plain)
                        break
                if plain is not None:
                    continue
            out = bytearray()
            run: list[bytes] = []
            run_stream = -1
            stop = False
            for line in block.split(b"\n"):
                item = _parse(line, opts)
                if item is None:
                    continue
                if item is _STOP:
                    stop = True
                    break
                stream, data = cast(tuple[int, bytes], item)
                if stream != run_stream and run:
                    out += _emit(run_stream, run, raw)
                    run = []
                run_stream = stream
                run.append(data)
            if run:
                out += _emit(run_stream, run, raw)
            if out:
                yield bytes(out)
            if stop:
                return


def _emit(stream: int, parts: list[bytes], raw: bool) -> bytes:
    data = b"".join(parts)
    return data if raw else frame(stream, data)


def _replaced(path: str, fh: BinaryIO) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False  # mid-rotation: the new file comes in a moment
    own = os.fstat(fh.fileno())
    return (st.st_dev, st.st_ino) != (own.st_dev, own.st_ino) or st.st_size < fh.tell()


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


async def until_gone(
    chunks: AsyncIterator[bytes], gone: Callable[[], bool], poll: float = _POLL
) -> AsyncIterator[bytes]:
    """`chunks` until the client hangs up: a follower of a quiet container would otherwise
    wait, holding its task and log file, for output it could never send. `gone` is asked
    between chunks and every `poll` seconds while the next one is awaited; the source is
    closed in every case (its files too)."""
    it = aiter(chunks)
    try:
        while True:
            nxt: asyncio.Future[bytes] = asyncio.ensure_future(anext(it))
            try:
                while not nxt.done():
                    await asyncio.wait((nxt,), timeout=poll)
                    if not nxt.done() and gone():
                        nxt.cancel()
                        with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                            await nxt
                        return
            except asyncio.CancelledError:
                nxt.cancel()
                with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                    await nxt
                raise
            try:
                chunk = nxt.result()
            except StopAsyncIteration:
                return
            yield chunk
            if gone():
                return
    finally:
        aclose = getattr(it, "aclose", None)
        if aclose is not None:
            await aclose()
