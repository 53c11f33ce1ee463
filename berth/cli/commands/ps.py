"""berth ps / container ls."""

from __future__ import annotations

import time

from berth.cli.context import Context
from berth.cli.flags import Command, Flag, parse

TYPE_CHECKING = False  # typing is not imported at run time: ~3 ms of the CLI's start
if TYPE_CHECKING:
    from typing import Any

CMD = Command(
    "ps",
    "berth ps [OPTIONS]",
    "List containers",
    [
        Flag("all", "a", help="Show all containers (default shows just running)"),
        Flag("filter", "f", "list", help="Filter output based on conditions provided"),
        Flag("format", "", "str", "", help="Format output using a custom template"),
        Flag("last", "n", "int", -1, help="Show n last created containers (includes all states)"),
        Flag("latest", "l", help="Show the latest created container (includes all states)"),
        Flag("no-trunc", "", help="Don't truncate output"),
        Flag("quiet", "q", help="Only display container IDs"),
        Flag("size", "s", help="Display total file sizes"),
    ],
    max_args=0,
)

DEFAULT_TABLE = (
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
)
HEADERS = {
    "ID": "CONTAINER ID",
    "Image": "IMAGE",
    "Command": "COMMAND",
    "CreatedAt": "CREATED AT",
    "RunningFor": "CREATED",
    "Ports": "PORTS",
    "State": "STATE",
    "Status": "STATUS",
    "Size": "SIZE",
    "Names": "NAMES",
    "Labels": "LABELS",
    "Label": "LABEL",
    "Mounts": "MOUNTS",
    "LocalVolumes": "LOCAL VOLUMES",
    "Networks": "NETWORKS",
    "Platform": "PLATFORM",
}


def ps(ctx: Context, argv: list[str]) -> int:
    """List containers."""
    from berth.cli.commands.common import parse_filters

    opts, _ = parse(CMD, argv)
    filters = parse_filters(CMD, opts.filter)
    limit = 1 if opts.latest else opts.last
    show_all = opts.all or limit > 0
    size = opts.size or "{{.Size}}" in opts.format or "{{ .Size }}" in opts.format
    containers = ctx.client.containers(show_all, limit, size and not opts.quiet, filters)
    trunc = not opts.no_trunc
    if opts.quiet:
        from berth.cli.commands.common import short_id

        ctx.out("".join((short_id(c["Id"]) if trunc else c["Id"]) + "\n" for c in containers))
        return 0
    from berth.cli.formatting import render

    fmt = opts.format
    if opts.size and fmt in ("", "table"):
        fmt = DEFAULT_TABLE + "\t{{.Size}}"
    now = time.time()
    rows = [row(c, trunc, now) for c in containers]
    ctx.out(render(fmt, rows, HEADERS, DEFAULT_TABLE, go_type="*formatter.ContainerContext"))
    return 0


def row(c: dict[str, Any], trunc: bool, now: float) -> Any:
    """The template context of one container, with docker's field names and renderings."""
    from berth.cli.commands.common import ellipsis, go_quote, short_id
    from berth.cli.formatting import TemplateData
    from berth.cli.units import go_time, human_size, since

    labels: dict[str, str] = c.get("Labels") or {}
    names = [n[1:] if n.startswith("/") else n for n in (c.get("Names") or [])]
    if trunc:
        names = [n for n in names if "/" not in n][:1] or names[:1]
    image = c.get("Image") or ""
    if trunc and image.startswith("sha256:"):
        image = short_id(image)
    command = c.get("Command") or ""
    if trunc:
        command = ellipsis(command, 20)
    created = float(c.get("Created") or 0)
    size = human_size(float(c.get("SizeRw") or 0), 3)
    if c.get("SizeRootFs"):
        size += f" (virtual {human_size(float(c['SizeRootFs']), 3)})"
    mounts = [m.get("Name") or m.get("Source", "") for m in (c.get("Mounts") or [])]
    networks = sorted(((c.get("NetworkSettings") or {}).get("Networks") or {}).keys())
    return TemplateData(
        ID=short_id(c.get("Id", "")) if trunc else c.get("Id", ""),
        Image=image,
        Command=go_quote(command),
        CreatedAt=go_time(created),
        RunningFor=since(created, now),
        Ports=format_ports(c.get("Ports") or []),
        State=c.get("State", ""),
        Status=c.get("Status", ""),
        Size=size,
        Names=",".join(names),
        Labels=",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        Label=lambda key: labels.get(key, ""),
        Mounts=",".join(ellipsis(m, 15) if trunc else m for m in mounts),
        LocalVolumes=str(sum(1 for m in (c.get("Mounts") or []) if m.get("Driver") == "local")),
        Networks=",".join(networks),
        Platform=None,
    )


def format_ports(ports: list[dict[str, Any]]) -> str:
    """The PORTS column ("0.0.0.0:8080->80/tcp, 443/tcp") from the API's Ports list."""
    out = []
    for p in sorted(
        ports, key=lambda p: (p.get("PrivatePort", 0), p.get("Type", ""), p.get("IP", ""))
    ):
        proto = p.get("Type", "tcp")
        if p.get("PublicPort"):
            ip = p.get("IP") or "0.0.0.0"
            ip = f"[{ip}]" if ":" in ip else ip
            out.append(f"{ip}:{p['PublicPort']}->{p.get('PrivatePort')}/{proto}")
        else:
            out.append(f"{p.get('PrivatePort')}/{proto}")
    return ", ".join(dict.fromkeys(out))
