"""`docker logs`' batched body (read_log_stream) against the per-entry reader: the same bytes
per stream for plain blocks, escaped entries, mixed streams, partial lines and the options;
and the real docker CLI on a container mixing stdout and stderr."""

from __future__ import annotations

import asyncio
import random
import tempfile
from pathlib import Path

import pytest

from berth.constants import STDERR, STDOUT
from berth.engine.containers import logs
from berth.engine.containers.logs import LogOptions, read_log_stream, read_logs
from berth.runtime.logfile import encode_entry
from berth.stdcopy import HEADER_SIZE, parse_header


def _demux(data: bytes) -> list[tuple[int, bytes]]:
    out, pos = [], 0
    while pos < len(data):
        stream, size = parse_header(data[pos : pos + HEADER_SIZE])
        out.append((stream, data[pos + HEADER_SIZE : pos + HEADER_SIZE + size]))
        pos += HEADER_SIZE + size
    return out


def _by_stream(items: list[tuple[int, bytes]]) -> dict[int, bytes]:
    acc: dict[int, bytearray] = {STDOUT: bytearray(), STDERR: bytearray()}
    for s, d in items:
        acc[s] += d
    return {k: bytes(v) for k, v in acc.items()}


def _both(path: str, opts: LogOptions, raw: bool = False) -> tuple[bytes, list]:
    async def go() -> tuple[bytes, list]:
        streamed = b"".join([c async for c in read_log_stream(path, opts, lambda: False, raw=raw)])
        entries = [x async for x in read_logs(path, opts, lambda: False)]
        return streamed, entries

    return asyncio.run(go())


@pytest.fixture(params=["accelerated", "python"])
def log_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(logs, "_BLOCK", 4096)  # many blocks, so both paths are taken
    if request.param == "python":  # the re path, which the C accelerator stands in for
        monkeypatch.setattr(logs, "_c_plain", None)
    d = Path(tempfile.mkdtemp(prefix="bt-", dir="/tmp"))
    try:
        yield d / "c-json.log"
    finally:
        for f in d.iterdir():
            f.unlink()
        d.rmdir()


def test_batched_stream_matches_entries(log_path: Path) -> None:
    rng = random.Random(7)
    texts = [b"plain line\n", b'quote " and \\ back\n', b"<tag>&\n", b"\xc3\xa9t\xc3\xa9\n",
             b"no newline", b"\x01ctl\n", b"x" * 300 + b"\n"]  # fmt: skip
    with open(log_path, "wb") as f:
        for i in range(3000):
            # long runs of plain stdout (the fast path) between mixed stretches
            if (i // 400) % 2 == 0:
                f.write(encode_entry("stdout", b"plain %d\n" % i, "2026-01-01T00:00:01.5Z"))
            else:
                s = rng.choice(["stdout", "stderr"])
                f.write(encode_entry(s, rng.choice(texts), f"2026-01-01T00:00:{i % 60:02d}Z"))
    for opts in (
        LogOptions(),
        LogOptions(stdout=False),
        LogOptions(stderr=False),
        LogOptions(tail=7),
        LogOptions(timestamps=True),
        LogOptions(since=1767225630.0),
    ):
        streamed, entries = _both(str(log_path), opts)
        assert _by_stream(_demux(streamed)) == _by_stream(entries), opts
        # frames keep the order of the entries: the concatenation is the same too
        assert b"".join(d for _, d in _demux(streamed)) == b"".join(d for _, d in entries)
    raw, entries = _both(str(log_path), LogOptions(), raw=True)
    assert raw == b"".join(d for _, d in entries)


@pytest.mark.parametrize("accelerated", [True, False])
def test_plain_block_rules(accelerated: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if not accelerated:
        monkeypatch.setattr(logs, "_c_plain", None)
    ok = encode_entry("stdout", b"a\n", "T1") + encode_entry("stdout", b"bc\n", "T22")
    assert logs._plain(ok, STDOUT) == b"a\nbc\n"
    assert logs._plain(ok, STDERR) is None
    assert logs._plain(ok + encode_entry("stdout", b'q"\n', "T"), STDOUT) is None
    assert logs._plain(ok + encode_entry("stdout", b"partial", "T"), STDOUT) is None
    assert logs._plain(encode_entry("stdout", b"a\\n\n", "T"), STDOUT) is None


def test_docker_logs_mixed_streams(docker) -> None:  # type: ignore[no-untyped-def]
    script = "for i in 1 2 3; do echo out$i; echo err$i >&2; done; seq 1 2000"
    p = docker("run", "--name", "ls-mix", "busybox", "sh", "-c", script)
    assert p.returncode == 0, p.stderr.decode()
    p = docker("logs", "ls-mix")
    assert p.returncode == 0
    nums = "".join(f"{i}\n" for i in range(1, 2001))
    assert p.stdout.decode() == "out1\nout2\nout3\n" + nums
    assert p.stderr.decode() == "err1\nerr2\nerr3\n"
