"""events, system df, system prune, container prune, image prune."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from berth.cli.context import Context, StatusError
from berth.cli.flags import Command, Flag, parse

_FILTER = Flag("filter", "f", "list", help="Filter output based on conditions provided")

EVENTS = Command(
    "events",
    "berth events [OPTIONS]",
    "Get real time events from the server",
    [
        _FILTER,
        Flag("format", "", "str", "", help="Format output using a custom template"),
        Flag("since", "", "str", "", help="Show all events created since timestamp"),
        Flag("until", "", "str", "", help="Stream events until this timestamp"),
    ],
    max_args=0,
)
DF = Command(
    "system df",
    "berth system df [OPTIONS]",
    "Show berth disk usage",
    [
        Flag("format", "", "str", "", help="Format output using a custom template"),
        Flag("verbose", "v", help="Show detailed information on space usage"),
    ],
    max_args=0,
)
_PRUNE_FILTER = Flag("filter", "", "list", help='Provide filter values (e.g. "until=<timestamp>")')
_FORCE = Flag("force", "f", help="Do not prompt for confirmation")
SYSTEM_PRUNE = Command(
    "system prune",
    "berth system prune [OPTIONS]",
    "Remove unused data",
    [
        Flag("all", "a", help="Remove all unused images not just dangling ones"),
        _PRUNE_FILTER,
        _FORCE,
        Flag("volumes", "", help="Prune anonymous volumes"),
    ],
    max_args=0,
)
CONTAINER_PRUNE = Command(
    "container prune",
    "berth container prune [OPTIONS]",
    "Remove all stopped containers",
    [_PRUNE_FILTER, _FORCE],
    max_args=0,
)
IMAGE_PRUNE = Command(
    "image prune",
    "berth image prune [OPTIONS]",
    "Remove unused images",
    [
        Flag("all", "a", help="Remove all unused images, not just dangling ones"),
        _PRUNE_FILTER,
        _FORCE,
    ],
    max_args=0,
)


# ---- events ------------------------------------------------------------------------


def _event_time(ev: dict[str, Any]) -> str:
    """Go's RFC3339NanoFixed in local time, as docker prints an event's time."""
    ns = int(ev.get("timeNano") or 0) or int(ev.get("time") or 0) * 1_000_000_000
    sec, frac = divmod(ns, 1_000_000_000)
    lt = time.localtime(sec)
    off = lt.tm_gmtoff or 0
    if off == 0:
        zone = "Z"
    else:
        sign = "+" if off > 0 else "-"
        zone = f"{sign}{abs(off) // 3600:02d}:{abs(off) % 3600 // 60:02d}"
    return time.strftime("%Y-%m-%dT%H:%M:%S", lt) + f".{frac:09d}{zone}"


def pretty_event(ev: dict[str, Any]) -> str:
    """docker's default event line: time type action id (k=v, ...)."""
    actor = ev.get("Actor") or {}
    line = f"{_event_time(ev)} {ev.get('Type', '')} {ev.get('Action', '')} {actor.get('ID', '')}"
    attrs = actor.get("Attributes") or {}
    if attrs:
        line += " (" + ", ".join(f"{k}={attrs[k]}" for k in sorted(attrs)) + ")"
    return line + "\n"


def events(ctx: Context, argv: list[str]) -> int:
    """Stream the daemon's events until --until passes or the user interrupts."""
    from berth.cli.commands.common import parse_filters
    from berth.cli.units import timestamp_arg

    opts, _ = parse(EVENTS, argv)
    filters = parse_filters(EVENTS, opts.filter)
    try:
        since = timestamp_arg(opts.since) if opts.since else None
        until = timestamp_arg(opts.until) if opts.until else None
    except ValueError as exc:
        raise StatusError(1, str(exc)) from None
    query = {
        "since": since,
        "until": until,
        "filters": json.dumps(filters) if filters else None,
    }
    tmpl = None
    if opts.format:
        from berth.cli.formatting import prepare
        from berth.cli.gotemplate import Template, TemplateError

        src, _table = prepare(opts.format, "")
        try:
            tmpl = Template(src)
        except TemplateError as exc:
            raise StatusError(1, f"template parsing error: template: :1: {exc}") from None
    with ctx.client.transport.request("GET", "/events", query) as resp:
        for ev in resp.iter_json_lines():
            if tmpl is None:
                ctx.out(pretty_event(ev))
            else:
                ctx.out(tmpl.execute(ev) + "\n")
            sys.stdout.flush()
    return 0


