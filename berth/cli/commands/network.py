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
        Flag("attachable", "", help="Enable manual container attachment"),
        Flag(
            "aux-address",
            "",
            "list",
            help="Auxiliary IPv4 or IPv6 addresses used by Network driver",
            metavar="map",
        ),
        Flag(
            "config-from",
            "",
            "str",
            "",
            help="The network from which to copy the configuration",
            metavar="string",
        ),
        Flag("config-only", "", help="Create a configuration only network"),
        Flag("driver", "d", "str", "bridge", help="Driver to manage the Network", metavar="string"),
        Flag(
            "gateway",
            "",
            "list",
            help="IPv4 or IPv6 Gateway for the master subnet",
            metavar="strings",
        ),
        Flag("ingress", "", help="Create swarm routing-mesh network"),
        Flag("internal", "", help="Restrict external access to the network"),
        Flag(
            "ip-range", "", "list", help="Allocate container ip from a sub-range", metavar="strings"
        ),
        Flag(
            "ipam-driver",
            "",
            "str",
            "default",
            help="IP Address Management Driver",
            metavar="string",
        ),
        Flag("ipam-opt", "", "list", help="Set IPAM driver specific options", metavar="map"),
        Flag("ipv4", "", "bool", True, help="Enable or disable IPv4 address assignment"),
        Flag("ipv6", "", help="Enable or disable IPv6 address assignment"),
        Flag("label", "", "list", help="Set metadata on a network"),
        Flag("opt", "o", "list", help="Set driver specific options", metavar="map"),
        Flag("scope", "", "str", "", help="Control the network's scope", metavar="string"),
        Flag(
            "subnet",
            "",
            "list",
            help="Subnet in CIDR format that represents a network segment",
            metavar="strings",
        ),
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


def _slice(values: list[str]) -> list[str]:
    """pflag's StringSlice: each use may carry several comma-separated values."""
    import csv

    return [v for raw in values for row in csv.reader([raw]) for v in row]


def _in_subnet(subnet: str, data: str) -> bool:
    """docker/cli's subnetMatches: is data (an address, or a CIDR's address) in subnet?"""
    import ipaddress

    try:
        net = ipaddress.ip_network(subnet, strict=False)
    except ValueError:
        raise StatusError(1, f"invalid subnet: invalid CIDR address: {subnet}") from None
    try:
        addr = ipaddress.ip_interface(data).ip if "/" in data else ipaddress.ip_address(data)
    except ValueError:
        if "/" in data:
            raise StatusError(1, f"invalid CIDR address: {data}") from None
        return False  # net.ParseIP gives nil, which no subnet contains
    return addr.version == net.version and addr in net


def ipam_config(
    subnets: list[str], ranges: list[str], gateways: list[str], aux: list[str]
) -> list[dict[str, Any]]:
    """IPAM.Config as docker/cli's createIPAMConfig builds it (cli/command/network/create.go):
    one entry per subnet, each range, gateway and aux address placed in the subnet holding
    it. (docker's map makes its order random; subnet order is kept here.)"""
    if len(subnets) < len(ranges) or len(subnets) < len(gateways):
        raise StatusError(1, "every ip-range or gateway must have a corresponding subnet")
    data: dict[str, dict[str, Any]] = {}
    for s in subnets:
        for k in data:
            if _in_subnet(s, k) or _in_subnet(k, s):
                raise StatusError(1, "multiple overlapping subnet configuration is not supported")
        data[s] = {"Subnet": s, "AuxiliaryAddresses": {}}

    def place(what: str, value: str) -> None:
        word, label = ("range", "ranges") if what == "IPRange" else ("gateway", "gateways")
        match = False
        for s in subnets:
            if not _in_subnet(s, value):
                continue
            if data[s].get(what):
                where = "on" if what == "IPRange" else "for"
                raise StatusError(
                    1,
                    f"cannot configure multiple {label} ({value}, {data[s][what]}) "
                    f"{where} the same subnet ({s})",
                )
            data[s][what] = value
            match = True
        if not match:
            raise StatusError(1, f"no matching subnet for {word} {value}")

    for r in ranges:
        if "/" not in r:  # docker parses each range as a CIDR first
            raise StatusError(1, f"invalid CIDR address: {r}")
        place("IPRange", r)
    for g in gateways:
        place("Gateway", g)
    for key, value in _map(aux).items():
        match = False
        for s in subnets:
            if _in_subnet(s, value):
                data[s]["AuxiliaryAddresses"][key] = value
                match = True
        if not match:
            raise StatusError(1, f"no matching subnet for aux-address {value}")
    # Go's field order, and omitempty: an unset range, gateway or aux map is left out
    keys = ("Subnet", "IPRange", "Gateway", "AuxiliaryAddresses")
    return [{k: d[k] for k in keys if d.get(k)} for d in data.values()]


def _map(items: list[str]) -> dict[str, str]:
    """opts.MapOpts: KEY=VALUE, a bare KEY maps to ""."""
    return dict(i.partition("=")[::2] for i in items)


def create(ctx: Context, argv: list[str]) -> int:
    opts, args = parse(CREATE, argv)
    given = {a.split("=", 1)[0] for a in argv}
    config = ipam_config(
        _slice(opts.subnet), _slice(opts.ip_range), _slice(opts.gateway), opts.aux_address
    )
    body: dict[str, Any] = {
        "Name": args[0],
        "Driver": opts.driver,
        "Scope": opts.scope,
        "IPAM": {"Driver": opts.ipam_driver, "Options": _map(opts.ipam_opt), "Config": config},
        "Internal": opts.internal,
        "Attachable": opts.attachable,
        "Ingress": opts.ingress,
        "ConfigOnly": opts.config_only,
        "ConfigFrom": {"Network": opts.config_from} if opts.config_from else None,
        "Options": _map(opts.opt),
        "Labels": _map(opts.label),
    }
    # EnableIPv4/6 are *bool with omitempty: sent only when the flag was given
    if "--ipv4" in given:
        body["EnableIPv4"] = opts.ipv4
    if "--ipv6" in given:
        body["EnableIPv6"] = opts.ipv6
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
