"""json-file log format (byte-compatible with dockerd) and its reader."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest

from berth.runtime.logfile import (
    MAX_ENTRY,
    JsonFileWriter,
    LogReader,
    encode_entry,
    escape_log,
    format_time,
    format_time_fixed,
    parse_time_ns,
    read_entries,
)

T0 = 1795851330_123456789  # 2026-11-28T07:35:30.123456789Z


@pytest.fixture
def tmpdir_short() -> Iterator[str]:
    d = tempfile.mkdtemp(prefix="bt-", dir="/tmp")
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


class Clock:
    def __init__(self, ns: int = T0) -> None:
        self.ns = ns

    def __call__(self) -> int:
        return self.ns


def lines(path: str) -> list[bytes]:
    with open(path, "rb") as f:
        return f.read().splitlines(keepends=True)


def test_entry_is_byte_identical_to_dockerd() -> None:
    line = encode_entry("stdout", b"hello\n", "2026-11-28T07:35:30.123456789Z")
    assert line == (
        b'{"log":"hello\\n","stream":"stdout","time":"2026-11-28T07:35:30.123456789Z"}\n'
    )


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        (b'a"b\\c', 'a\\"b\\\\c'),
        (b"<a href='x'>&</a>", "\\u003ca href='x'\\u003e\\u0026\\u003c/a\\u003e"),
        (b"tab\there\r\n", "tab\\u0009here\\r\\n"),  # moby writes \t as \u0009, not \t
        (b"\x00\x1b[31m", "\\u0000\\u001b[31m"),
        ("héllo ✓".encode(), "héllo ✓"),  # valid non-ASCII stays raw
        ("a\u2028b\u2029".encode(), "a\\u2028b\\u2029"),
        (b"\xff\xfe", "\\ufffd\\ufffd"),  # one replacement per invalid byte
        (b"\xe2\x82x", "\\ufffd\\ufffdx"),  # truncated sequence: per byte too
        ("\ufffd".encode(), "\ufffd"),  # a real U+FFFD is written raw
    ],
)
def test_escaping_matches_moby(raw: bytes, escaped: str) -> None:
    assert escape_log(raw) == escaped


def test_escaped_entry_is_valid_json_with_the_text() -> None:
    data = 'x<y> & "q" \t é\n'.encode()
    obj = json.loads(encode_entry("stderr", data, "2026-01-01T00:00:00Z"))
    assert obj == {"log": data.decode(), "stream": "stderr", "time": "2026-01-01T00:00:00Z"}


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (T0, "2026-11-28T07:35:30.123456789Z"),
        (1795851330_120000000, "2026-11-28T07:35:30.12Z"),  # Go trims trailing zeros
        (1795851330_000000000, "2026-11-28T07:35:30Z"),
        (0, "1970-01-01T00:00:00Z"),
    ],
)
def test_format_time_is_go_rfc3339nano(ns: int, text: str) -> None:
    assert format_time(ns) == text
    assert parse_time_ns(text) == ns


def test_format_time_fixed_pads_nine_digits() -> None:
    assert format_time_fixed(1795851330_120000000) == "2026-11-28T07:35:30.120000000Z"


def test_parse_time_offsets_and_errors() -> None:
    assert parse_time_ns("2026-11-28T09:35:30.5+02:00") == 1795851330_500000000
    assert parse_time_ns("2026-11-28T05:35:30-02:00") == 1795851330_000000000
    for bad in ("", "2026-11-28", "2026-11-28T07:35:30", "2026-11-28T07:35:30.Z", "nope" * 6):
        with pytest.raises(ValueError):
            parse_time_ns(bad)


def test_writer_one_entry_per_line_and_holds_partial(tmpdir_short: str) -> None:
    path = os.path.join(tmpdir_short, "c.log")
    w = JsonFileWriter(path, clock=Clock())
    w.write("stdout", b"one\ntw")
    assert [json.loads(x)["log"] for x in lines(path)] == ["one\n"]
    w.write("stderr", b"E1\n")
    w.write("stdout", b"o\nthree")
    w.close()  # the trailing partial line becomes its own entry
    got = [(json.loads(x)["stream"], json.loads(x)["log"]) for x in lines(path)]
    assert got == [
        ("stdout", "one\n"),
        ("stderr", "E1\n"),
        ("stdout", "two\n"),
        ("stdout", "three"),
    ]
    assert lines(path)[0] == (
        b'{"log":"one\\n","stream":"stdout","time":"2026-11-28T07:35:30.123456789Z"}\n'
    )


def test_writer_end_stream_flushes_only_that_stream(tmpdir_short: str) -> None:
    path = os.path.join(tmpdir_short, "c.log")
    w = JsonFileWriter(path, clock=Clock())
    w.write("stdout", b"partial-out")
    w.write("stderr", b"partial-err")
    w.end_stream("stderr")
    assert [json.loads(x)["log"] for x in lines(path)] == ["partial-err"]
    w.close()
    assert [json.loads(x)["log"] for x in lines(path)] == ["partial-err", "partial-out"]


def test_writer_splits_long_lines_at_16k(tmpdir_short: str) -> None:
    path = os.path.join(tmpdir_short, "c.log")
    w = JsonFileWriter(path, clock=Clock())
    w.write("stdout", b"a" * (MAX_ENTRY + 10))  # no newline yet: the first 16 KiB go out
    assert [len(json.loads(x)["log"]) for x in lines(path)] == [MAX_ENTRY]
    w.write("stdout", b"b" * (2 * MAX_ENTRY) + b"\n")
    w.close()
    logs = [json.loads(x)["log"] for x in lines(path)]
    assert [len(x) for x in logs] == [MAX_ENTRY, MAX_ENTRY, MAX_ENTRY, 11]
    assert "".join(logs) == "a" * (MAX_ENTRY + 10) + "b" * (2 * MAX_ENTRY) + "\n"


def test_writer_survives_a_removed_file(tmpdir_short: str) -> None:
    path = os.path.join(tmpdir_short, "c.log")
    w = JsonFileWriter(path, clock=Clock())
    shutil.rmtree(tmpdir_short)
    w.write("stdout", b"still fine\n")  # the open fd keeps working; nothing raises
    w.close()


def _write_log(path: str, n: int, partial: bool = False) -> None:
    with open(path, "wb") as f:
        for i in range(n):
            f.write(encode_entry("stdout", f"line {i}\n".encode(), format_time(T0 + i * 10**9)))
        if partial:
            f.write(b'{"log":"half')


def test_read_entries_all_and_fields(tmpdir_short: str) -> None:
    path = os.path.join(tmpdir_short, "c.log")
    _write_log(path, 3)
    got = list(read_entries(path))
    assert [e.data for e in got] == [b"line 0\n", b"line 1\n", b"line 2\n"]
    assert got[0].stream == "stdout"
    assert got[0].time == "2026-11-28T07:35:30.123456789Z"
    assert got[1].ts == pytest.approx(T0 / 1e9 + 1)


def test_read_entries_tail_reads_backwards_over_blocks(tmpdir_short: str) -> None:
    path = os.path.join(tmpdir_short, "c.log")
    _write_log(path, 5000, partial=True)  # > several 64 KiB blocks; a half-written last line
    assert [e.data for e in read_entries(path, tail=3)] == [
        b"line 4997\n",
        b"line 4998\n",
        b"line 4999\n",
    ]
    assert list(read_entries(path, tail=0)) == []
    assert len(list(read_entries(path, tail=10**6))) == 5000
    assert len(list(read_entries(path))) == 5000


def test_read_entries_since_until_inclusive(tmpdir_short: str) -> None:
    path = os.path.join(tmpdir_short, "c.log")
    _write_log(path, 10)
    base = T0 / 1e9
    got = [e.data for e in read_entries(path, since=base + 2, until=base + 4)]
    assert got == [b"line 2\n", b"line 3\n", b"line 4\n"]
    # tail applies first, then the time filter (as dockerd does)
    assert [e.data for e in read_entries(path, tail=2, since=base + 9)] == [b"line 9\n"]


def test_read_entries_missing_file_and_garbage_lines(tmpdir_short: str) -> None:
    assert list(read_entries(os.path.join(tmpdir_short, "nope.log"))) == []
    path = os.path.join(tmpdir_short, "c.log")
    with open(path, "wb") as f:
        f.write(b"garbage\n[1]\n")
        f.write(encode_entry("stderr", b"ok\n", "2026-01-01T00:00:00Z"))
    assert [(e.stream, e.data) for e in read_entries(path)] == [("stderr", b"ok\n")]


def test_log_reader_follows_appended_entries(tmpdir_short: str) -> None:
    path = os.path.join(tmpdir_short, "c.log")
    _write_log(path, 2, partial=True)
    reader = LogReader(path)
    assert len(list(reader.entries())) == 2
    assert reader.new_entries() == []
    with open(path, "ab") as f:
        f.write(b'","stream":"stdout","time":"2026-11-28T07:35:40Z"}\n')
        f.write(encode_entry("stderr", b"next\n", "2026-11-28T07:35:41Z"))
        f.write(b'{"log":"again-half')
    got = reader.new_entries()
    assert [(e.stream, e.data) for e in got] == [("stdout", b"half"), ("stderr", b"next\n")]
    assert reader.new_entries() == []
