"""The template's tokens, as Go's text/template/parse/lex.go scans them: text, the "{{" "}}"
delimiters with their trim markers, and inside an action fields, variables, identifiers,
keywords, strings, numbers and punctuation; a lexing error ends the stream as an ERROR item
whose value is Go's message."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum, auto

LEFT, RIGHT = "{{", "}}"
SPACES = " \t\r\n"


class T(Enum):
    ERROR = auto()
    EOF = auto()
    TEXT = auto()
    COMMENT = auto()
    LEFT_DELIM = auto()
    RIGHT_DELIM = auto()
    SPACE = auto()
    LEFT_PAREN = auto()
    RIGHT_PAREN = auto()
    PIPE = auto()
    ASSIGN = auto()
    DECLARE = auto()
    CHAR = auto()  # printable punctuation, e.g. ","
    BOOL = auto()
    NUMBER = auto()
    CHAR_CONSTANT = auto()
    STRING = auto()
    RAW_STRING = auto()
    FIELD = auto()
    VARIABLE = auto()
    IDENTIFIER = auto()
    DOT = auto()
    NIL = auto()
    # keywords
    BLOCK = auto()
    BREAK = auto()
    CONTINUE = auto()
    DEFINE = auto()
    ELSE = auto()
    END = auto()
    IF = auto()
    RANGE = auto()
    TEMPLATE = auto()
    WITH = auto()


KEYWORDS = {
    ".": T.DOT,
    "block": T.BLOCK,
    "break": T.BREAK,
    "continue": T.CONTINUE,
    "define": T.DEFINE,
    "else": T.ELSE,
    "end": T.END,
    "if": T.IF,
    "range": T.RANGE,
    "nil": T.NIL,
    "template": T.TEMPLATE,
    "with": T.WITH,
}


@dataclass(frozen=True)
class Item:
    typ: T
    pos: int  # byte offset in the template (Go's error columns count from it)
    val: str
    line: int

    def __str__(self) -> str:
        """Go's item.String(), as parse errors quote a token."""
        if self.typ is T.EOF:
            return "EOF"
        if self.typ is T.ERROR:
            return self.val
        if self.typ in _KEYWORD_TYPES:
            return f"<{self.val}>"
        if len(self.val) > 10:
            return _go_quote(self.val[:10]) + "..."
        return _go_quote(self.val)


_KEYWORD_TYPES = frozenset(t for w, t in KEYWORDS.items() if w not in (".", "nil"))


def _go_quote(s: str) -> str:
    import json

    return json.dumps(s, ensure_ascii=False)


def _alnum(c: str) -> bool:
    return c == "_" or c.isalnum()


# a state of the scanner returns the next state (None: the end)
State = Callable[[], "State | None"]


