"""network create / ls / inspect / rm / connect / disconnect / prune, and `berth port`."""

from __future__ import annotations

import json
import sys
from typing import Any

from berth.cli.context import Context, StatusError
from berth.cli.flags import Command, Flag, parse

CREATE = Command(
    "network create",
    "berth network create [OPTIONS] NETWORK",
    "Create a network",
    [
        Flag("driver", "d", "str", "bridge", help="Driver to manage the Network"),
        Flag("gateway", "", "list", help="IPv4 Gateway for the master subnet"),
        Flag("internal", "", help="Restrict external access to the network"),
        Flag("ip-range", "", "list", help="Allocate container ip from a sub-range"),
        Flag("label", "", "list", help="Set metadata on a network"),
        Flag("opt", "o", "list", help="Set driver specific options"),
        Flag("subnet", "", "list", help="Subnet in CIDR format that represents a network segment"),
    ],
    min_args=1,
    max_args=1,
)
LS = Command(
    "network ls",
    "berth network ls [OPTIONS]",
    "List networks",
    [
        Flag("filter", "f", "list", help='Provide filter values (e.g. "driver=bridge")'),
        Flag("format", "", "str", "", help="Format output using a custom template"),
        Flag("no-trunc", "", help="Do not truncate the output"),
        Flag("quiet", "q", help="Only display network IDs"),
    ],
    max_args=0,
)
INSPECT = Command(
    "network inspect",
    "berth network inspect [OPTIONS] NETWORK [NETWORK...]",
    "Display detailed information on one or more networks",
    [Flag("format", "f", "str", "", help="Format output using a custom template")],
    min_args=1,
)
RM = Command(
    "network rm",
    "berth network rm NETWORK [NETWORK...]",
    "Remove one or more networks",
    [Flag("force", "f", help="Do not error if the network does not exist")],
    min_args=1,
)
CONNECT = Command(
    "network connect",
    "berth network connect [OPTIONS] NETWORK CONTAINER",
    "Connect a container to a network",
    [
        Flag("alias", "", "list", help="Add network-scoped alias for the container"),
        Flag("ip", "", "str", "", help="IPv4 address (e.g., 172.30.100.104)"),
    ],
    min_args=2,
    max_args=2,
)
DISCONNECT = Command(
    "network disconnect",
    "berth network disconnect [OPTIONS] NETWORK CONTAINER",
    "Disconnect a container from a network",
    [Flag("force", "f", help="Force the container to disconnect from a network")],
    min_args=2,
    max_args=2,
)
PRUNE = Command(
    "network prune",
    "berth network prune [OPTIONS]",
    "Remove all unused networks",
    [Flag("force", "f", help="Do not prompt for confirmation")],
    max_args=0,
)
PORT = Command(
    "port",
    "berth port CONTAINER [PRIVATE_PORT[/PROTO]]",
    "List port mappings or a specific mapping for the container",
    [],
    min_args=1,
    max_args=2,
)

DEFAULT_TABLE = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
HEADERS = {
    "ID": "NETWORK ID",
    "Name": "NAME",
    "Driver": "DRIVER",
    "Scope": "SCOPE",
    "Internal": "INTERNAL",
    "Labels": "LABELS",
    "CreatedAt": "CREATED AT",
}


def _q(name: str) -> str:
    from berth.client.transport import quote_name

    return quote_name(name)


def create(ctx: Context, argv: list[str]) -> int:
    opts, args = parse(CREATE, argv)
    ipam: list[dict[str, str]] = []
    for i, sub in enumerate(opts.subnet):
        one = {"Subnet": sub}
        if i < len(opts.gateway):
            one["Gateway"] = opts.gateway[i]
        if i < len(opts.ip_range):
            one["IPRange"] = opts.ip_range[i]
        ipam.append(one)
    body: dict[str, Any] = {
        "Name": args[0],
        "Driver": opts.driver,
        "Internal": opts.internal,
        "IPAM": {"Driver": "default", "Config": ipam},
        "Options": dict(o.partition("=")[::2] for o in opts.opt),
        "Labels": dict(x.partition("=")[::2] for x in opts.label),
    }
    ctx.out(ctx.client._json("POST", "/networks/create", body=body)["Id"] + "\n")
    return 0


