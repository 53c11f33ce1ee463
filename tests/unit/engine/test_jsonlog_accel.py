"""The C reader of plain json-file blocks (berth/engine/containers/_jsonlog.c) against
its reference, the re-based path in logs.py: the same payloads for every block the shim's
writer can produce, and, for a damaged block, either None (the caller decodes it line by
line) or exactly what json decodes from it."""

from __future__ import annotations

import json
import random
import shutil

import pytest

from berth.constants import STDERR, STDOUT
from berth.engine.containers import logs
from berth.runtime.logfile import encode_entry, format_time

_c_plain = logs._c_plain
if _c_plain is None:
    # built by `pip install` wherever a compiler is: its absence there is a regression
    if shutil.which("gcc") or shutil.which("cc"):
        raise AssertionError("berth.engine.containers._jsonlog was not built (see setup.py)")
    pytest.skip("no C compiler here: the accelerator is not built", allow_module_level=True)

_TEXTS = [b"plain", b"", b'quote " in', b"back \\ slash", b"<tag>&", b"\xc3\xa9t\xc3\xa9",
          b"\x01ctl", b"\xff\xfe bad utf-8", b"tab\there", b"cr\r", b"x" * 300,
          b'\\n","stream":"stdout","time":"forged"}']  # fmt: skip


def _entry(rng: random.Random, stream: str) -> bytes:
    data = rng.choice(_TEXTS) + (b"\n" if rng.random() < 0.9 else b"")
    return encode_entry(stream, data, format_time(rng.randrange(1 << 62)))


def _json_payloads(block: bytes, name: str) -> bytes | None:
    """What decoding each line with json gives, if every line is an entry of `name`."""
    out = b""
    for line in block.split(b"\n")[:-1]:
        try:
            e = json.loads(line)
        except ValueError:
            return None
        if not isinstance(e, dict) or e.get("stream") != name:
            return None
        out += e["log"].encode("utf-8", "surrogateescape")
    return out


@pytest.mark.parametrize("seed", range(40))
def test_blocks_of_the_writer_read_the_same_in_c_and_python(seed: int) -> None:
    rng = random.Random(seed)
    plain_only = seed % 2 == 0
    block = b""
    for _ in range(rng.randrange(1, 60)):
        if plain_only:
            block += encode_entry(
                "stdout", b"line %d\n" % rng.randrange(10**6), format_time(rng.randrange(1 << 62))
            )
        else:
            block += _entry(rng, rng.choice(["stdout", "stdout", "stderr"]))
    for stream in (STDOUT, STDERR):
        got = _c_plain(block, logs._NAMES[stream])
        assert got == logs._plain_py(block, stream)
        if got is not None:
            assert got == _json_payloads(block, logs._NAMES[stream].decode())
    if plain_only:
        assert _c_plain(block, b"stdout") is not None  # the fast path is taken


@pytest.mark.parametrize("seed", range(300))
def test_a_damaged_block_is_refused_or_read_as_json_reads_it(seed: int) -> None:
    rng = random.Random(1000 + seed)
    block = bytearray(
        b"".join(
            encode_entry("stdout", b"ok %d\n" % i, format_time(rng.randrange(1 << 62)))
            for i in range(rng.randrange(1, 20))
        )
    )
    for _ in range(rng.randrange(1, 4)):
        i = rng.randrange(len(block))
        op = rng.randrange(3)
        if op == 0:
            block[i] = rng.randrange(256)
        elif op == 1:
            del block[i]
        else:
            block.insert(i, rng.choice(b'"\\\n{}:,'))
    got = _c_plain(bytes(block), b"stdout")
    if got is not None:
        assert got == _json_payloads(bytes(block), "stdout")


@pytest.mark.parametrize(
    "block",
    [
        b"",
        b"\n",
        b'{"log":"a\\n","stream":"stdout","time":"T"}',  # no final newline
        b'{"log":"a\\n","stream":"stdout","time":"T"}\n{"log":"b',
        b'{"log":"a\\n","stream":"stdout","time":"T"\n',
        b'{"log":"a\\n","stream":"stdout","time":"T"x}\n',
        b'{"log":"a\\n","stream":"stdout","time":"T"T"}\n',
        b'{"log":"a\\n","stream":"stdoutx","time":"T"}\n',
        b'{"log":"a\\n","stream":"std',
        b'{"log":"a\\n","stream":"stdout","time":"',
        b'{"log":"a\\n","stream":"stdout","time":"}\n',
        b'{"log":"a\\n","stream":"stdout","time":""}\n',
        b'{"log":"a"b\\n","stream":"stdout","time":"T"}\n',
        b'{"log":"a\\t\\n","stream":"stdout","time":"T"}\n',
    ],
)
def test_edges(block: bytes) -> None:
    got = _c_plain(block, b"stdout")
    assert got == _json_payloads(block, "stdout") if got is not None else True
    if block.endswith(b'""}\n'):
        assert got == b"a\n"  # an empty time is still an entry json reads
    elif b'"T"}\n' in block and block.count(b"\n") == 1 and b"x" not in block:
        assert got in (b"a\n", None)
