"""json-file container logs, byte-compatible with dockerd's json-file driver.

One entry per line: ``{"log":"hello\\n","stream":"stdout","time":"<RFC3339Nano>"}``. The string
escaping copies moby's ``jsonlog`` marshaller (not Go's encoding/json): ``<``, ``>``, ``&`` and control
characters other than ``\\n``/``\\r`` become ``\\u00XX``, U+2028/U+2029 are escaped, every byte of
invalid UTF-8 becomes ``\\ufffd``, other non-ASCII text is written raw. The time is Go's
``time.RFC3339Nano`` in UTC, which drops trailing zeros of the fraction.

The shim writes with `JsonFileWriter`; the engine reads with `read_entries` / `LogReader` (the
reader also supports ``docker logs --follow`` through `LogReader.new_entries`).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

# dockerd's copier cuts lines at its 16 KiB buffer; a longer line becomes several entries.
MAX_ENTRY = 16 * 1024
_READ_BLOCK = 64 * 1024

_HEX = "0123456789abcdef"
_ESCAPES: dict[str, str] = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r"}
for _c in range(0x20):
    _ESCAPES.setdefault(chr(_c), "\\u00" + _HEX[_c >> 4] + _HEX[_c & 0xF])
for _ch in "<>&":
    _ESCAPES[_ch] = "\\u00" + _HEX[ord(_ch) >> 4] + _HEX[ord(_ch) & 0xF]
_ESCAPES["\u2028"] = "\\u2028"
_ESCAPES["\u2029"] = "\\u2029"
# surrogateescape turns each undecodable byte into U+DC80..U+DCFF: one \ufffd per byte, as Go does.
for _b in range(0x80, 0x100):
    _ESCAPES[chr(0xDC00 + _b)] = "\\ufffd"
_NEEDS_ESCAPE = re.compile('[\x00-\x1f"\\\\<>&\u2028\u2029\udc80-\udcff]')


def _escape_match(m: re.Match[str]) -> str:
    return _ESCAPES[m.group()]


def escape_log(data: bytes) -> str:
    """The JSON string body (without quotes) dockerd writes for these log bytes."""
    return _NEEDS_ESCAPE.sub(_escape_match, data.decode("utf-8", "surrogateescape"))


def format_time(ns: int) -> str:
    """Unix nanoseconds as Go's time.RFC3339Nano in UTC (fraction without trailing zeros)."""
    secs, frac = divmod(ns, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    if frac:
        return base + "." + f"{frac:09d}".rstrip("0") + "Z"
    return base + "Z"


def format_time_fixed(ns: int) -> str:
    """Unix nanoseconds as moby's RFC3339NanoFixed (always 9 digits), as `docker logs -t` prints."""
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


def _days_from_civil(y: int, m: int, d: int) -> int:
    # Howard Hinnant's algorithm: avoids importing calendar/datetime on the log read path.
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def parse_time_ns(s: str) -> int:
    """Unix nanoseconds of an RFC3339 / RFC3339Nano time ("Z" or "+hh:mm" offset).

    Raises ValueError on a malformed string."""
    if len(s) < 20 or s[4] != "-" or s[7] != "-" or s[10] != "T" or s[13] != ":" or s[16] != ":":
        raise ValueError(f"bad RFC3339 time: {s!r}")
    secs = (
        _days_from_civil(int(s[0:4]), int(s[5:7]), int(s[8:10])) * 86400
        + int(s[11:13]) * 3600
        + int(s[14:16]) * 60
        + int(s[17:19])
    )
    i = 19
    frac = 0
    if s[i] == ".":
        j = i + 1
        while j < len(s) and s[j].isdigit():
            j += 1
        digits = s[i + 1 : j]
        if not digits:
            raise ValueError(f"bad RFC3339 time: {s!r}")
        frac = int(digits[:9].ljust(9, "0"))
        i = j
    zone = s[i:]
    if zone in ("Z", "z"):
        offset = 0
    elif len(zone) == 6 and zone[0] in "+-" and zone[3] == ":":
        offset = (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60) * (1 if zone[0] == "+" else -1)
    else:
        raise ValueError(f"bad RFC3339 time: {s!r}")
    return (secs - offset) * 1_000_000_000 + frac


def encode_entry(stream: str, data: bytes, time_str: str) -> bytes:
    """One json-file line (with its newline) exactly as dockerd writes it."""
    return (
        '{"log":"' + escape_log(data) + '","stream":"' + stream + '","time":"' + time_str + '"}\n'
    ).encode()


@dataclass
class LogEntry:
    stream: str  # "stdout" | "stderr"
    data: bytes
    time: str  # as stored: RFC3339Nano
    ts: float  # unix seconds


def decode_entry(line: bytes) -> LogEntry:
    """Parse one json-file line. Raises ValueError on a line that is not a log entry."""
    obj = json.loads(line)
    if not isinstance(obj, dict) or not isinstance(obj.get("time"), str):
        raise ValueError("not a json-file log entry")
    t = obj["time"]
    ns = parse_time_ns(t)
    return LogEntry(
        stream=str(obj.get("stream", "stdout")),
        data=str(obj.get("log", "")).encode("utf-8", "replace"),
        time=t,
        ts=ns / 1e9,
    )


class JsonFileWriter:
    """Appends container output to a json-file log, one entry per line.

    Bytes are split at newlines; a trailing partial line is held until its newline arrives, the
    stream ends (`end_stream`) or it reaches `MAX_ENTRY` bytes. Write errors (disk full, file
    removed with the container) never raise: logging must not stop the container's output.

    With `max_size` > 0 the file rotates as dockerd's does: before an entry is written to a file
    already `max_size` bytes or more, path.N-2 moves to path.N-1, ..., path to path.1 (N is
    `max_file`) and a new file starts; with `max_file` 1 the file is truncated instead."""

    def __init__(
        self,
        path: str,
        *,
        clock: Callable[[], int] = time.time_ns,
        max_size: int = -1,
        max_file: int = 1,
    ) -> None:
        self.path = path
        self._clock = clock
        self.max_size = max_size
        self.max_file = max(1, max_file)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self._size = os.fstat(self._fd).st_size if max_size > 0 else 0
        self._partial: dict[str, bytes] = {}
        self._last_sec = -1
        self._sec_prefix = ""
        self.errors = 0

    def _now(self) -> str:
        ns = self._clock()
        secs, frac = divmod(ns, 1_000_000_000)
        if secs != self._last_sec:
            # strftime per entry costs more than the rest of the encoding: cache it per second.
            self._last_sec = secs
            self._sec_prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
        if frac:
            return self._sec_prefix + "." + f"{frac:09d}".rstrip("0") + "Z"
        return self._sec_prefix + "Z"

    def write(self, stream: str, data: bytes) -> None:
        """Log a chunk of output read from `stream` ("stdout" or "stderr")."""
        held = self._partial.pop(stream, b"")
        if held:
            data = held + data
        out: list[bytes] = []
        ts = ""
        start = 0
        n = len(data)
        while start < n:
            nl = data.find(b"\n", start)
            if nl < 0:
                break
            ts = ts or self._now()
            end = nl + 1
            while end - start > MAX_ENTRY:
                out.append(encode_entry(stream, data[start : start + MAX_ENTRY], ts))
                start += MAX_ENTRY
            out.append(encode_entry(stream, data[start:end], ts))
            start = end
        while n - start >= MAX_ENTRY:
            ts = ts or self._now()
            out.append(encode_entry(stream, data[start : start + MAX_ENTRY], ts))
            start += MAX_ENTRY
        if start < n:
            self._partial[stream] = data[start:]
        if out:
            if self.max_size > 0:
                for entry in out:  # rotation happens between entries, never inside one
                    self._append(entry)
            else:
                self._append(b"".join(out))

    def end_stream(self, stream: str) -> None:
        """The stream reached EOF: its held partial line becomes an entry of its own."""
        held = self._partial.pop(stream, b"")
        if held:
            self._append(encode_entry(stream, held, self._now()))

    def _append(self, blob: bytes) -> None:
        if self._fd < 0:
            return
        if self.max_size > 0:
            if self._size >= self.max_size:
                self._rotate()
                if self._fd < 0:
                    return
            self._size += len(blob)
        try:
            view = memoryview(blob)
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError:
            self.errors += 1

    def _rotate(self) -> None:
        try:
            os.close(self._fd)
            self._fd = -1
            if self.max_file > 1:
                for i in range(self.max_file - 1, 1, -1):
                    try:
                        os.rename(f"{self.path}.{i - 1}", f"{self.path}.{i}")
                    except FileNotFoundError:
                        pass
                os.rename(self.path, self.path + ".1")
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
            self._fd = os.open(self.path, flags, 0o640)
            self._size = 0
        except OSError:
            self.errors += 1

    def close(self) -> None:
        """Flush held partial lines and close the file."""
        for stream in list(self._partial):
            self.end_stream(stream)
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _tail_start(fd: int, end: int, n: int) -> int:
    """Offset where the last `n` complete lines before `end` (a line boundary) begin."""
    if n <= 0:
        return end
    pos = end - 1  # the byte at end-1 is the newline of the last line: not a separator
    found = 0
    while pos > 0:
        lo = max(0, pos - _READ_BLOCK)
        block = os.pread(fd, pos - lo, lo)
        i = len(block)
        while True:
            i = block.rfind(b"\n", 0, i)
            if i < 0:
                break
            found += 1
            if found == n:
                return lo + i + 1
        pos = lo
    return 0


class LogReader:
    """Reads a json-file log; remembers the offset after the last complete line it consumed."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.offset = 0

    def _complete_end(self, fd: int, size: int) -> int:
        # A writer may be mid-line: only read up to the last newline.
        pos = size
        while pos > self.offset:
            lo = max(self.offset, pos - _READ_BLOCK)
            block = os.pread(fd, pos - lo, lo)
            i = block.rfind(b"\n")
            if i >= 0:
                return lo + i + 1
            pos = lo
        return self.offset

    def entries(
        self, *, since: float | None = None, until: float | None = None, tail: int | None = None
    ) -> Iterator[LogEntry]:
        """Entries of the whole file (or its last `tail` lines), then filtered like dockerd:
        ts >= since and ts <= until. Lines that do not parse are skipped."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return
        try:
            size = os.fstat(fd).st_size
            self.offset = 0
            end = self._complete_end(fd, size)
            start = _tail_start(fd, end, tail) if tail is not None and tail >= 0 else 0
            yield from self._scan(fd, start, end, since, until)
        finally:
            os.close(fd)

    def new_entries(self, *, until: float | None = None) -> list[LogEntry]:
        """Complete entries appended since the last read (for follow mode)."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return []
        try:
            size = os.fstat(fd).st_size
            if size < self.offset:  # truncated or replaced
                self.offset = 0
            end = self._complete_end(fd, size)
            return list(self._scan(fd, self.offset, end, None, until))
        finally:
            os.close(fd)

    def _scan(
        self, fd: int, start: int, end: int, since: float | None, until: float | None
    ) -> Iterator[LogEntry]:
        pos = start
        rest = b""
        while pos < end:
            block = os.pread(fd, min(_READ_BLOCK, end - pos), pos)
            if not block:
                break
            pos += len(block)
            lines = (rest + block).split(b"\n")
            rest = lines.pop()
            consumed = pos - len(rest)
            for line in lines:
                if not line:
                    continue
                try:
                    entry = decode_entry(line)
                except (ValueError, TypeError):
                    continue
                if since is not None and entry.ts < since:
                    continue
                if until is not None and entry.ts > until:
                    self.offset = end
                    return
                yield entry
            self.offset = consumed
        self.offset = end


def read_entries(
    path: str, *, since: float | None = None, until: float | None = None, tail: int | None = None
) -> Iterator[LogEntry]:
    """Entries of a json-file log: the last `tail` lines (None: all), then ts in [since, until]."""
    return LogReader(path).entries(since=since, until=until, tail=tail)
