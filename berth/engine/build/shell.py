"""Variable expansion in Dockerfile words, as moby's shell lexer does it
(buildkit `frontend/dockerfile/shell/lex.go`, the version dockerd 28 vendors).

`expand` is ProcessWord: `$VAR`, `${VAR}`, `${VAR:-d}`, `${VAR-d}`, `${VAR:+a}`,
`${VAR+a}`, `${VAR:?msg}`, `${VAR?msg}`, `${VAR#p}`, `${VAR##p}`, `${VAR%p}`,
`${VAR%%p}`, `${VAR/p/r}`, `${VAR//p/r}`; quotes are removed and escapes
resolved the way the lexer does, unknown variables become "". `expand_words` is
ProcessWords: the same, then split into words (quoted spaces kept).

Which instruction gets which: the classic builder expands the instructions in
`EXPANDED` word by word (`expand`), except EXPOSE, which alone is split into
words after expansion (`expand_words`); FROM (and its --platform) is expanded
against the meta ARGs only. RUN's own expansion only concerns --mount, which the
classic builder refuses anyway.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

EXPANDED: frozenset[str] = frozenset(
    {
        "add",
        "arg",
        "copy",
        "env",
        "expose",
        "from",
        "label",
        "stopsignal",
        "user",
        "volume",
        "workdir",
    }
)
# the one instruction whose words may split into several after expansion
WORDS_EXPANDED: frozenset[str] = frozenset({"expose"})

_EOF = ""
# what Go prints for string(rune(scanner.EOF)) in "unsupported modifier" errors
_EOF_TEXT = "\ufffd"


class ExpansionError(Exception):
    """A word the lexer refuses; `message` is dockerd's text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _Fail(Exception):
    # internal: the unwrapped error, before "failed to process %q" is added
    pass


def go_quote(s: str) -> str:
    """Go's strconv.Quote (the `%q` verb), which dockerd's messages use."""
    out = ['"']
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch.isprintable() or ch == " ":
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


_GO_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def is_space(ch: str) -> bool:
    """Go's unicode.IsSpace (Python's isspace also counts \\x1c-\\x1f)."""
    return ch.isspace() and ch not in "\x1c\x1d\x1e\x1f"


@dataclass
class Result:
    value: str
    words: list[str]
    matched: set[str] = field(default_factory=set)
    unmatched: set[str] = field(default_factory=set)


