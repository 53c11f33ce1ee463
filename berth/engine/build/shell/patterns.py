"""The patterns of `${VAR#p}`, `${VAR%p}` and `${VAR/p/r}`, as regexes; the trims and the
replacement template they do."""

from __future__ import annotations

import re

from .errors import EOF, EOF_TEXT, Fail


def go_expand(template: str, m: re.Match[str]) -> str:
    # Go's Regexp.ReplaceAllString treats $name / ${name} in the replacement as
    # group references; the patterns here have no groups, so only $0 is set
    out: list[str] = []
    i = 0
    while i < len(template):
        c = template[i]
        if c != "$" or i + 1 >= len(template):
            out.append(c)
            i += 1
            continue
        nxt = template[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
            continue
        if nxt == "{":
            end = template.find("}", i + 2)
            name = template[i + 2 : end] if end >= 0 else ""
            if end < 0 or not _GO_NAME.fullmatch(name):
                out.append(c)
                i += 1
                continue
            i = end + 1
        else:
            mm = _GO_NAME_PREFIX.match(template, i + 1)
            if mm is None:
                out.append(c)
                i += 1
                continue
            name = mm.group(0)
            i = mm.end()
        if name.isdigit() and int(name) == 0:
            out.append(m.group(0))
    return "".join(out)


_GO_NAME = re.compile(r"[A-Za-z0-9_]+")
_GO_NAME_PREFIX = re.compile(r"[A-Za-z0-9_]+")


def shell_pattern_to_regex(pattern: str, greedy: bool, anchored: bool) -> re.Pattern[str]:
    """A `${VAR#pattern}` pattern (`?`, `*`, escapes; no brackets) as a regex."""
    out: list[str] = ["^"] if anchored else []
    star = ".*" if greedy else ".*?"
    i = 0
    while i < len(pattern):
        tok = pattern[i]
        i += 1
        if tok == "*":
            out.append(star)
            continue
        if tok == "?":
            out.append(".")
            continue
        if tok == "\\":
            nxt = pattern[i] if i < len(pattern) else EOF
            # an escaped } or / belongs to the ${} syntax, not to the pattern
            if nxt in ("}", "/") and nxt != EOF:
                continue
            out.append("\\")
            tok = pattern[i] if i < len(pattern) else EOF
            i += 1
            if tok not in ("*", "?", "\\") or tok == EOF:
                raise Fail(f"invalid escape '\\{tok or EOF_TEXT}'")
        elif tok in "[]{}.+()|^$":
            out.append("\\")
        out.append(tok)
    return re.compile("".join(out), re.DOTALL)


def reverse_pattern(pattern: str) -> str:
    # reverse, keeping each escape before the character it escapes
    out = [""] * len(pattern)
    last = len(pattern) - 1
    i = 0
    while i <= last:
        tok = pattern[i]
        o = last - i
        if tok == "\\" and i != last:
            out[o - 1] = tok
            out[o] = pattern[i + 1]
            i += 2
        else:
            out[o] = tok
            i += 1
    return "".join(out)


def trim_prefix(word: str, value: str, greedy: bool) -> str:
    try:
        rx = shell_pattern_to_regex(word, greedy, True)
    except Fail as e:
        raise Fail(f"invalid pattern ({word}) in substitution: {e}") from None
    m = rx.search(value)
    return value[m.end() :] if m else value


def trim_suffix(pattern: str, word: str, greedy: bool) -> str:
    # a regex can't find the shortest rightmost match, so both are reversed
    return trim_prefix(reverse_pattern(pattern), word[::-1], greedy)[::-1]
