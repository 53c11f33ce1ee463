"""moby's instructions.Parse: the checks each instruction must pass, then the
instructions grouped into stages after the meta ARGs."""

from __future__ import annotations

import re
from collections.abc import Callable

from berth.engine.build.shell import go_quote

from .flags import BOOL, STRING, STRINGS, Flags, naive_flags, with_suggestion
from .heredocs import heredoc_word
from .lines import parse_nodes
from .model import (
    COMMANDS,
    DEFAULT_NAME,
    Dockerfile,
    DockerfileError,
    Instruction,
    Invalid,
    Node,
    Stage,
)
from .text import trim_space
from .values import arg_pairs, at_least_one, health_config, kvps

_STAGE_NAME = re.compile(r"[a-z][a-z0-9_.-]*\Z")
_ONBUILD_PREFIX = re.compile(r"^[\t\n\f\r ]*ONBUILD[\t\n\f\r ]*", re.IGNORECASE)


def _exactly_one(cmd: str) -> Invalid:
    return Invalid(f"{cmd} requires exactly one argument")


def _no_destination(cmd: str) -> Invalid:
    return Invalid(
        f"{cmd} requires at least two arguments, but only one was provided. Destination could not be determined"
    )


def _stage_name(args: tuple[str, ...]) -> str:
    if len(args) == 3 and args[1].lower() == "as":
        name = args[2].lower()
        if not _STAGE_NAME.match(name):
            raise Invalid(
                f"invalid name for build stage: {go_quote(args[2])}, name can't start with a number or contain symbols"
            )
        return name
    if len(args) != 1:
        raise Invalid("FROM requires either one or three arguments")
    return ""


def _check_sources_and_dest(node: Node, cmd: str) -> None:
    if heredoc_word(node.args[-1]) is not None:
        raise Invalid(f"{cmd} cannot accept a heredoc as a destination")


def _onbuild_expression(node: Node) -> str:
    expression = _ONBUILD_PREFIX.sub("", node.original, count=1)
    for doc in node.heredocs:
        expression += "\n" + doc.content + doc.name
    return expression


# a check takes the node and its flags (to declare and parse) and answers the instruction's
# args and whether its flags were parsed (STOPSIGNAL, ARG and HEALTHCHECK NONE keep them raw)
_Check = Callable[[Node, Flags], tuple[tuple[str, ...], bool]]


def _exactly_one_arg(cmd: str) -> _Check:
    def check(node: Node, fl: Flags) -> tuple[tuple[str, ...], bool]:
        if len(node.args) != 1:
            raise _exactly_one(cmd)
        fl.parse()
        return node.args, True

    return check


def _flags_only(node: Node, fl: Flags) -> tuple[tuple[str, ...], bool]:
    fl.parse()
    return node.args, True


def _pairs(cmd: str) -> _Check:
    def check(node: Node, fl: Flags) -> tuple[tuple[str, ...], bool]:
        fl.parse()
        kvps(node.args, cmd)
        return node.args, True

    return check


def _copy_or_add(kind: str) -> _Check:
    def check(node: Node, fl: Flags) -> tuple[tuple[str, ...], bool]:
        if len(node.args) < 2:
            raise _no_destination(kind.upper())
        fl.add("chown", STRING)
        if kind == "copy":
            fl.add("from", STRING)
        fl.add("chmod", STRING)
        fl.add("link", BOOL)
        if kind == "add":
            fl.add("keep-git-dir", BOOL)
            fl.add("checksum", STRING)
            fl.add("unpack", BOOL)
        fl.add("exclude", STRINGS)
        fl.parse()
        _check_sources_and_dest(node, kind.upper())
        return node.args, True

    return check


def _from(node: Node, fl: Flags) -> tuple[tuple[str, ...], bool]:
    _stage_name(node.args)
    fl.add("platform", STRING)
    fl.parse()
    return node.args, True


