"""The Dockerfile parser of the classic builder, as dockerd 28 vendors it from
buildkit (`frontend/dockerfile/parser` for the syntax, `instructions` for the
per-instruction checks).

Two levels, as in moby:

- `parse_nodes` is moby's `parser.Parse`: directives, continuations, comments,
  heredocs, flags and each instruction's argument shape. Its errors read
  "failed to parse Dockerfile: ..." (dockerd wraps them with the file name).
- `parse` adds `instructions.Parse`: flag and argument checks per instruction
  ("dockerfile parse error on line N: ..."), then groups the instructions into
  stages after the meta ARGs.

Nothing is variable-expanded here: ENV/LABEL/ARG values keep their quotes,
because which parts are quoted decides what `shell.expand` substitutes later.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from berth.engine.build.shell import ExpansionError, Lexer, go_quote, is_space

DEFAULT_NAME = "Dockerfile"
# bufio.MaxScanTokenSize: a longer line stops moby's scanner
_MAX_LINE = 64 * 1024

COMMANDS: frozenset[str] = frozenset(
    {
        "add",
        "arg",
        "cmd",
        "copy",
        "entrypoint",
        "env",
        "expose",
        "from",
        "healthcheck",
        "label",
        "maintainer",
        "onbuild",
        "run",
        "shell",
        "stopsignal",
        "user",
        "volume",
        "workdir",
    }
)
_HEREDOC_COMMANDS = frozenset({"add", "copy", "run"})
_VALID_DIRECTIVES = frozenset({"syntax", "escape", "check"})
_MINIMUM_DURATION_NS = 1_000_000

# Go's regexp \s is [\t\n\f\r ]; \d is ASCII only
_WHITESPACE = re.compile(r"[\t\v\f\r ]+")
_DIRECTIVE = re.compile(
    r"#[\t\n\f\r ]*([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*\Z"
)
_HEREDOC = re.compile(r"([0-9]*)<<(-?)[\t\n\f\r ]*([^<]*)\Z", re.DOTALL)
_LEADING_TABS = re.compile(r"^\t+", re.MULTILINE)
_STAGE_NAME = re.compile(r"[a-z][a-z0-9_.-]*\Z")
_ONBUILD_PREFIX = re.compile(r"^[\t\n\f\r ]*ONBUILD[\t\n\f\r ]*", re.IGNORECASE)


class DockerfileError(Exception):
    """A Dockerfile dockerd refuses; `message` is the text dockerd answers."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


class _Invalid(Exception):
    # internal: the bare error, before the level's prefix is added
    line: int | None = None


@dataclass(frozen=True)
class Heredoc:
    """A heredoc body. `content` is raw, as moby keeps it; with `chomp` (`<<-`)
    the consumer strips leading tabs (`data()` does)."""

    name: str
    content: str
    expand: bool
    chomp: bool

    def data(self) -> str:
        return chomp_heredoc(self.content) if self.chomp else self.content


@dataclass(frozen=True)
class Instruction:
    """One instruction. `args` per kind:

    - RUN/CMD/ENTRYPOINT/SHELL: the JSON array's strings, or a 1-tuple with the
      rest of the line (shell form);
    - ENV/LABEL: moby's node triples (name, value, "=" or "" for the legacy
      `ENV name value` form), values still quoted: use `parse_key_values`;
    - ARG: the words, still quoted: use `parse_args`;
    - ONBUILD: a 1-tuple with the trigger expression (what goes in the image's
      OnBuild list);
    - HEALTHCHECK: the type then its command: use `parse_healthcheck`;
    - MAINTAINER/STOPSIGNAL/USER/WORKDIR: a 1-tuple with the rest of the line;
    - ADD/COPY/VOLUME (non-JSON), EXPOSE, FROM: split on whitespace.

    `flags` are checked and normalised (bool flags read "true"/"false");
    `raw_flags` are the words as written.
    """

    cmd: str
    args: tuple[str, ...]
    json_form: bool
    flags: tuple[tuple[str, str], ...]
    original: str
    line: int
    heredocs: tuple[Heredoc, ...] = ()
    end_line: int = 0
    raw_flags: tuple[str, ...] = ()

    def flag(self, name: str, default: str = "") -> str:
        for k, v in self.flags:
            if k == name:
                return v
        return default

    def flag_values(self, name: str) -> list[str]:
        return [v for k, v in self.flags if k == name]


@dataclass(frozen=True)
class Stage:
    name: str
    base: str
    platform: str
    instructions: tuple[Instruction, ...]
    from_instruction: Instruction