class Lexer:
    """Scans the whole template into items (Go's lexer runs as a goroutine; the parser here
    takes the finished list)."""

    def __init__(self, src: str) -> None:
        self.src = src
        self.pos = 0
        self.start = 0
        self.paren_depth = 0
        self.items: list[Item] = []

    def run(self) -> list[Item]:
        state: State | None = self.lex_text
        while state is not None:
            state = state()
        return self.items

    # ---- the scanner's primitives -------------------------------------------------

    def peek(self) -> str:
        return self.src[self.pos] if self.pos < len(self.src) else ""

    def next(self) -> str:
        c = self.peek()
        if c:
            self.pos += 1
        return c

    def backup(self) -> None:
        self.pos -= 1

    def line_at(self, pos: int) -> int:
        return 1 + self.src.count("\n", 0, pos)

    def emit(self, typ: T) -> None:
        self.add(typ, self.src[self.start : self.pos])
        self.ignore()

    def add(self, typ: T, val: str) -> None:
        self.items.append(Item(typ, self.start, val, self.line_at(self.start)))

    def ignore(self) -> None:
        self.start = self.pos

    def skip_to(self, pos: int) -> None:
        self.pos = pos

    def error(self, message: str) -> None:
        # Go reports a lexing error on the line the scanner has reached
        self.items.append(Item(T.ERROR, self.start, message, self.line_at(self.pos)))

    def at_right_delim(self) -> tuple[bool, bool]:
        """(at "}}" or " -}}", with the trim marker)."""
        rest = self.src[self.pos :]
        if len(rest) >= 2 and rest[0] in SPACES and rest[1] == "-" and rest[2:].startswith(RIGHT):
            return True, True
        return rest.startswith(RIGHT), False

    def at_terminator(self) -> bool:
        c = self.peek()
        return not c or c in SPACES or c in ".,|:()" or self.src.startswith(RIGHT, self.pos)

    def accept(self, valid: str) -> bool:
        if self.peek() and self.peek() in valid:
            self.next()
            return True
        return False

    def accept_run(self, valid: str) -> None:
        while self.accept(valid):
            pass

    # ---- states ---------------------------------------------------------------------

    def lex_text(self) -> State | None:
        x = self.src.find(LEFT, self.pos)
        if x < 0:
            self.skip_to(len(self.src))
            if self.pos > self.start:
                self.emit(T.TEXT)
            self.emit(T.EOF)
            return None
        self.skip_to(x)
        trim = self._left_trim(x + len(LEFT))
        end = self.pos
        if trim:
            while end > self.start and self.src[end - 1] in SPACES:
                end -= 1
        if end > self.start:
            self.add(T.TEXT, self.src[self.start : end])
        self.ignore()
        return self.lex_left_delim

    def _left_trim(self, at: int) -> bool:
        s = self.src[at : at + 2]
        return len(s) == 2 and s[0] == "-" and s[1] in SPACES

    def lex_left_delim(self) -> State | None:
        trim = self._left_trim(self.pos + len(LEFT))
        after = 2 if trim else 0
        if self.src.startswith("/*", self.pos + len(LEFT) + after):
            self.skip_to(self.pos + len(LEFT) + after)
            self.ignore()
            return self.lex_comment
        self.skip_to(self.pos + len(LEFT))
        self.emit(T.LEFT_DELIM)
        self.skip_to(self.pos + after)
        self.ignore()
        self.paren_depth = 0
        return self.lex_inside_action

    def lex_comment(self) -> State | None:
        x = self.src.find("*/", self.pos + 2)
        if x < 0:
            self.error("unclosed comment")
            return None
        self.skip_to(x + 2)
        delim, trim = self.at_right_delim()
        if not delim:
            self.error("comment ends before closing delimiter")
            return None
        self.emit(T.COMMENT)
        self.skip_to(self.pos + (2 if trim else 0) + len(RIGHT))
        if trim:
            self._skip_spaces()
        self.ignore()
        return self.lex_text

    def _skip_spaces(self) -> None:
        while self.peek() and self.peek() in SPACES:
            self.next()

    def lex_right_delim(self) -> State | None:
        _, trim = self.at_right_delim()
        if trim:
            self.skip_to(self.pos + 2)
            self.ignore()
        self.skip_to(self.pos + len(RIGHT))
        self.emit(T.RIGHT_DELIM)
        if trim:
            self._skip_spaces()
            self.ignore()
        return self.lex_text

    def lex_inside_action(self) -> State | None:
        delim, _ = self.at_right_delim()
        if delim:
            if self.paren_depth == 0:
                return self.lex_right_delim
            self.error("unclosed left paren")
            return None
        c = self.next()
        if not c:
            self.error("unclosed action")
            return None
        if c in SPACES:
            self.backup()
            return self.lex_space
        simple = {"=": T.ASSIGN, "|": T.PIPE}
        if c in simple:
            self.emit(simple[c])
        elif c == ":":
            if self.next() != "=":
                self.error("expected :=")
                return None
            self.emit(T.DECLARE)
        elif c == '"':
            return self.lex_quote
        elif c == "`":
            return self.lex_raw_quote
        elif c == "$":
            return self.lex_variable
        elif c == "'":
            return self.lex_char
        elif c == "." and self.pos < len(self.src) and self.src[self.pos].isdigit():
            self.backup()
            return self.lex_number
        elif c == ".":
            return self.lex_field
        elif c in "+-" or c.isdigit():
            self.backup()
            return self.lex_number
        elif _alnum(c):
            self.backup()
            return self.lex_identifier
        elif c == "(":
            self.paren_depth += 1
            self.emit(T.LEFT_PAREN)
        elif c == ")":
            self.paren_depth -= 1
            if self.paren_depth < 0:
                self.error("unexpected right paren")
                return None
            self.emit(T.RIGHT_PAREN)
        elif c.isascii() and c.isprintable():
            self.emit(T.CHAR)
        else:
            self.error(f"unrecognized character in action: {_unicode(c)}")
            return None
        return self.lex_inside_action

    def lex_space(self) -> State | None:
        while self.peek() and self.peek() in SPACES:
            if self.at_right_delim() == (True, True):
                break  # the space of a " -}}" belongs to the delimiter
            self.next()
        if self.pos > self.start:
            self.emit(T.SPACE)
        return self.lex_inside_action

    def lex_identifier(self) -> State | None:
        while _alnum(self.peek()):
            self.next()
        if not self.at_terminator():
            self.error(f"bad character {_unicode(self.peek())}")
            return None
        word = self.src[self.start : self.pos]
        if word in KEYWORDS and word not in (".",):
            self.emit(KEYWORDS[word])
        elif word in ("true", "false"):
            self.emit(T.BOOL)
        else:
            self.emit(T.IDENTIFIER)
        return self.lex_inside_action

    def lex_field(self) -> State | None:
        return self._field_or_variable(T.FIELD)

    def lex_variable(self) -> State | None:
        return self._field_or_variable(T.VARIABLE)

    def _field_or_variable(self, typ: T) -> State | None:
        if self.at_terminator():  # "." alone is dot, "$" alone the root variable
            self.emit(T.VARIABLE if typ is T.VARIABLE else T.DOT)
            return self.lex_inside_action
        while _alnum(self.peek()):
            self.next()
        if not self.at_terminator():
            self.error(f"bad character {_unicode(self.peek())}")
            return None
        self.emit(typ)
        return self.lex_inside_action

    def lex_char(self) -> State | None:
        return self._lex_escaped("'", T.CHAR_CONSTANT, "unterminated character constant")

    def lex_number(self) -> State | None:
        if not self._scan_number():
            self.error(f"bad number syntax: {_go_quote(self.src[self.start : self.pos])}")
            return None
        self.emit(T.NUMBER)
        return self.lex_inside_action

    def _scan_number(self) -> bool:
        self.accept("+-")
        digits = "0123456789_"
        if self.accept("0"):
            if self.accept("xX"):
                digits = "0123456789abcdefABCDEF_"
            elif self.accept("oO"):
                digits = "01234567_"
            elif self.accept("bB"):
                digits = "01_"
        self.accept_run(digits)
        if self.accept("."):
            self.accept_run(digits)
        if len(digits) == 11 and self.accept("eE"):
            self.accept("+-")
            self.accept_run("0123456789_")
        if _alnum(self.peek()):
            self.next()
            return False
        return True

    def lex_quote(self) -> State | None:
        return self._lex_escaped('"', T.STRING, "unterminated quoted string")

    def _lex_escaped(self, close: str, typ: T, unterminated: str) -> State | None:
        """Up to CLOSE, backslash escapes skipped (lexChar and lexQuote of lex.go)."""
        while True:
            c = self.next()
            if c == "\\":
                if self.next() not in ("", "\n"):
                    continue
                c = ""
            if c in ("", "\n"):
                self.error(unterminated)
                return None
            if c == close:
                break
        self.emit(typ)
        return self.lex_inside_action

    def lex_raw_quote(self) -> State | None:
        x = self.src.find("`", self.pos)
        if x < 0:
            self.error("unterminated raw quoted string")
            return None
        self.skip_to(x + 1)
        self.emit(T.RAW_STRING)
        return self.lex_inside_action


def _unicode(c: str) -> str:
    """Go's %#U of a rune."""
    return f"U+{ord(c):04X} '{c}'" if c else "U+FFFD"


def lex(src: str) -> list[Item]:
    return Lexer(src).run()
