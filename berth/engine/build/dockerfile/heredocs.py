"""Heredocs (`RUN <<EOF`): the words that open one, and which instructions may have one."""

from __future__ import annotations

import re

from berth.engine.build.shell import ExpansionError, Lexer

from .model import DockerfileError, Heredoc, Invalid, Node

_HEREDOC_COMMANDS = frozenset({"add", "copy", "run"})
_HEREDOC = re.compile(r"([0-9]*)<<(-?)[\t\n\f\r ]*([^<]*)\Z", re.DOTALL)


def can_contain_heredoc(node: Node) -> bool:
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
        return heredoc_word(word)
    except Invalid as e:
        raise DockerfileError(str(e)) from None


def heredoc_word(word: str) -> Heredoc | None:
    m = _HEREDOC.match(word)
    if m is None or m.group(3) == "":
        return None
    rest = m.group(3)
    try:
        words = Lexer("\\", skip_unset_env=True).process_words(rest, {})
        raw = Lexer("\\", skip_unset_env=True, raw_quotes=True).process_words(rest, {})
    except ExpansionError as e:
        raise Invalid(e.message) from None
    if len(words) != 1:
        return None
    if len(raw) != len(words):
        raise Invalid(f"internal lexing of heredoc produced inconsistent results: {rest}")
    # a quoted delimiter (any part of it) turns expansion of the body off
    quotes = words[0].count("'") + words[0].count('"')
    raw_quotes = raw[0].count("'") + raw[0].count('"')
    return Heredoc(words[0], "", quotes == raw_quotes, m.group(2) == "-")


def heredocs_from_line(line: str) -> list[Heredoc]:
    lex = Lexer("\\", raw_quotes=True, raw_escapes=True, skip_unset_env=True)
    try:
        words = lex.process_words(line, {})
    except ExpansionError:
        words = []
    docs = []
    for word in words:
        doc = heredoc_word(word)
        if doc is not None:
            docs.append(doc)
    return docs