@dataclass(frozen=True)
class Dockerfile:
    escape: str
    meta_args: tuple[Instruction, ...]
    stages: tuple[Stage, ...]
    # the lines dockerd prints to the build's stderr, "[WARNING]: ..." each
    warnings: tuple[str, ...]
    instruction_count: int
    # the `# syntax=` directive, which the classic builder ignores
    syntax: str = ""


@dataclass(frozen=True)
class Node:
    """moby's parser.Node for one instruction: the syntax level, unchecked."""

    cmd: str  # as written
    args: tuple[str, ...]  # moby's nodeArgs
    json_form: bool
    raw_flags: tuple[str, ...]
    original: str  # the joined line, untrimmed
    start_line: int
    end_line: int
    heredocs: tuple[Heredoc, ...] = ()
    child: Node | None = None  # ONBUILD's trigger


@dataclass(frozen=True)
class NodeResult:
    nodes: tuple[Node, ...]
    escape: str
    warnings: tuple[str, ...]
    syntax: str = ""


def chomp_heredoc(content: str) -> str:
    return _LEADING_TABS.sub("", content)


# -- the syntax level (parser.Parse) ------------------------------------------------


class _Directives:
    def __init__(self) -> None:
        self.escape = "\\"
        self.continuation = _continuation_regex("\\")
        self.done = False
        self.seen: dict[str, str] = {}

    def set_escape(self, s: str) -> None:
        if s not in ("`", "\\"):
            raise _Invalid(f"invalid escape token '{s}' does not match ` or \\")
        self.escape = s
        self.continuation = _continuation_regex(s)

    def possible_directive(self, line: str) -> bool:
        # directives count only at the very top: the first line that is not one
        # (a blank line too) ends them for good
        if self.done:
            return False
        m = _DIRECTIVE.match(line)
        if m is None:
            self.done = True
            return False
        key = m.group(1).lower()
        if key not in _VALID_DIRECTIVES:
            self.done = True
            return False
        if key in self.seen:
            raise _Invalid(f"only one {key} parser directive can be used")
        self.seen[key] = m.group(2)
        if key == "escape":
            self.set_escape(m.group(2))
        return True


def _continuation_regex(esc: str) -> re.Pattern[str]:
    e = re.escape(esc)
    return re.compile(rf"([^{e}]){e}[ \t]*\Z|^{e}[ \t]*\Z")


def _trim_left_space(s: str) -> str:
    i = 0
    while i < len(s) and is_space(s[i]):
        i += 1
    return s[i:]


def _trim_space(s: str) -> str:
    s = _trim_left_space(s)
    j = len(s)
    while j > 0 and is_space(s[j - 1]):
        j -= 1
    return s[:j]


def _is_comment(line: str) -> bool:
    return _trim_left_space(line).startswith("#")


def _trim_newline(line: str) -> str:
    return line.rstrip("\r\n")


def _process_line(d: _Directives, token: str, strip_left: bool) -> str:
    token = _trim_newline(token)
    if strip_left:
        token = _trim_left_space(token)
    d.possible_directive(token)
    return "" if _is_comment(token) else token


def _trim_continuation(line: str, d: _Directives) -> tuple[str, bool]:
    if d.continuation.search(line):
        return d.continuation.sub(r"\1", line, count=1), False
    return line, True