# ---- system df ---------------------------------------------------------------------

_DF_HEADERS = {
    "Type": "TYPE",
    "TotalCount": "TOTAL",
    "Active": "ACTIVE",
    "Size": "SIZE",
    "Reclaimable": "RECLAIMABLE",
}
_DF_TABLE = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"


def _share(part: int, total: int) -> str:
    from berth.cli.units import human_size

    if total > 0:
        return f"{human_size(part)} ({part * 100 // total}%)"
    return human_size(part)


def df_rows(du: dict[str, Any]) -> list[dict[str, str]]:
    """The summary rows docker's `system df` prints, from GET /system/df."""
    from berth.cli.units import human_size

    images = du.get("Images") or []
    layers = int(du.get("LayersSize") or 0)
    used = sum(
        i["Size"] - i["SharedSize"]
        for i in images
        if i.get("Containers") and i.get("Size", -1) != -1 and i.get("SharedSize", -1) != -1
    )
    containers = du.get("Containers") or []
    active = [c for c in containers if c.get("State") in ("running", "paused", "restarting")]
    c_total = sum(int(c.get("SizeRw") or 0) for c in containers)
    c_idle = c_total - sum(int(c.get("SizeRw") or 0) for c in active)
    volumes = du.get("Volumes") or []
    v_sizes = [(v.get("UsageData") or {}) for v in volumes]
    v_total = sum(u.get("Size", 0) for u in v_sizes if u.get("Size", -1) != -1)
    v_idle = sum(
        u.get("Size", 0) for u in v_sizes if u.get("Size", -1) != -1 and u.get("RefCount") == 0
    )
    cache = du.get("BuildCache") or []
    return [
        {
            "Type": "Images",
            "TotalCount": str(len(images)),
            "Active": str(sum(1 for i in images if i.get("Containers"))),
            "Size": human_size(layers),
            "Reclaimable": _share(layers - used, layers),
        },
        {
            "Type": "Containers",
            "TotalCount": str(len(containers)),
            "Active": str(len(active)),
            "Size": human_size(c_total),
            "Reclaimable": _share(c_idle, c_total),
        },
        {
            "Type": "Local Volumes",
            "TotalCount": str(len(volumes)),
            "Active": str(sum(1 for u in v_sizes if (u.get("RefCount") or 0) > 0)),
            "Size": human_size(v_total),
            "Reclaimable": _share(v_idle, v_total),
        },
        {
            "Type": "Build Cache",
            "TotalCount": str(len(cache)),
            "Active": "0",
            "Size": "0B",
            "Reclaimable": "0B",
        },
    ]


# docker's verbose sections (cli/command/formatter/disk_usage.go), each its own table
_DF_IMAGES = (
    "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}"
    "\t{{.UniqueSize}}\t{{.Containers}}"
)
_DF_CONTAINERS = (
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}"
    "\t{{.Status}}\t{{.Names}}"
)
_DF_VOLUMES = "table {{.Name}}\t{{.Links}}\t{{.Size}}"
_DF_CACHE = (
    "table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}"
    "\t{{.UsageCount}}\t{{.Shared}}"
)
_VOLUME_HEADERS = {"Name": "VOLUME NAME", "Links": "LINKS", "Size": "SIZE"}
_CACHE_HEADERS = {
    "ID": "CACHE ID",
    "CacheType": "CACHE TYPE",
    "Size": "SIZE",
    "CreatedSince": "CREATED",
    "LastUsedSince": "LAST USED",
    "UsageCount": "USAGE",
    "Shared": "SHARED",
}


