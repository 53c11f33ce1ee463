"""volume create / ls / inspect / rm / prune."""

from __future__ import annotations

import json
import sys
from typing import Any

from berth.cli.context import Context
from berth.cli.flags import Command, Flag, parse

CREATE = Command(
    "volume create",
    "berth volume create [OPTIONS] [VOLUME]",
    "Create a volume",
    [
        Flag("driver", "d", "str", "local", help="Specify volume driver name"),
        Flag("label", "", "list", help="Set metadata for a volume"),
        Flag("name", "", "str", "", help="Specify volume name"),
        Flag("opt", "o", "list", help="Set driver specific options"),
    ],
    max_args=1,
)
LS = Command(
    "volume ls",
    "berth volume ls [OPTIONS]",
    "List volumes",
    [
        Flag("filter", "f", "list", help='Provide filter values (e.g. "dangling=true")'),
        Flag("format", "", "str", "", help="Format output using a custom template"),
        Flag("quiet", "q", help="Only display volume names"),
    ],
    max_args=0,
)
INSPECT = Command(
    "volume inspect",
    "berth volume inspect [OPTIONS] VOLUME [VOLUME...]",
    "Display detailed information on one or more volumes",
    [Flag("format", "f", "str", "", help="Format output using a custom template")],
    min_args=1,
)
RM = Command(
    "volume rm",
    "berth volume rm [OPTIONS] VOLUME [VOLUME...]",
    "Remove one or more volumes",
    [Flag("force", "f", help="Force the removal of one or more volumes")],
    min_args=1,
)
PRUNE = Command(
    "volume prune",
    "berth volume prune [OPTIONS]",
    "Remove unused local volumes",
    [
        Flag("all", "a", help="Remove all unused volumes, not just anonymous ones"),
        Flag("filter", "", "list", help='Provide filter values (e.g. "label=<label>")'),
        Flag("force", "f", help="Do not prompt for confirmation"),
    ],
    max_args=0,
)

DEFAULT_TABLE = "table {{.Driver}}\t{{.Name}}"
# docker formats `volume inspect` with the typed struct only (no raw JSON fallback)
INSPECT_GO_TYPE = "volume.Volume"
HEADERS = {
    "Driver": "DRIVER",
    "Name": "VOLUME NAME",
    "Mountpoint": "MOUNTPOINT",
    "Scope": "SCOPE",
    "Labels": "LABELS",
    "CreatedAt": "CREATED AT",
    "Links": "LINKS",
    "Size": "SIZE",
}


def _pairs(cmd: Command, items: list[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        k, eq, v = item.partition("=")
        if what == "opt" and not eq:
            raise cmd.usage_error(f'invalid argument "{item}" for "-o, --opt" flag: '
                                  "invalid key value pair format in driver options")  # fmt: skip
        out[k] = v
    return out


def create(ctx: Context, argv: list[str]) -> int:
    opts, args = parse(CREATE, argv)
    name = opts.name
    if args:
        if name and name != args[0]:
            raise CREATE.usage_error(
                "conflicting options: cannot specify a volume-name through both --name and "
                "as a positional arg"
            )
        name = args[0]
    body = {
        "Name": name,
        "Driver": opts.driver,
        "DriverOpts": _pairs(CREATE, opts.opt, "opt"),
        "Labels": _pairs(CREATE, opts.label, "label"),
    }
    vol = ctx.client._json("POST", "/volumes/create", body=body)
    ctx.out(vol["Name"] + "\n")
    return 0


def ls_rows(volumes: list[dict[str, Any]]) -> list[Any]:
    """The docker CLI's volumeContext of each volume, for `volume ls --format`."""
    from berth.cli.formatting import TemplateData

    return [
        TemplateData(
            Driver=v.get("Driver", ""),
            Name=v.get("Name", ""),
            Mountpoint=v.get("Mountpoint", ""),
            Scope=v.get("Scope", ""),
            Labels=",".join(f"{k}={val}" for k, val in sorted((v.get("Labels") or {}).items())),
            CreatedAt=v.get("CreatedAt", ""),
            Links="N/A",
            Size="N/A",
        )
        for v in volumes
    ]


def ls(ctx: Context, argv: list[str]) -> int:
    from berth.cli.commands.common import parse_filters
    from berth.cli.formatting import render

    opts, _ = parse(LS, argv)
    filters = parse_filters(LS, opts.filter)
    query = {"filters": json.dumps(filters)} if filters else None
    vols = ctx.client._json("GET", "/volumes", query) or {}
    items = sorted(vols.get("Volumes") or [], key=lambda v: v.get("Name", ""))
    if opts.quiet:
        ctx.out("".join(v["Name"] + "\n" for v in items))
        return 0
    rows = ls_rows(items)
    vctx = "*formatter.volumeContext"
    # docker's volume ls words an execution error as a parse error
    text = render(opts.format, rows, HEADERS, DEFAULT_TABLE, vctx, "template parsing error")
    ctx.out(text)
    return 0


def inspect(ctx: Context, argv: list[str]) -> int:
    from berth.cli.commands.inspect import show_each
    from berth.client.errors import APIError
    from berth.client.transport import quote_name

    opts, args = parse(INSPECT, argv)

    def fetch(name: str) -> Any:
        try:
            return ctx.client._json("GET", "/volumes/" + quote_name(name))
        except APIError as exc:
            raise LookupError(str(exc)) from None

    return show_each(ctx, args, opts.format, fetch, go_type=INSPECT_GO_TYPE)


def rm(ctx: Context, argv: list[str]) -> int:
    from berth.cli.commands.common import each
    from berth.client.transport import quote_name

    opts, args = parse(RM, argv)
    query = {"force": "1"} if opts.force else None
    return each(ctx, args, lambda n: ctx.client._call("DELETE", "/volumes/" + quote_name(n), query))


def prune(ctx: Context, argv: list[str]) -> int:
    from berth.cli.commands.common import parse_filters
    from berth.cli.units import human_size

    opts, _ = parse(PRUNE, argv)
    filters = parse_filters(PRUNE, opts.filter)
    if opts.all:
        filters["all"] = ["true"]
    if not opts.force:
        what = "all local volumes" if opts.all else "all anonymous local volumes"
        ctx.out(f"WARNING! This will remove {what} not used by at least one container.\n"
                "Are you sure you want to continue? [y/N] ")  # fmt: skip
        sys.stdout.flush()
        answer = sys.stdin.readline().strip().lower()
        if answer not in ("y", "yes"):
            return 0
    query = {"filters": json.dumps(filters)} if filters else None
    rep = ctx.client._json("POST", "/volumes/prune", query) or {}
    deleted = rep.get("VolumesDeleted") or []
    if deleted:
        ctx.out("Deleted Volumes:\n" + "".join(n + "\n" for n in deleted) + "\n")
    ctx.out(f"Total reclaimed space: {human_size(float(rep.get('SpaceReclaimed') or 0), 3)}\n")
    return 0
