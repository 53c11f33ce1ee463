"""`berth completion bash|zsh|fish`: print a completion script for that shell."""

from __future__ import annotations

from berth.cli.context import Context
from berth.cli.flags import Command, parse

BASH = Command(
    "completion bash",
    "berth completion bash",
    "Generate the autocompletion script for bash",
    max_args=0,
)
FISH = Command(
    "completion fish",
    "berth completion fish",
    "Generate the autocompletion script for fish",
    max_args=0,
)
ZSH = Command(
    "completion zsh",
    "berth completion zsh",
    "Generate the autocompletion script for zsh",
    max_args=0,
)


def _emit(ctx: Context, cmd: Command, argv: list[str], shell: str) -> int:
    from berth.cli.completion import script

    parse(cmd, argv)
    ctx.out(script(shell))
    return 0


def bash(ctx: Context, argv: list[str]) -> int:
    return _emit(ctx, BASH, argv, "bash")


def fish(ctx: Context, argv: list[str]) -> int:
    return _emit(ctx, FISH, argv, "fish")


def zsh(ctx: Context, argv: list[str]) -> int:
    return _emit(ctx, ZSH, argv, "zsh")