def _split_lines(text: str) -> list[str]:
    # like moby's scanLines: split on \n only, keeping it
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def parse_nodes(text: str | bytes, name: str = DEFAULT_NAME) -> NodeResult:
    """moby's parser.Parse.

    Raises:
        DockerfileError: "failed to parse <name>: ...".
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", "surrogateescape")
    try:
        return _parse_nodes(text)
    except _Invalid as e:
        raise DockerfileError(f"failed to parse {name}: {e}", e.line) from None


def _located(err: _Invalid, line: int) -> _Invalid:
    err.line = line
    return err


def _parse_nodes(text: str) -> NodeResult:
    d = _Directives()
    lines = _split_lines(text)
    too_long = False
    for i, raw in enumerate(lines):
        if len(raw.encode("utf-8", "surrogateescape")) > _MAX_LINE:
            lines = lines[:i]
            too_long = True
            break
    if lines:
        lines[0] = lines[0].removeprefix("\ufeff")
    nodes: list[Node] = []
    warnings: list[str] = []
    current = 0
    it = iter(lines)
    for raw in it:
        try:
            first = _process_line(d, raw, True)
        except _Invalid as e:
            raise _located(e, current) from None
        current += 1
        start = current
        buf, end_of_line = _trim_continuation(first, d)
        if end_of_line and buf == "":
            continue
        parts = [buf]
        empty_continuation = False
        while not end_of_line:
            nxt = next(it, None)
            if nxt is None:
                break
            try:
                cont = _process_line(d, nxt, False)
            except _Invalid as e:
                raise _located(e, current) from None
            current += 1
            if _is_comment(nxt):
                continue
            if _trim_left_space(_trim_newline(cont)) == "":
                empty_continuation = True
                continue
            cont, end_of_line = _trim_continuation(cont, d)
            parts.append(cont)
        line = "".join(parts)
        if empty_continuation:
            warnings.append("[WARNING]: Empty continuation line found in: " + line)
        try:
            node = _node_from_line(line, d)
        except _Invalid as e:
            raise _located(e, start) from None
        if _can_contain_heredoc(node) and "<<" in line:
            docs: list[Heredoc] = []
            try:
                found = _heredocs_from_line(line)
            except _Invalid as e:
                raise _located(e, start) from None
            for doc in found:
                body: list[str] = []
                terminated = False
                for body_line in it:
                    current += 1
                    candidate = _trim_newline(body_line)
                    if doc.chomp:
                        candidate = candidate.lstrip("\t")
                    if candidate == doc.name:
                        terminated = True
                        break
                    body.append(body_line)
                if not terminated:
                    raise _located(_Invalid("unterminated heredoc"), start)
                docs.append(Heredoc(doc.name, "".join(body), doc.expand, doc.chomp))
            node = _replace(node, heredocs=tuple(docs))
        nodes.append(_replace(node, start_line=start, end_line=current))
    if not nodes:
        raise _located(_Invalid("file with no instructions"), current)
    if too_long:
        raise _located(
            _Invalid(f"dockerfile line greater than max allowed size of {_MAX_LINE - 1}"), current
        )
    if warnings:
        warnings.append(
            "[WARNING]: Empty continuation lines will become errors in a future release."
        )
    return NodeResult(tuple(nodes), d.escape, tuple(warnings), d.seen.get("syntax", ""))


def _replace(node: Node, **changes: object) -> Node:
    values = {f: getattr(node, f) for f in Node.__dataclass_fields__}
    values.update(changes)
    return Node(**values)  # type: ignore[arg-type]


def _can_contain_heredoc(node: Node) -> bool:
    if node.cmd.lower() == "onbuild" and node.child is not None:
        node = node.child
    return node.cmd.lower() in _HEREDOC_COMMANDS and not node.json_form


def parse_heredoc_word(word: str) -> Heredoc | None:
    """moby's ParseHeredoc: the heredoc a word like `<<EOF`, `<<-"EOF"` opens
    (content empty), or None. The builder maps COPY/ADD sources with it.

    Raises:
        DockerfileError: for an unbalanced quote in the delimiter.
    """
    try:
        return _heredoc_word(word)
    except _Invalid as e:
        raise DockerfileError(str(e)) from None


def _heredoc_word(word: str) -> Heredoc | None:
    m = _HEREDOC.match(word)
    if m is None or m.group(3) == "":
        return None
    rest = m.group(3)
    try:
        words = Lexer("\\", skip_unset_env=True).process_words(rest, {})
        raw = Lexer("\\", skip_unset_env=True, raw_quotes=True).process_words(rest, {})
    except ExpansionError as e:
        raise _Invalid(e.message) from None
    if len(words) != 1:
        return None
    if len(raw) != len(words):
        raise _Invalid(f"internal lexing of heredoc produced inconsistent results: {rest}")
    # a quoted delimiter (any part of it) turns expansion of the body off
    quotes = words[0].count("'") + words[0].count('"')
    raw_quotes = raw[0].count("'") + raw[0].count('"')
    return Heredoc(words[0], "", quotes == raw_quotes, m.group(2) == "-")


def _heredocs_from_line(line: str) -> list[Heredoc]:
    lex = Lexer("\\", raw_quotes=True, raw_escapes=True, skip_unset_env=True)
    try:
        words = lex.process_words(line, {})
    except ExpansionError:
        words = []
    docs = []
    for word in words:
        doc = _heredoc_word(word)
        if doc is not None:
            docs.append(doc)
    return docs


def _split_command(line: str, d: _Directives) -> tuple[str, list[str], str]:
    cmdline = _WHITESPACE.split(_trim_space(line), maxsplit=1)
    args = ""
    flags: list[str] = []
    if len(cmdline) == 2:
        args, flags = _extract_flags(cmdline[1], d.escape)
    return cmdline[0], flags, _trim_space(args)


def _extract_flags(line: str, esc: str) -> tuple[str, list[str]]:
    # the leading "--name=value" words, quotes and escapes resolved; "--" ends them
    words: list[str] = []
    in_spaces, in_word, in_quote = 0, 1, 2
    phase = in_spaces
    buf: list[str] = []
    quote = ""
    blank_ok = False
    pos = 0
    n = len(line)
    while pos <= n:
        ch = line[pos] if pos < n else ""
        if phase == in_spaces:
            if pos == n:
                break
            if is_space(ch):
                pos += 1
                continue
            if ch != "-" or pos + 1 == n or line[pos + 1] != "-":
                return line[pos:], words
            phase = in_word
        if phase in (in_word, in_quote) and pos == n:
            word = "".join(buf)
            if word != "--" and (blank_ok or word):
                words.append(word)
            break
        if phase == in_word:
            if is_space(ch):
                word = "".join(buf)
                phase = in_spaces
                if word == "--":
                    return line[pos:], words
                if blank_ok or word:
                    words.append(word)
                buf = []
                blank_ok = False
                pos += 1
                continue
            if ch in ("'", '"'):
                quote = ch
                blank_ok = True
                phase = in_quote
                pos += 1
                continue
            if ch == esc:
                if pos + 1 == n:
                    pos += 1
                    continue
                pos += 1
                ch = line[pos]
            buf.append(ch)
            pos += 1
            continue
        # in_quote
        if ch == quote:
            phase = in_word
            pos += 1
            continue
        if ch == esc:
            if pos + 1 == n:
                phase = in_word
                pos += 1
                continue
            pos += 1
            ch = line[pos]
        buf.append(ch)
        pos += 1
    return "", words


def parse_words(rest: str, esc: str = "\\") -> list[str]:
    """moby's parseWords: split on whitespace, quotes and escapes kept."""
    words: list[str] = []
    in_spaces, in_word, in_quote = 0, 1, 2
    phase = in_spaces
    quote = ""
    blank_ok = False
    buf: list[str] = []
    pos = 0
    n = len(rest)
    while pos <= n:
        ch = rest[pos] if pos < n else ""
        if phase == in_spaces:
            if pos == n:
                break
            if is_space(ch):
                pos += 1
                continue
            phase = in_word
        if phase in (in_word, in_quote) and pos == n:
            if blank_ok or buf:
                words.append("".join(buf))
            break
        if phase == in_word:
            if is_space(ch):
                phase = in_spaces
                if blank_ok or buf:
                    words.append("".join(buf))
                buf = []
                blank_ok = False
                pos += 1
                continue
            if ch in ("'", '"'):
                quote = ch
                blank_ok = True
                phase = in_quote
            if ch == esc:
                if pos + 1 == n:
                    pos += 1
                    continue
                # unquoted, an escape keeps the character after it, quote or not
                buf.append(ch)
                pos += 1
                ch = rest[pos]
            buf.append(ch)
            pos += 1
            continue
        # in_quote
        if ch == quote:
            phase = in_word
        # nothing escapes inside single quotes
        if ch == esc and quote != "'":
            if pos + 1 == n:
                phase = in_word
                pos += 1
                continue
            pos += 1
            buf.append(ch)
            ch = rest[pos]
        buf.append(ch)
        pos += 1
    return words


