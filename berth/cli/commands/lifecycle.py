"""stop, kill, rm, wait, rename: one API call per container named."""

from __future__ import annotations

from berth.cli.commands.common import each
from berth.cli.context import Context
from berth.cli.flags import Command, Flag, parse

STOP = Command(
    "stop",
    "berth stop [OPTIONS] CONTAINER [CONTAINER...]",
    "Stop one or more running containers",
    [
        Flag("signal", "s", "str", "", help="Signal to send to the container"),
        Flag("timeout", "t", "int", None, help="Seconds to wait before killing the container"),
        Flag("time", "", "int", None, help="Seconds to wait before killing (deprecated)"),
    ],
    min_args=1,
)
KILL = Command(
    "kill",
    "berth kill [OPTIONS] CONTAINER [CONTAINER...]",
    "Kill one or more running containers",
    [Flag("signal", "s", "str", "", help="Signal to send to the container")],
    min_args=1,
)
RM = Command(
    "rm",
    "berth rm [OPTIONS] CONTAINER [CONTAINER...]",
    "Remove one or more containers",
    [
        Flag("force", "f", help="Force the removal of a running container (uses SIGKILL)"),
        Flag("link", "l", help="Remove the specified link"),
        Flag("volumes", "v", help="Remove anonymous volumes associated with the container"),
    ],
    min_args=1,
)
WAIT = Command(
    "wait",
    "berth wait CONTAINER [CONTAINER...]",
    "Block until one or more containers stop, then print their exit codes",
    min_args=1,
)
RENAME = Command(
    "rename",
    "berth rename CONTAINER NEW_NAME",
    "Rename a container",
    min_args=2,
    max_args=2,
)


def stop(ctx: Context, argv: list[str]) -> int:
    """berth stop."""
    opts, args = parse(STOP, argv)
    timeout = opts.timeout if opts.timeout is not None else opts.time
    return each(ctx, args, lambda c: ctx.client.stop(c, timeout, opts.signal or None))


def kill(ctx: Context, argv: list[str]) -> int:
    """berth kill."""
    opts, args = parse(KILL, argv)
    return each(ctx, args, lambda c: ctx.client.kill(c, opts.signal or None))


def rm(ctx: Context, argv: list[str]) -> int:
    """berth rm."""
    opts, args = parse(RM, argv)
    return each(ctx, args, lambda c: ctx.client.remove_container(c, opts.force, opts.volumes))


def wait(ctx: Context, argv: list[str]) -> int:
    """berth wait: print each container's exit code (docker itself exits 0)."""
    _, args = parse(WAIT, argv)

    def one(c: str) -> None:
        result = ctx.client.wait(c) or {}
        ctx.out(f"{result.get('StatusCode', 0)}\n")

    return each(ctx, args, one, echo=False)


def rename(ctx: Context, argv: list[str]) -> int:
    """berth rename."""
    _, args = parse(RENAME, argv)
    ctx.client.rename(args[0], args[1])
    return 0