def _onbuild(node: Node, fl: Flags) -> tuple[tuple[str, ...], bool]:
    if not node.args:
        raise at_least_one("ONBUILD")
    fl.parse()
    trigger = trim_space(node.args[0]).upper()
    if trigger == "ONBUILD":
        raise Invalid("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if trigger in ("MAINTAINER", "FROM"):
        raise Invalid(f"{trigger} isn't allowed as an ONBUILD trigger")
    return (_onbuild_expression(node),), True


def _run(node: Node, fl: Flags) -> tuple[tuple[str, ...], bool]:
    # the flags the parser knows; the classic builder then refuses any used
    fl.add("device", STRINGS)
    fl.add("mount", STRINGS)
    fl.add("network", STRING, "default")
    fl.parse()
    network = fl.value("network")
    if network not in ("default", "none", "host"):
        raise Invalid(f"invalid network mode {go_quote(network)}")
    return node.args, True


def _healthcheck(node: Node, fl: Flags) -> tuple[tuple[str, ...], bool]:
    args = node.args
    if not args:
        raise at_least_one("HEALTHCHECK")
    if args[0].upper() == "NONE":
        if len(args) != 1:
            raise Invalid("HEALTHCHECK NONE takes no arguments")
        return args, False
    for name in ("interval", "timeout", "start-period", "start-interval", "retries"):
        fl.add(name, STRING)
    fl.parse()
    health_config(args, node.json_form, fl)
    return args, True


def _at_least_one_arg(cmd: str) -> _Check:
    def check(node: Node, fl: Flags) -> tuple[tuple[str, ...], bool]:
        if not node.args:
            raise at_least_one(cmd)
        fl.parse()
        return node.args, True

    return check


def _volume(node: Node, fl: Flags) -> tuple[tuple[str, ...], bool]:
    if not node.args:
        raise at_least_one("VOLUME")
    fl.parse()
    if any(trim_space(v) == "" for v in node.args):
        raise Invalid("VOLUME specified can not be an empty string")
    return node.args, True


def _stopsignal(node: Node, fl: Flags) -> tuple[tuple[str, ...], bool]:
    if len(node.args) != 1:
        raise _exactly_one("STOPSIGNAL")
    return node.args, False


def _arg(node: Node, fl: Flags) -> tuple[tuple[str, ...], bool]:
    arg_pairs(node.args)
    return node.args, False


def _shell(node: Node, fl: Flags) -> tuple[tuple[str, ...], bool]:
    fl.parse()
    if not node.args:
        raise at_least_one("SHELL")
    if not node.json_form:
        raise Invalid("SHELL requires the arguments to be in JSON form")
    return node.args, True


_CHECKS: dict[str, _Check] = {
    "env": _pairs("ENV"),
    "maintainer": _exactly_one_arg("MAINTAINER"),
    "label": _pairs("LABEL"),
    "add": _copy_or_add("add"),
    "copy": _copy_or_add("copy"),
    "from": _from,
    "onbuild": _onbuild,
    "workdir": _exactly_one_arg("WORKDIR"),
    "run": _run,
    "cmd": _flags_only,
    "entrypoint": _flags_only,
    "healthcheck": _healthcheck,
    "expose": _at_least_one_arg("EXPOSE"),
    "user": _exactly_one_arg("USER"),
    "volume": _volume,
    "stopsignal": _stopsignal,
    "arg": _arg,
    "shell": _shell,
}


def _instruction(node: Node) -> Instruction:
    """moby's ParseInstruction: the checks one instruction must pass."""
    kind = node.cmd.lower()
    check = _CHECKS.get(kind)
    if check is None:
        raise Invalid(
            with_suggestion(
                f"unknown instruction: {node.cmd}",
                node.cmd,
                [c.upper() for c in COMMANDS],
                False,
            )
        )
    fl = Flags(node.raw_flags)
    args, parsed = check(node, fl)
    return Instruction(
        cmd=kind,
        args=tuple(args),
        json_form=node.json_form,
        flags=tuple(fl.used) if parsed else naive_flags(node.raw_flags),
        original=trim_space(node.original),
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
        except Invalid as e:
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