class _NotStringArray(Exception):
    pass


def _reject_constant(name: str) -> object:
    # Go's encoding/json has no NaN or Infinity
    raise ValueError(name)


def _parse_json(rest: str) -> list[str] | None:
    rest = _trim_left_space(rest)
    if not rest.startswith("["):
        return None
    try:
        value = json.loads(rest, parse_constant=_reject_constant)
    except ValueError:
        return None
    if not isinstance(value, list):
        return None
    if not all(isinstance(v, str) for v in value):
        raise _NotStringArray()
    return value


_NOT_STRINGS = "when using JSON array syntax, arrays must be comprised of strings only"


def _maybe_json(rest: str) -> tuple[list[str], bool]:
    if rest == "":
        return [], False
    try:
        value = _parse_json(rest)
    except _NotStringArray:
        raise _Invalid(_NOT_STRINGS) from None
    if value is not None:
        return value, True
    return [rest], False


def _maybe_json_list(rest: str) -> tuple[list[str], bool]:
    try:
        value = _parse_json(rest)
    except _NotStringArray:
        raise _Invalid(_NOT_STRINGS) from None
    if value is not None:
        return value, True
    return _whitespace_split(rest), False


def _whitespace_split(rest: str) -> list[str]:
    return [] if rest == "" else _WHITESPACE.split(rest)


