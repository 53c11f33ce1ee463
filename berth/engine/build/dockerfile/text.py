"""moby's word splitting on a Dockerfile line: whitespace as Go's unicode.IsSpace reads it,
the leading --flags of an instruction, and parseWords (quotes and escapes kept)."""

from __future__ import annotations

import re

from berth.engine.build.shell import is_space

# Go's regexp \s is [\t\n\f\r ]; \d is ASCII only
WHITESPACE = re.compile(r"[\t\v\f\r ]+")


def trim_left_space(s: str) -> str:
    i = 0
    while i < len(s) and is_space(s[i]):
        i += 1
    return s[i:]


def trim_space(s: str) -> str:
    s = trim_left_space(s)
    j = len(s)
    while j > 0 and is_space(s[j - 1]):
        j -= 1
    return s[:j]


def whitespace_split(rest: str) -> list[str]:
    return [] if rest == "" else WHITESPACE.split(rest)


def _scan_word(text: str, pos: int, esc: str, raw: bool) -> tuple[str, bool, int]:
    """The word at POS (not a space), up to the next unquoted whitespace: (the word,
    whether it had quotes, where it ends). RAW is parseWords: quotes and escapes are kept,
    and nothing escapes inside single quotes; otherwise (the flags) quotes and escapes
    are resolved. An escape at the very end is dropped."""
    buf: list[str] = []
    quote = ""
    quoted = False
    n = len(text)
    while pos < n:
        ch = text[pos]
        if not quote and is_space(ch):
            break
        if ch == quote or (not quote and ch in ("'", '"')):
            quote = "" if ch == quote else ch
            quoted = True
            pos += 1
            if raw:
                buf.append(ch)
            continue
        if ch == esc and not (raw and quote == "'"):
            pos += 1
            if pos == n:
                break
            if raw:
                buf.append(ch)
            ch = text[pos]
        buf.append(ch)
        pos += 1
    return "".join(buf), quoted, pos


def extract_flags(line: str, esc: str) -> tuple[str, list[str]]:
    """The leading "--name=value" words (quotes and escapes resolved; "--" ends them) and
    the rest of the line."""
    words: list[str] = []
    pos = 0
    n = len(line)
    while True:
        while pos < n and is_space(line[pos]):
            pos += 1
        if pos == n:
            return "", words
        if not line.startswith("--", pos):
            return line[pos:], words
        word, quoted, pos = _scan_word(line, pos, esc, raw=False)
        if word == "--":
            return line[pos:], words
        if quoted or word:
            words.append(word)


def parse_words(rest: str, esc: str = "\\") -> list[str]:
    """moby's parseWords: split on whitespace, quotes and escapes kept."""
    words: list[str] = []
    pos = 0
    n = len(rest)
    while True:
        while pos < n and is_space(rest[pos]):
            pos += 1
        if pos == n:
            return words
        word, quoted, pos = _scan_word(rest, pos, esc, raw=True)
        if quoted or word:
            words.append(word)
