"""One joined line as moby's parser.Node: the instruction's name, its flags, and its
arguments in the shape that instruction takes (JSON or shell form, name=value pairs, ...)."""

from __future__ import annotations

import json

from berth.engine.build.shell import go_quote, is_space

from .model import Invalid, Node
from .text import (
    WHITESPACE,
    extract_flags,
    parse_words,
    trim_left_space,
    trim_space,
    whitespace_split,
)


def _split_command(line: str, esc: str) -> tuple[str, list[str], str]:
    cmdline = WHITESPACE.split(trim_space(line), maxsplit=1)
    args = ""
    flags: list[str] = []
    if len(cmdline) == 2:
        args, flags = extract_flags(cmdline[1], esc)
    return cmdline[0], flags, trim_space(args)


class _NotStringArray(Exception):
    pass


def _reject_constant(name: str) -> object:
    # Go's encoding/json has no NaN or Infinity
    raise ValueError(name)


def _parse_json(rest: str) -> list[str] | None:
    rest = trim_left_space(rest)
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
        raise Invalid(_NOT_STRINGS) from None
    if value is not None:
        return value, True
    return [rest], False


def _maybe_json_list(rest: str) -> tuple[list[str], bool]:
    try:
        value = _parse_json(rest)
    except _NotStringArray:
        raise Invalid(_NOT_STRINGS) from None
    if value is not None:
        return value, True
    return whitespace_split(rest), False


def _name_val(rest: str, key: str, esc: str) -> list[str]:
    # both forms: legacy `KEY name value` (one pair, rest of line as value)
    # and `KEY n1=v1 n2=v2`; which one is decided by the first word
    words = parse_words(rest, esc)
    if not words:
        return []
    if "=" not in words[0]:
        parts = WHITESPACE.split(rest, maxsplit=1)
        if len(parts) < 2:
            raise Invalid(f"{key} must have two arguments")
        return [parts[0], parts[1], ""]
    out: list[str] = []
    for word in words:
        if "=" not in word:
            raise Invalid(
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


def node_from_line(line: str, esc: str) -> Node:
    cmd, flags, rest = _split_command(line, esc)
    kind = cmd.lower()
    is_json = False
    child: Node | None = None
    args: list[str]
    if kind in ("run", "cmd", "entrypoint", "shell"):
        args, is_json = _maybe_json(rest)
    elif kind in ("add", "copy", "volume"):
        args, is_json = _maybe_json_list(rest)
    elif kind in ("env", "label"):
        args = _name_val(rest, "ENV" if kind == "env" else "LABEL", esc)
    elif kind == "arg":
        args = parse_words(rest, esc)
    elif kind in ("expose", "from"):
        args = whitespace_split(rest)
    elif kind == "healthcheck":
        args, is_json = _health_args(rest)
    elif kind in ("maintainer", "stopsignal", "user", "workdir"):
        args = [rest] if rest else []
    elif kind == "onbuild":
        args = []
        if rest:
            child = node_from_line(rest, esc)
            args = [child.cmd, *child.args]
    else:
        # moby's parseIgnore: unknown instructions fail later, with a line number
        args = [""]
    return Node(cmd, tuple(args), is_json, tuple(flags), line, 0, 0, (), child)
