"""The CLI percent-encodes without urllib.parse (its import is ~3 ms of every command's
start): the result must be urllib's, byte for byte."""

from __future__ import annotations

import random
import urllib.parse

import pytest

from berth.client.transport import build_path, quote_name
from berth.client.urlcodec import quote, urlencode

_SAMPLES = [
    "",
    "plain",
    "with space",
    "a/b:c@d",
    "name=value&x",
    "100%",
    "~tilde_.-",
    'quote"and\\back',
    "ünïcödé 名前",
    "emoji \U0001f433",
    "+plus+",
    "\x00\x1f\x7f",
    '{"label":["a=b"]}',
]


def _random_text(rng: random.Random) -> str:
    alphabet = [chr(c) for c in range(0x20, 0x7F)] + ["é", "ß", "\u2028", "日"]
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 24)))


@pytest.mark.parametrize("text", _SAMPLES)
@pytest.mark.parametrize("safe", ["/", "", "/:@"])
def test_quote_is_urllibs(text: str, safe: str) -> None:
    assert quote(text, safe) == urllib.parse.quote(text, safe=safe)
    assert quote(text, safe, plus=True) == urllib.parse.quote_plus(text, safe=safe)


def test_random_text_quotes_and_encodes_as_urllib_does() -> None:
    rng = random.Random(7)
    for _ in range(500):
        text = _random_text(rng)
        assert quote_name(text) == urllib.parse.quote(text, safe="/:@")
        pairs = [(_random_text(rng), _random_text(rng)) for _ in range(rng.randrange(1, 4))]
        assert urlencode(pairs) == urllib.parse.urlencode(pairs)


def test_build_path_encodes_the_query_as_urllib_does() -> None:
    query = {"all": True, "filters": '{"name":{"a b":true}}', "limit": 3, "skip": None}
    expected = urllib.parse.urlencode(
        [("all", "1"), ("filters", '{"name":{"a b":true}}'), ("limit", "3")]
    )
    assert build_path("/containers/json", query) == "/containers/json?" + expected
