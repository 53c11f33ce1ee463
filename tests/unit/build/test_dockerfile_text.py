"""The word scanners of a Dockerfile line (berth.engine.build.dockerfile.text): the leading
--flags of an instruction and moby's parseWords, edge cases beyond moby's tables (expected
values are what moby's state machines give)."""

from __future__ import annotations

import pytest

from berth.engine.build.dockerfile.text import extract_flags, parse_words


@pytest.mark.parametrize(
    ("line", "esc", "rest", "flags"),
    [
        ("--a=b c", "\\", "c", ["--a=b"]),
        ("--a='b c' d", "\\", "d", ["--a=b c"]),
        ('--x="" y', "\\", "y", ["--x="]),
        ("-- --a=b", "\\", " --a=b", []),
        ("--a=b '--' c", "\\", "'--' c", ["--a=b"]),
        ("--a=b\\", "\\", "", ["--a=b"]),
        ("--a=b` c d", "`", "d", ["--a=b c"]),
        ('--a="b\\" c" d', "\\", "d", ['--a=b" c']),
        ("x --a", "\\", "x --a", []),
        ("   ", "\\", "", []),
    ],
)
def test_extract_flags(line: str, esc: str, rest: str, flags: list[str]) -> None:
    assert extract_flags(line, esc) == (rest, flags)


@pytest.mark.parametrize(
    ("rest", "esc", "words"),
    [
        ("a 'b c' d", "\\", ["a", "'b c'", "d"]),
        ("'a\\ b'", "\\", ["'a\\ b'"]),
        ('"a\\ b"', "\\", ['"a\\ b"']),
        ("a\\ b", "\\", ["a\\ b"]),
        ('""', "\\", ['""']),
        ("a\\", "\\", ["a"]),
        ('"a\\', "\\", ['"a']),
        ("a` b", "`", ["a` b"]),
    ],
)
def test_parse_words_keeps_quotes_and_escapes(rest: str, esc: str, words: list[str]) -> None:
    assert parse_words(rest, esc) == words