class _Words:
    def __init__(self) -> None:
        self.buf: list[str] = []
        self.words: list[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if is_space(ch):
            # an empty quoted string sets in_word without adding text: Go keeps
            # waiting for a character, so `""` alone yields no word
            if self.in_word and self.buf:
                self.words.append("".join(self.buf))
                self.buf = []
                self.in_word = False
        else:
            self.add_raw_char(ch)

    def add_raw_char(self, ch: str) -> None:
        self.buf.append(ch)
        self.in_word = True

    def add_string(self, s: str) -> None:
        for ch in s:
            self.add_char(ch)

    def add_raw_string(self, s: str) -> None:
        self.buf.append(s)
        self.in_word = True

    def get_words(self) -> list[str]:
        if "".join(self.buf):
            self.words.append("".join(self.buf))
            self.buf = []
            self.in_word = False
        return self.words


class Lexer:
    """moby's shell.Lex with its switches (the parser uses the raw ones to find
    heredoc words)."""

    def __init__(
        self,
        escape: str = "\\",
        *,
        raw_quotes: bool = False,
        raw_escapes: bool = False,
        skip_unset_env: bool = False,
        skip_process_quotes: bool = False,
    ) -> None:
        self.escape = escape
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes
        self.skip_unset_env = skip_unset_env
        self.skip_process_quotes = skip_process_quotes

    def process(self, word: str, env: Mapping[str, str]) -> Result:
        w = _Word(self, word, env)
        try:
            value, words = w.stop_on(_EOF, self.raw_escapes)
        except _Fail as e:
            raise ExpansionError(f"failed to process {go_quote(word)}: {e}") from None
        return Result(value, words, w.matched, w.unmatched)

    def process_word(self, word: str, env: Mapping[str, str]) -> str:
        return self.process(word, env).value

    def process_words(self, word: str, env: Mapping[str, str]) -> list[str]:
        return self.process(word, env).words


class _Word:
    def __init__(self, lex: Lexer, src: str, env: Mapping[str, str]) -> None:
        self.lex = lex
        self.src = src
        self.pos = 0
        self.env = env
        self.raw_escapes = lex.raw_escapes
        self.matched: set[str] = set()
        self.unmatched: set[str] = set()

    def peek(self) -> str:
        return self.src[self.pos] if self.pos < len(self.src) else _EOF

    def next(self) -> str:
        if self.pos >= len(self.src):
            return _EOF
        ch = self.src[self.pos]
        self.pos += 1
        return ch

    def get_env(self, name: str) -> tuple[str, bool]:
        value = self.env.get(name)
        if value is None:
            self.unmatched.add(name)
            return "", False
        self.matched.add(name)
        return value, True

    def stop_on(self, stop: str, raw_escapes: bool) -> tuple[str, list[str]]:
        saved = self.raw_escapes
        self.raw_escapes = raw_escapes
        try:
            return self._stop_on(stop)
        finally:
            self.raw_escapes = saved

    def _stop_on(self, stop: str) -> tuple[str, list[str]]:
        result: list[str] = []
        words = _Words()
        quotes = not self.lex.skip_process_quotes
        esc = self.lex.escape
        while self.peek() != _EOF:
            ch = self.peek()
            if stop != _EOF and ch == stop:
                self.next()
                return "".join(result), words.get_words()
            if ch == "$":
                tmp = self.dollar()
                result.append(tmp)
                words.add_string(tmp)
            elif ch == "<":
                tmp = self.possible_heredoc()
                result.append(tmp)
                words.add_raw_string(tmp)
            elif quotes and ch == "'":
                tmp = self.single_quote()
                result.append(tmp)
                words.add_raw_string(tmp)
            elif quotes and ch == '"':
                tmp = self.double_quote()
                result.append(tmp)
                words.add_raw_string(tmp)
            else:
                ch = self.next()
                if ch == esc:
                    if self.raw_escapes:
                        words.add_raw_char(ch)
                        result.append(ch)
                    ch = self.next()
                    if ch == _EOF:
                        break
                    words.add_raw_char(ch)
                else:
                    words.add_char(ch)
                result.append(ch)
        if stop != _EOF:
            raise _Fail(f"unexpected end of statement while looking for matching {stop}")
        return "".join(result), words.get_words()

    def single_quote(self) -> str:
        # nothing escapes inside single quotes, not even a single quote
        out: list[str] = []
        ch = self.next()
        if self.lex.raw_quotes:
            out.append(ch)
        while True:
            ch = self.next()
            if ch == _EOF:
                raise _Fail("unexpected end of statement while looking for matching single-quote")
            if ch == "'":
                if self.lex.raw_quotes:
                    out.append(ch)
                return "".join(out)
            out.append(ch)

    def double_quote(self) -> str:
        out: list[str] = []
        ch = self.next()
        if self.lex.raw_quotes:
            out.append(ch)
        esc = self.lex.escape
        while True:
            nxt = self.peek()
            if nxt == _EOF:
                raise _Fail("unexpected end of statement while looking for matching double-quote")
            if nxt == '"':
                ch = self.next()
                if self.lex.raw_quotes:
                    out.append(ch)
                return "".join(out)
            if nxt == "$":
                out.append(self.dollar())
                continue
            ch = self.next()
            if ch == esc:
                if self.raw_escapes:
                    out.append(ch)
                after = self.peek()
                if after == _EOF:
                    continue
                # only these are escapable inside double quotes, as in sh
                if after in ('"', "$", esc):
                    ch = self.next()
            out.append(ch)

    def dollar(self) -> str:
        self.next()
        if self.peek() != "{":
            name = self.name()
            if name == "":
                return "$"
            value, found = self.get_env(name)
            if not found and self.lex.skip_unset_env:
                return "$" + name
            return value
        self.next()
        nxt = self.peek()
        if nxt == _EOF:
            raise _Fail("syntax error: missing '}'")
        if nxt in "{}:":
            raise _Fail("syntax error: bad substitution")
        name = self.name()
        ch = self.next()
        chs = ch or _EOF_TEXT
        null_is_unset = False
        if ch == "}":
            value, found = self.get_env(name)
            if not found and self.lex.skip_unset_env:
                return "${" + name + "}"
            return value
        if ch == ":":
            null_is_unset = True
            ch = self.next()
            chs += ch or _EOF_TEXT
            return self.modifier(name, ch, chs, null_is_unset)
        if ch in ("+", "-", "?", "#", "%"):
            return self.modifier(name, ch, chs, null_is_unset)
        if ch == "/":
            return self.replace(name)
        raise _Fail(f"unsupported modifier ({chs}) in substitution")

    def modifier(self, name: str, ch: str, chs: str, null_is_unset: bool) -> str:
        raw = ch in ("#", "%") and ch != _EOF
        if null_is_unset and raw:
            raise _Fail(f"unsupported modifier ({chs}) in substitution")
        try:
            word, _ = self.stop_on("}", raw)
        except _Fail:
            if self.peek() == _EOF:
                raise _Fail("syntax error: missing '}'") from None
            raise
        value, found = self.get_env(name)
        if self.lex.skip_unset_env and not found:
            return "${" + name + chs + word + "}"
        unset = not found or (null_is_unset and value == "")
        if ch == "-":
            return word if unset else value
        if ch == "+":
            return "" if unset else word
        if ch == "?":
            if not found:
                raise _Fail(f"{name}: {word or 'is not allowed to be unset'}")
            if null_is_unset and value == "":
                raise _Fail(f"{name}: {word or 'is not allowed to be empty'}")
            return value
        if ch in ("%", "#"):
            # a doubled operator (%% / ##) trims the longest match
            greedy = word[:1] == ch
            if greedy:
                word = word[1:]
            if ch == "%":
                return _trim_suffix(word, value, greedy)
            return _trim_prefix(word, value, greedy)
        raise _Fail(f"unsupported modifier ({chs}) in substitution")

    def replace(self, name: str) -> str:
        replace_all = self.peek() == "/"
        if replace_all:
            self.next()
        try:
            pattern, _ = self.stop_on("/", True)
        except _Fail:
            if self.peek() == _EOF:
                raise _Fail("syntax error: missing '/' in ${}") from None
            raise
        try:
            replacement, _ = self.stop_on("}", True)
        except _Fail:
            if self.peek() == _EOF:
                raise _Fail("syntax error: missing '}'") from None
            raise
        value, found = self.get_env(name)
        if self.lex.skip_unset_env and not found:
            return "${" + name + "/" + pattern + "/" + replacement + "}"
        try:
            rx = shell_pattern_to_regex(pattern, greedy=True, anchored=False)
        except _Fail as e:
            raise _Fail(f"invalid pattern ({pattern}) in substitution: {e}") from None
        if replace_all:
            return rx.sub(lambda m: _go_expand(replacement, m), value)
        m = rx.search(value)
        if m is None:
            return value
        return value[: m.start()] + replacement + value[m.end() :]

    def name(self) -> str:
        out: list[str] = []
        while self.peek() != _EOF:
            ch = self.peek()
            if not out and ch.isdecimal():
                # positional parameters: all the digits, and nothing else
                while self.peek() != _EOF and self.peek().isdecimal():
                    out.append(self.next())
                return "".join(out)
            if not out and ch in "@*#?-$!0":
                return self.next()
            if not (ch.isalpha() or ch.isdecimal() or ch == "_"):
                break
            out.append(self.next())
        return "".join(out)

    def possible_heredoc(self) -> str:
        self.next()
        if self.peek() != "<":
            return "<"
        self.next()
        space: list[str] = []
        while self.peek() in ("\t", "\r", " ") and self.peek() != _EOF:
            space.append(self.next())
        return "<<" + "".join(space)


def _go_expand(template: str, m: re.Match[str]) -> str:
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
            nxt = pattern[i] if i < len(pattern) else _EOF
            # an escaped } or / belongs to the ${} syntax, not to the pattern
            if nxt in ("}", "/") and nxt != _EOF:
                continue
            out.append("\\")
            tok = pattern[i] if i < len(pattern) else _EOF
            i += 1
            if tok not in ("*", "?", "\\") or tok == _EOF:
                raise _Fail(f"invalid escape '\\{tok or _EOF_TEXT}'")
        elif tok in "[]{}.+()|^$":
            out.append("\\")
        out.append(tok)
    return re.compile("".join(out), re.DOTALL)


def _reverse_pattern(pattern: str) -> str:
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


def _trim_prefix(word: str, value: str, greedy: bool) -> str:
    try:
        rx = shell_pattern_to_regex(word, greedy, True)
    except _Fail as e:
        raise _Fail(f"invalid pattern ({word}) in substitution: {e}") from None
    m = rx.search(value)
    return value[m.end() :] if m else value


def _trim_suffix(pattern: str, word: str, greedy: bool) -> str:
    # a regex can't find the shortest rightmost match, so both are reversed
    return _trim_prefix(_reverse_pattern(pattern), word[::-1], greedy)[::-1]


def expand(word: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """ProcessWord: `word` with variables expanded, quotes and escapes removed.

    Raises:
        ExpansionError: with dockerd's text, e.g. 'failed to process "${x:?}": x:
            is not allowed to be unset'.
    """
    return Lexer(escape).process_word(word, env)


def expand_words(word: str, env: Mapping[str, str], escape: str = "\\") -> list[str]:
    """ProcessWords: like `expand`, then split on unquoted whitespace."""
    return Lexer(escape).process_words(word, env)