def _name_val(rest: str, key: str, esc: str) -> list[str]:
    # both forms: legacy `KEY name value` (one pair, rest of line as value)
    # and `KEY n1=v1 n2=v2`; which one is decided by the first word
    words = parse_words(rest, esc)
    if not words:
        return []
    if "=" not in words[0]:
        parts = _WHITESPACE.split(rest, maxsplit=1)
        if len(parts) < 2:
            raise _Invalid(f"{key} must have two arguments")
        return [parts[0], parts[1], ""]
    out: list[str] = []
    for word in words:
        if "=" not in word:
            raise _Invalid(
                f"Syntax error - can't find = in {go_quote(word)}. Must be of the form: name=value"
            )
        k, v = word.split("=", 1)
        out += [k, v, "="]
    return out


def _health_args(rest: str) -> tuple[list[str], bool]:
    sep = 0
    while sep < len(rest) and not is_space(rest[sep]):
        sep += 1
    nxt = sep
    while nxt < len(rest) and is_space(rest[nxt]):
        nxt += 1
    if sep == 0:
        return [], False
    cmd, is_json = _maybe_json(rest[nxt:])
    return [rest[:sep], *cmd], is_json


def _node_from_line(line: str, d: _Directives) -> Node:
    cmd, flags, rest = _split_command(line, d)
    kind = cmd.lower()
    is_json = False
    child: Node | None = None
    args: list[str]
    if kind in ("run", "cmd", "entrypoint", "shell"):
        args, is_json = _maybe_json(rest)
    elif kind in ("add", "copy", "volume"):
        args, is_json = _maybe_json_list(rest)
    elif kind in ("env", "label"):
        args = _name_val(rest, "ENV" if kind == "env" else "LABEL", d.escape)
    elif kind == "arg":
        args = parse_words(rest, d.escape)
    elif kind in ("expose", "from"):
        args = _whitespace_split(rest)
    elif kind == "healthcheck":
        args, is_json = _health_args(rest)
    elif kind in ("maintainer", "stopsignal", "user", "workdir"):
        args = [rest] if rest else []
    elif kind == "onbuild":
        args = []
        if rest:
            child = _node_from_line(rest, d)
            args = [child.cmd, *child.args]
    else:
        # moby's parseIgnore: unknown instructions fail later, with a line number
        args = [""]
    return Node(cmd, tuple(args), is_json, tuple(flags), line, 0, 0, (), child)


# -- the instruction level (instructions.Parse) -------------------------------------