def df_verbose(du: dict[str, Any], trunc: bool, now: float) -> dict[str, list[Any]]:
    """The rows of each verbose section: docker's image, container, volume and build-cache
    contexts (the first tag of an image only; a container's size without its image's)."""
    from berth.cli.commands import images as images_cmd
    from berth.cli.commands import ps as ps_cmd
    from berth.cli.commands.common import short_id
    from berth.cli.formatting import TemplateData
    from berth.cli.units import human_size, since

    images = [images_cmd._rows(i, trunc, now)[0] for i in du.get("Images") or []]
    containers = [
        ps_cmd.row({**c, "SizeRootFs": 0}, trunc, now) for c in du.get("Containers") or []
    ]
    volumes = []
    for v in du.get("Volumes") or []:
        usage = v.get("UsageData")
        volumes.append(
            TemplateData(
                Name=v.get("Name", ""),
                Links="N/A" if usage is None else str(usage.get("RefCount", 0)),
                Size="N/A" if usage is None else human_size(float(usage.get("Size", 0))),
            )
        )
    cache = []
    for b in du.get("BuildCache") or []:
        bid = short_id(b.get("ID", "")) if trunc else b.get("ID", "")
        cache.append(
            TemplateData(
                ID=bid + ("*" if b.get("InUse") else ""),
                CacheType=b.get("Type", ""),
                Size=human_size(float(b.get("Size") or 0), 3),
                CreatedSince=since(_epoch(b.get("CreatedAt")), now),
                LastUsedSince=since(_epoch(b["LastUsedAt"]), now) if b.get("LastUsedAt") else "",
                UsageCount=str(b.get("UsageCount", 0)),
                Shared=str(bool(b.get("Shared"))).lower(),
            )
        )
    return {"Images": images, "Containers": containers, "Volumes": volumes, "BuildCache": cache}


def _epoch(text: Any) -> float:
    from datetime import datetime

    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def _df_verbose_table(du: dict[str, Any], sections: dict[str, list[Any]]) -> str:
    from berth.cli.commands import images as images_cmd
    from berth.cli.commands import ps as ps_cmd
    from berth.cli.formatting import render
    from berth.cli.units import human_size

    ps_headers = {**ps_cmd.HEADERS, "RunningFor": "CREATED"}
    builder = sum(int(b.get("Size") or 0) for b in du.get("BuildCache") or [])
    return (
        "Images space usage:\n\n"
        + render(_DF_IMAGES, sections["Images"], images_cmd.HEADERS, _DF_IMAGES)
        + "\nContainers space usage:\n\n"
        + render(_DF_CONTAINERS, sections["Containers"], ps_headers, _DF_CONTAINERS)
        + "\nLocal Volumes space usage:\n\n"
        + render(_DF_VOLUMES, sections["Volumes"], _VOLUME_HEADERS, _DF_VOLUMES)
        + f"\nBuild cache usage: {human_size(float(du.get('BuilderSize') or builder))}\n\n"
        + render(_DF_CACHE, sections["BuildCache"], _CACHE_HEADERS, _DF_CACHE)
    )


def system_df(ctx: Context, argv: list[str]) -> int:
    from berth.cli.formatting import TemplateData, render

    opts, _ = parse(DF, argv)
    du = ctx.client._json("GET", "/system/df") or {}
    if not opts.verbose:
        ctx.out(render(opts.format, df_rows(du), _DF_HEADERS, _DF_TABLE))
        return 0
    fmt = opts.format.strip()
    sections = df_verbose(du, fmt in ("", "table") or fmt.startswith("table"), time.time())
    if fmt in ("", "table"):
        ctx.out(_df_verbose_table(du, sections))
        return 0
    # docker runs any other verbose template once, over all four lists
    ctx.out(render(fmt, [TemplateData(**sections)], {}, _DF_TABLE))
    return 0


# ---- prunes ------------------------------------------------------------------------


