"""moby's shell.Lex: ProcessWord and ProcessWords, one character at a time as lex.go reads
them (quotes, escapes, `$VAR` and `${VAR<modifier>}`, heredoc markers)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .errors import EOF, EOF_TEXT, ExpansionError, Fail
from .gotext import go_quote, is_space
from .patterns import go_expand, shell_pattern_to_regex, trim_prefix, trim_suffix


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
            value, words = w.stop_on(EOF, self.raw_escapes)
        except Fail as e:
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
        return self.src[self.pos] if self.pos < len(self.src) else EOF

    def next(self) -> str:
        if self.pos >= len(self.src):
            return EOF
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
        while self.peek() != EOF:
            ch = self.peek()
            if stop != EOF and ch == stop:
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
                    if ch == EOF:
                        break
                    words.add_raw_char(ch)
                else:
                    words.add_char(ch)
                result.append(ch)
        if stop != EOF:
            raise Fail(f"unexpected end of statement while looking for matching {stop}")
        return "".join(result), words.get_words()

    def single_quote(self) -> str:
        # nothing escapes inside single quotes, not even a single quote
        out: list[str] = []
        ch = self.next()
        if self.lex.raw_quotes:
            out.append(ch)
        while True:
            ch = self.next()
            if ch == EOF:
                raise Fail("unexpected end of statement while looking for matching single-quote")
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
            if nxt == EOF:
                raise Fail("unexpected end of statement while looking for matching double-quote")
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
                if after == EOF:
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
        if nxt == EOF:
            raise Fail("syntax error: missing '}'")
        if nxt in "{}:":
            raise Fail("syntax error: bad substitution")
        name = self.name()
        ch = self.next()
        chs = ch or EOF_TEXT
        null_is_unset = False
        if ch == "}":
            value, found = self.get_env(name)
            if not found and self.lex.skip_unset_env:
                return "${" + name + "}"
            return value
        if ch == ":":
            null_is_unset = True
            ch = self.next()
            chs += ch or EOF_TEXT
            return self.modifier(name, ch, chs, null_is_unset)
        if ch in ("+", "-", "?", "#", "%"):
            return self.modifier(name, ch, chs, null_is_unset)
        if ch == "/":
            return self.replace(name)
        raise Fail(f"unsupported modifier ({chs}) in substitution")

    def modifier(self, name: str, ch: str, chs: str, null_is_unset: bool) -> str:
        raw = ch in ("#", "%") and ch != EOF
        if null_is_unset and raw:
            raise Fail(f"unsupported modifier ({chs}) in substitution")
        word = self._until("}", raw, "syntax error: missing '}'")
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
                raise Fail(f"{name}: {word or 'is not allowed to be unset'}")
            if null_is_unset and value == "":
                raise Fail(f"{name}: {word or 'is not allowed to be empty'}")
            return value
        if ch in ("%", "#"):
            # a doubled operator (%% / ##) trims the longest match
            greedy = word[:1] == ch
            if greedy:
                word = word[1:]
            if ch == "%":
                return trim_suffix(word, value, greedy)
            return trim_prefix(word, value, greedy)
        raise Fail(f"unsupported modifier ({chs}) in substitution")

    def _until(self, stop: str, raw_escapes: bool, missing: str) -> str:
        """The word up to STOP; MISSING if the input ends first."""
        try:
            return self.stop_on(stop, raw_escapes)[0]
        except Fail:
            if self.peek() == EOF:
                raise Fail(missing) from None
            raise

    def replace(self, name: str) -> str:
        replace_all = self.peek() == "/"
        if replace_all:
            self.next()
        pattern = self._until("/", True, "syntax error: missing '/' in ${}")
        replacement = self._until("}", True, "syntax error: missing '}'")
        value, found = self.get_env(name)
        if self.lex.skip_unset_env and not found:
            return "${" + name + "/" + pattern + "/" + replacement + "}"
        try:
            rx = shell_pattern_to_regex(pattern, greedy=True, anchored=False)
        except Fail as e:
            raise Fail(f"invalid pattern ({pattern}) in substitution: {e}") from None
        if replace_all:
            return rx.sub(lambda m: go_expand(replacement, m), value)
        m = rx.search(value)
        if m is None:
            return value
        return value[: m.start()] + replacement + value[m.end() :]

    def name(self) -> str:
        out: list[str] = []
        while self.peek() != EOF:
            ch = self.peek()
            if not out and ch.isdecimal():
                # positional parameters: all the digits, and nothing else
                while self.peek() != EOF and self.peek().isdecimal():
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
        while self.peek() in ("\t", "\r", " ") and self.peek() != EOF:
            space.append(self.next())
        return "<<" + "".join(space)


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
