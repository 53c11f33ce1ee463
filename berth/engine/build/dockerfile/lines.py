"""moby's parser.Parse: the file as lines; directives at the top, comments, continuations
(empty ones warned about), each instruction's node, and the heredoc bodies after it."""

from __future__ import annotations

import re

from .heredocs import can_contain_heredoc, heredocs_from_line
from .model import DEFAULT_NAME, DockerfileError, Heredoc, Invalid, Node, NodeResult
from .nodes import node_from_line
from .text import trim_left_space

# bufio.MaxScanTokenSize: a longer line stops moby's scanner
_MAX_LINE = 64 * 1024
_VALID_DIRECTIVES = frozenset({"syntax", "escape", "check"})
_DIRECTIVE = re.compile(
    r"#[\t\n\f\r ]*([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*\Z"
)


class _Directives:
    def __init__(self) -> None:
        self.escape = "\\"
        self.continuation = _continuation_regex("\\")
        self.done = False
        self.seen: dict[str, str] = {}

    def set_escape(self, s: str) -> None:
        if s not in ("`", "\\"):
            raise Invalid(f"invalid escape token '{s}' does not match ` or \\")
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
            raise Invalid(f"only one {key} parser directive can be used")
        self.seen[key] = m.group(2)
        if key == "escape":
            self.set_escape(m.group(2))
        return True


def _continuation_regex(esc: str) -> re.Pattern[str]:
    e = re.escape(esc)
    return re.compile(rf"([^{e}]){e}[ \t]*\Z|^{e}[ \t]*\Z")


def _is_comment(line: str) -> bool:
    return trim_left_space(line).startswith("#")


def _trim_newline(line: str) -> str:
    return line.rstrip("\r\n")


def _process_line(d: _Directives, token: str, strip_left: bool) -> str:
    token = _trim_newline(token)
    if strip_left:
        token = trim_left_space(token)
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
    except Invalid as e:
        raise DockerfileError(f"failed to parse {name}: {e}", e.line) from None


def _located(err: Invalid, line: int) -> Invalid:
    err.line = line
    return err


class _Lines:
    """The file's lines, read once, with the number of the last one read (moby's
    currentLine)."""

    def __init__(self, lines: list[str]) -> None:
        self._it = iter(lines)
        self.current = 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        return next(self._it)

    def take(self) -> str | None:
        return next(self._it, None)


def _scanned_lines(text: str) -> tuple[list[str], bool]:
    """The lines moby's scanner reads (up to one too long, then it stops), and whether it
    stopped; a BOM before the first one is dropped."""
    lines = _split_lines(text)
    too_long = False
    for i, raw in enumerate(lines):
        if len(raw.encode("utf-8", "surrogateescape")) > _MAX_LINE:
            lines = lines[:i]
            too_long = True
            break
    if lines:
        lines[0] = lines[0].removeprefix("\ufeff")
    return lines, too_long


def _parse_nodes(text: str) -> NodeResult:
    d = _Directives()
    lines, too_long = _scanned_lines(text)
    src = _Lines(lines)
    nodes: list[Node] = []
    warnings: list[str] = []
    for raw in src:
        node = _next_node(d, src, raw, warnings)
        if node is not None:
            nodes.append(node)
    if not nodes:
        raise _located(Invalid("file with no instructions"), src.current)
    if too_long:
        raise _located(
            Invalid(f"dockerfile line greater than max allowed size of {_MAX_LINE - 1}"),
            src.current,
        )
    if warnings:
        warnings.append(
            "[WARNING]: Empty continuation lines will become errors in a future release."
        )
    return NodeResult(tuple(nodes), d.escape, tuple(warnings), d.seen.get("syntax", ""))


def _next_node(d: _Directives, src: _Lines, raw: str, warnings: list[str]) -> Node | None:
    """The instruction that starts at RAW (its continuation lines and heredoc bodies read
    from SRC), or None for a blank or comment line."""
    try:
        first = _process_line(d, raw, True)
    except Invalid as e:
        raise _located(e, src.current) from None
    src.current += 1
    start = src.current
    buf, end_of_line = _trim_continuation(first, d)
    if end_of_line and buf == "":
        return None
    line, empty_continuation = _continued(d, src, buf, end_of_line)
    if empty_continuation:
        warnings.append("[WARNING]: Empty continuation line found in: " + line)
    try:
        node = node_from_line(line, d.escape)
    except Invalid as e:
        raise _located(e, start) from None
    if can_contain_heredoc(node) and "<<" in line:
        node = _replace(node, heredocs=_heredoc_bodies(src, line, start))
    return _replace(node, start_line=start, end_line=src.current)


def _continued(d: _Directives, src: _Lines, first: str, end_of_line: bool) -> tuple[str, bool]:
    """The logical line FIRST begins, joined with its continuation lines (comments among
    them skipped), and whether an empty continuation line was among them."""
    parts = [first]
    empty_continuation = False
    while not end_of_line:
        nxt = src.take()
        if nxt is None:
            break
        try:
            cont = _process_line(d, nxt, False)
        except Invalid as e:
            raise _located(e, src.current) from None
        src.current += 1
        if _is_comment(nxt):
            continue
        if trim_left_space(_trim_newline(cont)) == "":
            empty_continuation = True
            continue
        cont, end_of_line = _trim_continuation(cont, d)
        parts.append(cont)
    return "".join(parts), empty_continuation


def _heredoc_bodies(src: _Lines, line: str, start: int) -> tuple[Heredoc, ...]:
    """The bodies of the heredocs LINE opens, each up to its delimiter line."""
    try:
        found = heredocs_from_line(line)
    except Invalid as e:
        raise _located(e, start) from None
    docs: list[Heredoc] = []
    for doc in found:
        body: list[str] = []
        terminated = False
        for body_line in src:
            src.current += 1
            candidate = _trim_newline(body_line)
            if doc.chomp:
                candidate = candidate.lstrip("\t")
            if candidate == doc.name:
                terminated = True
                break
            body.append(body_line)
        if not terminated:
            raise _located(Invalid("unterminated heredoc"), start)
        docs.append(Heredoc(doc.name, "".join(body), doc.expand, doc.chomp))
    return tuple(docs)


def _replace(node: Node, **changes: object) -> Node:
    values = {f: getattr(node, f) for f in Node.__dataclass_fields__}
    values.update(changes)
    return Node(**values)  # type: ignore[arg-type]