def ls(ctx: Context, argv: list[str]) -> int:
    from berth.cli.commands.common import parse_filters
    from berth.cli.formatting import TemplateData, render

    opts, _ = parse(LS, argv)
    filters = parse_filters(LS, opts.filter)
    query = {"filters": json.dumps(filters)} if filters else None
    nets = sorted(ctx.client._json("GET", "/networks", query) or [], key=lambda n: n["Name"])
    if opts.quiet:
        ctx.out("".join((n["Id"] if opts.no_trunc else n["Id"][:12]) + "\n" for n in nets))
        return 0
    rows = [
        TemplateData(
            ID=n["Id"] if opts.no_trunc else n["Id"][:12],
            Name=n["Name"],
            Driver=n["Driver"],
            Scope=n["Scope"],
            Internal=str(n["Internal"]).lower(),
            Labels=",".join(f"{k}={v}" for k, v in sorted((n.get("Labels") or {}).items())),
            CreatedAt=n.get("Created", ""),
        )
        for n in nets
    ]
    ctx.out(render(opts.format, rows, HEADERS, DEFAULT_TABLE, go_type="*network.networkContext"))
    return 0


def inspect(ctx: Context, argv: list[str]) -> int:
    from berth.cli.commands.inspect import show_each
    from berth.client.errors import APIError

    opts, args = parse(INSPECT, argv)

    def fetch(name: str) -> Any:
        try:
            return ctx.client._json("GET", "/networks/" + _q(name))
        except APIError as exc:
            raise LookupError(str(exc)) from None

    return show_each(ctx, args, opts.format, fetch)


def rm(ctx: Context, argv: list[str]) -> int:
    from berth.cli.commands.common import each

    _opts, args = parse(RM, argv)
    return each(ctx, args, lambda n: ctx.client._call("DELETE", "/networks/" + _q(n)))


def connect(ctx: Context, argv: list[str]) -> int:
    opts, args = parse(CONNECT, argv)
    ep: dict[str, Any] = {}
    if opts.ip:
        ep["IPAMConfig"] = {"IPv4Address": opts.ip}
    if opts.alias:
        ep["Aliases"] = list(opts.alias)
    body = {"Container": args[1], "EndpointConfig": ep}
    ctx.client._call("POST", f"/networks/{_q(args[0])}/connect", body=json.dumps(body).encode())
    return 0


def disconnect(ctx: Context, argv: list[str]) -> int:
    opts, args = parse(DISCONNECT, argv)
    body = {"Container": args[1], "Force": opts.force}
    ctx.client._call("POST", f"/networks/{_q(args[0])}/disconnect", body=json.dumps(body).encode())
    return 0


def prune(ctx: Context, argv: list[str]) -> int:
    opts, _ = parse(PRUNE, argv)
    if not opts.force:
        ctx.out("WARNING! This will remove all custom networks not used by at least one "
                "container.\nAre you sure you want to continue? [y/N] ")  # fmt: skip
        sys.stdout.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return 0
    rep = ctx.client._json("POST", "/networks/prune") or {}
    deleted = rep.get("NetworksDeleted") or []
    if deleted:
        ctx.out("Deleted Networks:\n" + "".join(n + "\n" for n in deleted))
    return 0


def port(ctx: Context, argv: list[str]) -> int:
    _opts, args = parse(PORT, argv)
    info = ctx.client._json("GET", f"/containers/{_q(args[0])}/json")
    ports = (info.get("NetworkSettings") or {}).get("Ports") or {}
    if len(args) == 2:
        want = args[1] if "/" in args[1] else args[1] + "/tcp"
        binds = ports.get(want)
        if not binds:
            raise StatusError(1, f"Error: No public port '{want}' published for {args[0]}")
        ctx.out("".join(f"{b['HostIp']}:{b['HostPort']}\n" for b in binds))
        return 0
    for key in sorted(ports, key=lambda k: (int(k.split("/")[0]), k)):
        for b in ports[key] or []:
            ctx.out(f"{key} -> {b['HostIp']}:{b['HostPort']}\n")
    return 0
