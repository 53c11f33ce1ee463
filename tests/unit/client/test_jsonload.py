"""jsonload.loads against json.loads: the same value (types and float spellings included)
for what the daemon sends and for random documents, and the same error for what is not
JSON, whether given as text or as bytes."""

from __future__ import annotations

import json
import math
import random
from typing import Any

import pytest

from berth.client import jsonload

DOCS = [
    '{"Version": "28.2.2", "ApiVersion": "1.50", "Os": "linux", "Components": [{"Name": "x"}]}',
    '[{"Id": "ab", "Names": ["/x"], "Ports": [], "Labels": {}, "SizeRw": 0, "Created": 17e8}]',
    " [] ",
    '"only a string"',
    "-12",
    "1.5e-300",
    ' {"k": NaN, "i": Infinity, "m": -Infinity} \n',
    '{"esc": "\\u00e9\\n\\t\\"\\\\\\/\\ud83d\\ude00", "big": 123456789012345678901234567890}',
    '{"a": {"a": {"a": [[], {}, [null, true, false]]}}}',
    '{"dup": 1, "dup": 2}',
]

BAD = [
    "",
    " ",
    "{",
    "[1,]",
    '{"a":1} x',
    "\ufeff{}",
    "[1] [2]",
    '{"a": "\x01"}',
    "nul",
    "01",
    "'a'",
]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    if isinstance(a, dict):
        return type(b) is dict and list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return type(b) is list and len(a) == len(b) and all(map(_same, a, b))
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("doc", DOCS)
def test_what_the_daemon_sends_reads_as_json_reads_it(doc: str) -> None:
    assert _same(jsonload.loads(doc), json.loads(doc))
    assert _same(jsonload.loads(doc.encode()), json.loads(doc.encode()))


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    kinds = ["int", "float", "str", "bool", "null"] + (["list", "dict"] if depth < 4 else [])
    kind = rng.choice(kinds)
    if kind == "int":
        return rng.randint(-(10**20), 10**20)
    if kind == "float":
        return rng.uniform(-1e10, 1e10)
    if kind == "str":
        return "".join(
            chr(rng.choice([rng.randint(32, 126), rng.randint(0xA0, 0x2FFF)]))
            for _ in range(rng.randint(0, 12))
        )
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if kind == "list":
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 5))]
    return {
        f"k{rng.randint(0, 99)}": _random_value(rng, depth + 1) for _ in range(rng.randint(0, 5))
    }


def test_random_documents_read_back_the_same() -> None:
    rng = random.Random(14)
    for _ in range(500):
        doc = json.dumps(
            _random_value(rng), ensure_ascii=rng.random() < 0.5, indent=rng.choice([None, 2])
        )
        assert _same(jsonload.loads(doc), json.loads(doc)), doc


@pytest.mark.parametrize(
    "doc", [*BAD, *(d.encode() for d in BAD if not d.startswith("\ufeff")), b"\xff\xfe", b'"\xc3"']
)
def test_what_is_not_json_fails_as_json_loads_fails(doc: str | bytes) -> None:
    with pytest.raises(ValueError) as want:
        json.loads(doc)
    with pytest.raises(ValueError) as got:
        jsonload.loads(doc)
    assert (type(got.value), str(got.value)) == (type(want.value), str(want.value))


def test_bytes_with_a_bom_read_as_json_reads_them() -> None:
    assert jsonload.loads("\ufeff{}".encode()) == json.loads("\ufeff{}".encode()) == {}


def test_encoding_is_json_dumps() -> None:
    v = {"a": [1, 2.5, None, "é"]}
    assert jsonload.dumps(v) == json.dumps(v)
