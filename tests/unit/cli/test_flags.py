"""The pflag-style parser."""

from __future__ import annotations

import pytest

from berth.cli.flags import Command, Flag, HelpRequested, UsageError, parse

CMD = Command(
    "run",
    "berth run [OPTIONS] IMAGE [COMMAND] [ARG...]",
    flags=[
        Flag("interactive", "i"),
        Flag("tty", "t"),
        Flag("detach", "d"),
        Flag("env", "e", "list"),
        Flag("name", "", "str", ""),
        Flag("memory", "m", "str", ""),
        Flag("pids-limit", "", "int", 0),
        Flag("sig-proxy", "", default=True),
        Flag("hostname", "h", "str", ""),
    ],
    min_args=1,
    interspersed=False,
)


def test_combined_shorts_and_values() -> None:
    opts, args = parse(CMD, ["-itd", "-e", "A=1", "-eB=2", "-e=C=3", "--name=x", "img"])
    assert (opts.interactive, opts.tty, opts.detach) == (True, True, True)
    assert opts.env == ["A=1", "B=2", "C=3"]
    assert opts.name == "x" and args == ["img"]


def test_options_stop_at_image() -> None:
    opts, args = parse(CMD, ["--rm-not-a-flag"] if False else ["img", "-it", "sh", "--name", "y"])
    assert args == ["img", "-it", "sh", "--name", "y"]
    assert not opts.interactive and opts.name == ""


def test_short_with_attached_value_and_int() -> None:
    opts, _ = parse(CMD, ["-m512m", "--pids-limit", "20", "img"])
    assert opts.memory == "512m" and opts.pids_limit == 20


def test_bool_false_and_double_dash() -> None:
    opts, args = parse(CMD, ["--sig-proxy=false", "--", "-img"])
    assert opts.sig_proxy is False and args == ["-img"]


def test_dash_h_is_hostname_here_but_help_elsewhere() -> None:
    opts, _ = parse(CMD, ["-h", "box", "img"])
    assert opts.hostname == "box"
    with pytest.raises(HelpRequested):
        parse(Command("ps", "berth ps"), ["-h"])
    with pytest.raises(HelpRequested):
        parse(CMD, ["--help"])


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--foo", "img"], "unknown flag: --foo"),
        (["-x", "img"], "unknown shorthand flag: 'x' in -x"),
        (["--name"], "flag needs an argument: --name"),
        (["--pids-limit", "x", "img"], 'invalid argument "x" for "--pids-limit" flag'),
        (["--tty=maybe", "img"], 'invalid argument "maybe" for "-t, --tty" flag'),
    ],
)
def test_usage_errors_exit_125(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError) as ei:
        parse(CMD, argv)
    assert ei.value.message.startswith(message)
    assert ei.value.status == 125
    assert ei.value.usage == CMD.usage


def test_arity_errors_exit_1_like_docker() -> None:
    with pytest.raises(UsageError) as ei:
        parse(CMD, [])
    assert ei.value.message == "'berth run' requires at least 1 argument"
    assert ei.value.status == 1
    with pytest.raises(UsageError, match="accepts no arguments"):
        parse(Command("ps", "berth ps", max_args=0), ["x"])
    with pytest.raises(UsageError, match="requires exactly 2 arguments"):
        parse(Command("rename", "u", min_args=2, max_args=2), ["a"])


def test_help_text_lists_flags() -> None:
    text = CMD.help_text()
    assert "Usage:  berth run [OPTIONS] IMAGE" in text
    assert "-e, --env list" in text and "--pids-limit int" in text
