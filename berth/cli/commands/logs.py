"""berth logs."""

from __future__ import annotations

from berth.cli.context import Context, StatusError
from berth.cli.flags import Command, Flag, parse

CMD = Command(
    "logs",
    "berth logs [OPTIONS] CONTAINER",
    "Fetch the logs of a container",
    [
        Flag("details", "", help="Show extra details provided to logs"),
        Flag("follow", "f", help="Follow log output"),
        Flag("since", "", "str", "", help="Show logs since timestamp or relative (e.g. 42m)"),
        Flag("tail", "n", "str", "all", help="Number of lines to show from the end of the logs"),
        Flag("timestamps", "t", help="Show timestamps"),
        Flag("until", "", "str", "", help="Show logs before a timestamp or relative (e.g. 42m)"),
    ],
    min_args=1,
    max_args=1,
)


def logs(ctx: Context, argv: list[str]) -> int:
    """Copy a container's log stream to stdout/stderr."""
    from berth.cli.units import timestamp_arg
    from berth.client.streams import copy_output

    opts, args = parse(CMD, argv)
    try:
        since = timestamp_arg(opts.since) if opts.since else None
        until = timestamp_arg(opts.until) if opts.until else None
    except ValueError as exc:
        raise StatusError(1, str(exc)) from None
    info = ctx.client.inspect_container(args[0])
    tty = bool((info.get("Config") or {}).get("Tty"))
    query = {
        "stdout": True,
        "stderr": True,
        "follow": opts.follow or None,
        "timestamps": opts.timestamps or None,
        "details": opts.details or None,
        "since": since,
        "until": until,
        "tail": opts.tail,
    }
    with ctx.client.logs(info["Id"], **query) as resp:
        copy_output(resp.iter_content(), tty)
    return 0