def _levenshtein(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def _suggest(value: str, options: list[str], case_sensitive: bool) -> str:
    """buildkit's suggest.Search: the closest option under distance 3, or ""."""
    orig = value
    if not case_sensitive:
        value = value.lower()
    match = ""
    best = 3
    for opt in sorted(options):
        if not case_sensitive:
            opt = opt.lower()
        if value == opt:
            return ""
        dist = _levenshtein(value, opt)
        if dist < best:
            best = dist
            if case_sensitive:
                match = opt
            elif orig == orig.lower():
                match = opt.lower()
            elif orig == orig.upper():
                match = opt.upper()
            else:
                match = opt
    return match


def _with_suggestion(msg: str, value: str, options: list[str], case_sensitive: bool) -> str:
    match = _suggest(value, options, case_sensitive)
    return f"{msg} (did you mean {match}?)" if match else msg


_BOOL, _STRING, _STRINGS = "bool", "string", "strings"


class _Flags:
    """moby's BFlags: the flags an instruction accepts, checked on parse()."""

    def __init__(self, raw: tuple[str, ...]) -> None:
        self.raw = raw
        self.kinds: dict[str, str] = {}
        self.defaults: dict[str, str] = {}
        self.used: list[tuple[str, str]] = []

    def add(self, name: str, kind: str, default: str = "") -> None:
        self.kinds[name] = kind
        self.defaults[name] = "false" if kind == _BOOL else default

    def parse(self) -> None:
        seen: set[str] = set()
        for a in self.raw:
            if a == "--":
                return
            if not a.startswith("--"):
                raise _Invalid(f"arg should start with -- : {a}")
            flag_name, has_value, value = a.partition("=")
            arg = flag_name[2:]
            kind = self.kinds.get(arg)
            if kind is None:
                raise _Invalid(
                    _with_suggestion(f"unknown flag: {flag_name}", arg, list(self.kinds), True)
                )
            if arg in seen and kind != _STRINGS:
                raise _Invalid(f"duplicate flag specified: {flag_name}")
            seen.add(arg)
            if kind == _BOOL:
                if has_value and value == "":
                    raise _Invalid(f"missing a value on flag: {flag_name}")
                lower = value.lower()
                if lower not in ("", "true", "false"):
                    raise _Invalid(f"expecting boolean value for flag {flag_name}, not: {value}")
                self.used.append((arg, "false" if lower == "false" else "true"))
            else:
                if not has_value:
                    raise _Invalid(f"missing a value on flag: {flag_name}")
                self.used.append((arg, value))

    def value(self, name: str) -> str:
        for k, v in reversed(self.used):
            if k == name:
                return v
        return self.defaults.get(name, "")


def _naive_flags(raw: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    out = []
    for a in raw:
        name, _, value = a.removeprefix("--").partition("=")
        out.append((name, value))
    return tuple(out)


def _at_least_one(cmd: str) -> _Invalid:
    return _Invalid(f"{cmd} requires at least one argument")


def _exactly_one(cmd: str) -> _Invalid:
    return _Invalid(f"{cmd} requires exactly one argument")


def _no_destination(cmd: str) -> _Invalid:
    return _Invalid(
        f"{cmd} requires at least two arguments, but only one was provided. Destination could not be determined"
    )


def _kvps(args: tuple[str, ...], cmd: str) -> list[tuple[str, str]]:
    if not args:
        raise _at_least_one(cmd)
    if len(args) % 3:
        raise _Invalid(f"Bad input to {cmd}, too many arguments")
    out = []
    for i in range(0, len(args), 3):
        if args[i] == "":
            raise _Invalid(f"{cmd} names can not be blank")
        out.append((args[i], args[i + 1]))
    return out


def _stage_name(args: tuple[str, ...]) -> str:
    if len(args) == 3 and args[1].lower() == "as":
        name = args[2].lower()
        if not _STAGE_NAME.match(name):
            raise _Invalid(
                f"invalid name for build stage: {go_quote(args[2])}, name can't start with a number or contain symbols"
            )
        return name
    if len(args) != 1:
        raise _Invalid("FROM requires either one or three arguments")
    return ""


def _check_sources_and_dest(node: Node, cmd: str) -> None:
    if _heredoc_word(node.args[-1]) is not None:
        raise _Invalid(f"{cmd} cannot accept a heredoc as a destination")


def _onbuild_expression(node: Node) -> str:
    expression = _ONBUILD_PREFIX.sub("", node.original, count=1)
    for doc in node.heredocs:
        expression += "\n" + doc.content + doc.name
    return expression


def _instruction(node: Node) -> Instruction:
    """moby's ParseInstruction: the checks one instruction must pass."""
    kind = node.cmd.lower()
    args = node.args
    fl = _Flags(node.raw_flags)
    parsed = True
    if kind == "env":
        fl.parse()
        _kvps(args, "ENV")
    elif kind == "maintainer":
        if len(args) != 1:
            raise _exactly_one("MAINTAINER")
        fl.parse()
    elif kind == "label":
        fl.parse()
        _kvps(args, "LABEL")
    elif kind in ("add", "copy"):
        if len(args) < 2:
            raise _no_destination(kind.upper())
        fl.add("chown", _STRING)
        if kind == "copy":
            fl.add("from", _STRING)
        fl.add("chmod", _STRING)
        fl.add("link", _BOOL)
        if kind == "add":
            fl.add("keep-git-dir", _BOOL)
            fl.add("checksum", _STRING)
            fl.add("unpack", _BOOL)
        fl.add("exclude", _STRINGS)
        fl.parse()
        _check_sources_and_dest(node, kind.upper())
    elif kind == "from":
        _stage_name(args)
        fl.add("platform", _STRING)
        fl.parse()
    elif kind == "onbuild":
        if not args:
            raise _at_least_one("ONBUILD")
        fl.parse()
        trigger = _trim_space(args[0]).upper()
        if trigger == "ONBUILD":
            raise _Invalid("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
        if trigger in ("MAINTAINER", "FROM"):
            raise _Invalid(f"{trigger} isn't allowed as an ONBUILD trigger")
        args = (_onbuild_expression(node),)
    elif kind == "workdir":
        if len(args) != 1:
            raise _exactly_one("WORKDIR")
        fl.parse()
    elif kind == "run":
        # the flags the parser knows; the classic builder then refuses any used
        fl.add("device", _STRINGS)
        fl.add("mount", _STRINGS)
        fl.add("network", _STRING, "default")
        fl.parse()
        network = fl.value("network")
        if network not in ("default", "none", "host"):
            raise _Invalid(f"invalid network mode {go_quote(network)}")
    elif kind in ("cmd", "entrypoint"):
        fl.parse()
    elif kind == "healthcheck":
        if not args:
            raise _at_least_one("HEALTHCHECK")
        if args[0].upper() == "NONE":
            if len(args) != 1:
                raise _Invalid("HEALTHCHECK NONE takes no arguments")
            parsed = False
        else:
            for name in ("interval", "timeout", "start-period", "start-interval", "retries"):
                fl.add(name, _STRING)
            fl.parse()
            _health_config(args, node.json_form, fl)
    elif kind == "expose":
        if not args:
            raise _at_least_one("EXPOSE")
        fl.parse()
    elif kind == "user":
        if len(args) != 1:
            raise _exactly_one("USER")
        fl.parse()
    elif kind == "volume":
        if not args:
            raise _at_least_one("VOLUME")
        fl.parse()
        if any(_trim_space(v) == "" for v in args):
            raise _Invalid("VOLUME specified can not be an empty string")
    elif kind == "stopsignal":
        if len(args) != 1:
            raise _exactly_one("STOPSIGNAL")
        parsed = False
    elif kind == "arg":
        _arg_pairs(args)
        parsed = False
    elif kind == "shell":
        fl.parse()
        if not args:
            raise _at_least_one("SHELL")
        if not node.json_form:
            raise _Invalid("SHELL requires the arguments to be in JSON form")
    else:
        raise _Invalid(
            _with_suggestion(
                f"unknown instruction: {node.cmd}",
                node.cmd,
                [c.upper() for c in COMMANDS],
                False,
            )
        )
    return Instruction(
        cmd=kind,
        args=tuple(args),
        json_form=node.json_form,
        flags=tuple(fl.used) if parsed else _naive_flags(node.raw_flags),
        original=_trim_space(node.original),
        line=node.start_line,
        heredocs=node.heredocs,
        end_line=node.end_line,
        raw_flags=node.raw_flags,
    )


def parse(text: str | bytes, name: str = DEFAULT_NAME) -> Dockerfile:
    """Parse a Dockerfile as the classic builder does before running a step.

    Raises:
        DockerfileError: with the text dockerd answers.
    """
    if len(text) == 0:
        raise DockerfileError(f"the Dockerfile ({name}) cannot be empty")
    result = parse_nodes(text, name)
    meta: list[Instruction] = []
    stages: list[tuple[Instruction, list[Instruction]]] = []
    for node in result.nodes:
        try:
            inst = _instruction(node)
        except _Invalid as e:
            raise DockerfileError(
                f"dockerfile parse error on line {node.start_line}: {e}", node.start_line
            ) from None
        if not stages and inst.cmd == "arg":
            meta.append(inst)
        elif inst.cmd == "from":
            stages.append((inst, []))
        elif not stages:
            raise DockerfileError("no build stage in current context", node.start_line)
        else:
            stages[-1][1].append(inst)
    built = tuple(
        Stage(
            name=_stage_name(f.args),
            base=f.args[0],
            platform=f.flag("platform"),
            instructions=tuple(body),
            from_instruction=f,
        )
        for f, body in stages
    )
    count = len(meta) + sum(1 + len(s.instructions) for s in built)
    return Dockerfile(result.escape, tuple(meta), built, result.warnings, count, result.syntax)


# -- helpers the builder calls per instruction --------------------------------------


def parse_key_values(inst: Instruction) -> list[tuple[str, str]]:
    """ENV/LABEL's (name, value) pairs, values still quoted and unexpanded:
    the builder passes name and value through `shell.expand`, which removes the
    quotes as it expands.

    Raises:
        DockerfileError: dockerd's text, e.g. "ENV names can not be blank".
    """
    try:
        return _kvps(inst.args, inst.cmd.upper())
    except _Invalid as e:
        raise DockerfileError(str(e), inst.line) from None


def _arg_pairs(args: tuple[str, ...]) -> list[tuple[str, str | None]]:
    if not args:
        raise _at_least_one("ARG")
    out: list[tuple[str, str | None]] = []
    for arg in args:
        if "=" in arg:
            k, v = arg.split("=", 1)
            if k == "":
                raise _Invalid("ARG names can not be blank")
            out.append((k, v))
        else:
            out.append((arg, None))
    return out


def parse_args(inst: Instruction) -> list[tuple[str, str | None]]:
    """Every `name[=default]` of an ARG (moby accepts several per instruction),
    still quoted and unexpanded."""
    try:
        return _arg_pairs(inst.args)
    except _Invalid as e:
        raise DockerfileError(str(e), inst.line) from None


def parse_arg(inst: Instruction) -> tuple[str, str | None]:
    """The single `name[=default]` of an ARG; an ARG with several names is an
    error here — use `parse_args` for those."""
    pairs = parse_args(inst)
    if len(pairs) != 1:
        raise ValueError(f"ARG declares {len(pairs)} names; use parse_args")
    return pairs[0]


def parse_healthcheck(inst: Instruction) -> dict[str, object] | None:
    """HEALTHCHECK as the image config's Healthcheck (durations in ns).

    Raises:
        DockerfileError: dockerd's text for bad flags or arguments.
    """
    if not inst.args:
        raise DockerfileError("HEALTHCHECK requires at least one argument", inst.line)
    if inst.args[0].upper() == "NONE":
        if len(inst.args) != 1:
            raise DockerfileError("HEALTHCHECK NONE takes no arguments", inst.line)
        return {"Test": ["NONE"]}
    fl = _Flags(inst.raw_flags)
    for name in ("interval", "timeout", "start-period", "start-interval", "retries"):
        fl.add(name, _STRING)
    try:
        fl.parse()
        return _health_config(inst.args, inst.json_form, fl)
    except _Invalid as e:
        raise DockerfileError(str(e), inst.line) from None


def _health_config(args: tuple[str, ...], is_json: bool, fl: _Flags) -> dict[str, object]:
    typ = args[0].upper()
    if typ != "CMD":
        raise _Invalid(f"Unknown type {go_quote(typ)} in HEALTHCHECK (try CMD)")
    rest = list(args[1:])
    if not rest:
        raise _Invalid("Missing command after HEALTHCHECK CMD")
    test = ["CMD", *rest] if is_json else ["CMD-SHELL", " ".join(rest)]
    config: dict[str, object] = {"Test": test}
    for flag, key in (
        ("interval", "Interval"),
        ("timeout", "Timeout"),
        ("start-period", "StartPeriod"),
        ("start-interval", "StartInterval"),
    ):
        config[key] = _interval(flag, fl.value(flag))
    retries = fl.value("retries")
    if retries:
        n = go_parse_int(retries, 32)
        if n < 0:
            raise _Invalid(f"--retries cannot be negative ({n})")
        config["Retries"] = n
    else:
        config["Retries"] = 0
    return config


def _interval(name: str, value: str) -> int:
    if value == "":
        return 0
    d = go_parse_duration(value)
    if d == 0:
        return 0
    if d < _MINIMUM_DURATION_NS:
        raise _Invalid(f"Interval {go_quote(name)} cannot be less than 1ms")
    return d


_UNITS = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,
    "\u03bcs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}


def go_parse_duration(s: str) -> int:
    """Go's time.ParseDuration, in nanoseconds, with Go's error texts."""
    orig = s
    invalid = _Invalid(f"time: invalid duration {go_quote(orig)}")
    neg = False
    if s and s[0] in "+-":
        neg = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0
    if s == "":
        raise invalid
    total = 0
    while s:
        if not (s[0] == "." or "0" <= s[0] <= "9"):
            raise invalid
        i = 0
        while i < len(s) and "0" <= s[i] <= "9":
            i += 1
        pre = i > 0
        whole = int(s[:i]) if pre else 0
        s = s[i:]
        frac, scale, post = 0, 1.0, False
        if s.startswith("."):
            s = s[1:]
            i = 0
            while i < len(s) and "0" <= s[i] <= "9":
                i += 1
            post = i > 0
            digits = s[:i]
            s = s[i:]
            # Go stops accumulating digits once the fraction would overflow
            for ch in digits:
                if frac > (1 << 63) // 10:
                    break
                frac = frac * 10 + int(ch)
                scale *= 10
        if not pre and not post:
            raise invalid
        i = 0
        while i < len(s) and not (s[i] == "." or "0" <= s[i] <= "9"):
            i += 1
        if i == 0:
            raise _Invalid(f"time: missing unit in duration {go_quote(orig)}")
        unit_name = s[:i]
        s = s[i:]
        unit = _UNITS.get(unit_name)
        if unit is None:
            raise _Invalid(f"time: unknown unit {go_quote(unit_name)} in duration {go_quote(orig)}")
        if whole > (1 << 63) // unit:
            raise invalid
        v = whole * unit
        if frac:
            v += int(float(frac) * (float(unit) / scale))
        total += v
        if total > 1 << 63:
            raise invalid
    if not neg and total > (1 << 63) - 1:
        raise invalid
    return -total if neg else total


def go_parse_int(s: str, bits: int) -> int:
    """Go's strconv.ParseInt(s, 10, bits), with its error texts."""
    digits = s[1:] if s[:1] in ("+", "-") else s
    if digits == "" or not all("0" <= c <= "9" for c in digits):
        raise _Invalid(f"strconv.ParseInt: parsing {go_quote(s)}: invalid syntax")
    n = int(s)
    if not -(1 << (bits - 1)) <= n < 1 << (bits - 1):
        raise _Invalid(f"strconv.ParseInt: parsing {go_quote(s)}: value out of range")
    return n