def _confirm(ctx: Context, warning: str) -> bool:
    ctx.out(warning + "Are you sure you want to continue? [y/N] ")
    sys.stdout.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def _post(ctx: Context, path: str, filters: dict[str, list[str]]) -> dict[str, Any]:
    query = {"filters": json.dumps(filters)} if filters else None
    return ctx.client._json("POST", path, query) or {}  # type: ignore[no-any-return]


def _containers(ctx: Context, filters: dict[str, list[str]]) -> tuple[int, str]:
    rep = _post(ctx, "/containers/prune", filters)
    deleted = rep.get("ContainersDeleted") or []
    if not deleted:
        return 0, ""
    return int(rep.get("SpaceReclaimed") or 0), "Deleted Containers:\n" + "".join(
        i + "\n" for i in deleted
    )


def _images(ctx: Context, filters: dict[str, list[str]], all_: bool) -> tuple[int, str]:
    rep = _post(ctx, "/images/prune", {**filters, "dangling": [str(not all_).lower()]})
    deleted = rep.get("ImagesDeleted") or []
    if not deleted:
        return 0, ""
    lines = [
        f"untagged: {d['Untagged']}\n" if d.get("Untagged") else f"deleted: {d.get('Deleted')}\n"
        for d in deleted
    ]
    return int(rep.get("SpaceReclaimed") or 0), "Deleted Images:\n" + "".join(lines)


def _volumes(ctx: Context, filters: dict[str, list[str]]) -> tuple[int, str]:
    rep = _post(ctx, "/volumes/prune", filters)
    deleted = rep.get("VolumesDeleted") or []
    if not deleted:
        return 0, ""
    return int(rep.get("SpaceReclaimed") or 0), "Deleted Volumes:\n" + "".join(
        n + "\n" for n in deleted
    )


def _report(ctx: Context, parts: list[tuple[int, str]]) -> None:
    from berth.cli.units import human_size

    for _, text in parts:
        if text:
            ctx.out(text + "\n")
    ctx.out(f"Total reclaimed space: {human_size(sum(n for n, _ in parts))}\n")


def container_prune(ctx: Context, argv: list[str]) -> int:
    from berth.cli.commands.common import parse_filters

    opts, _ = parse(CONTAINER_PRUNE, argv)
    filters = parse_filters(CONTAINER_PRUNE, opts.filter)
    if not opts.force and not _confirm(ctx, "WARNING! This will remove all stopped containers.\n"):
        return 0
    _report(ctx, [_containers(ctx, filters)])
    return 0


def image_prune(ctx: Context, argv: list[str]) -> int:
    from berth.cli.commands.common import parse_filters

    opts, _ = parse(IMAGE_PRUNE, argv)
    filters = parse_filters(IMAGE_PRUNE, opts.filter)
    what = (
        "all images without at least one container associated to them"
        if opts.all
        else "all dangling images"
    )
    if not opts.force and not _confirm(ctx, f"WARNING! This will remove {what}.\n"):
        return 0
    _report(ctx, [_images(ctx, filters, opts.all)])
    return 0


def system_prune(ctx: Context, argv: list[str]) -> int:
    """Stopped containers, dangling (or, with -a, unused) images and, with --volumes,
    unused anonymous volumes, as `docker system prune` does."""
    from berth.cli.commands.common import parse_filters

    opts, _ = parse(SYSTEM_PRUNE, argv)
    filters = parse_filters(SYSTEM_PRUNE, opts.filter)
    if not opts.force:
        items = ["all stopped containers", "all networks not used by at least one container"]
        if opts.volumes:
            items.append("all anonymous volumes not used by at least one container")
        if opts.all:
            items += ["all images without at least one container associated to them"]
            items.append("all build cache")
        else:
            items += ["all dangling images", "unused build cache"]
        warning = "WARNING! This will remove:\n" + "".join(f"  - {i}\n" for i in items) + "\n"
        if not _confirm(ctx, warning):
            return 0
    parts = [_containers(ctx, filters)]
    if opts.volumes:
        parts.append(_volumes(ctx, filters))
    parts.append(_images(ctx, filters, opts.all))
    _report(ctx, parts)
    return 0
