"""images / image ls, rmi / image rm, tag."""

from __future__ import annotations

import time
from typing import Any

from berth.cli.context import Context
from berth.cli.flags import Command, Flag, parse

IMAGES = Command(
    "images",
    "berth images [OPTIONS] [REPOSITORY[:TAG]]",
    "List images",
    [
        Flag("all", "a", help="Show all images (default hides intermediate images)"),
        Flag("digests", "", help="Show digests"),
        Flag("filter", "f", "list", help="Filter output based on conditions provided"),
        Flag("format", "", "str", "", help="Format output using a custom template"),
        Flag("no-trunc", "", help="Don't truncate output"),
        Flag("quiet", "q", help="Only show image IDs"),
        Flag("tree", "", help="List multi-platform images as a tree (not supported)"),
    ],
    max_args=1,
)
RMI = Command(
    "rmi",
    "berth rmi [OPTIONS] IMAGE [IMAGE...]",
    "Remove one or more images",
    [
        Flag("force", "f", help="Force removal of the image"),
        Flag("no-prune", "", help="Do not delete untagged parents"),
        Flag("platform", "", "list", help="Remove only the given platforms"),
    ],
    min_args=1,
)
TAG = Command(
    "tag",
    "berth tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
    "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
    min_args=2,
    max_args=2,
)

DEFAULT_TABLE = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
DIGEST_TABLE = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
HEADERS = {
    "Repository": "REPOSITORY",
    "Tag": "TAG",
    "Digest": "DIGEST",
    "ID": "IMAGE ID",
    "CreatedSince": "CREATED",
    "CreatedAt": "CREATED AT",
    "Size": "SIZE",
    "SharedSize": "SHARED SIZE",
    "UniqueSize": "UNIQUE SIZE",
    "VirtualSize": "SIZE",
    "Containers": "CONTAINERS",
}


def _rows(img: dict[str, Any], trunc: bool, now: float) -> list[Any]:
    from berth.cli.commands.common import short_id
    from berth.cli.formatting import TemplateData
    from berth.cli.units import go_time, human_size, since

    iid = img.get("Id", "")
    created = float(img.get("Created") or 0)
    size = float(img.get("Size") or 0)

    def one(repo: str, tag: str, digest: str) -> Any:
        shared = img.get("SharedSize", -1)
        return TemplateData(
            ID=short_id(iid) if trunc else iid,
            Repository=repo,
            Tag=tag,
            Digest=digest,
            CreatedSince=since(created, now),
            CreatedAt=go_time(created),
            Size=human_size(size, 3),
            VirtualSize=human_size(size, 3),
            SharedSize="N/A" if shared == -1 else human_size(float(shared), 3),
            UniqueSize="N/A" if shared == -1 else human_size(size - float(shared), 3),
            Containers="N/A" if img.get("Containers", -1) == -1 else str(img["Containers"]),
        )

    digests: dict[str, str] = {}
    for rd in img.get("RepoDigests") or []:
        repo, _, dg = rd.partition("@")
        digests.setdefault(repo, dg)
    tags = [t for t in (img.get("RepoTags") or []) if t != "<none>:<none>"]
    out = []
    seen_repos = set()
    for t in tags:
        slash, colon = t.rfind("/"), t.rfind(":")
        repo, tag = (t[:colon], t[colon + 1 :]) if colon > slash else (t, "<none>")
        seen_repos.add(repo)
        out.append(one(repo, tag, digests.get(repo, "<none>")))
    for repo, dg in digests.items():
        if repo not in seen_repos and repo != "<none>":
            out.append(one(repo, "<none>", dg))
    if not out:
        out.append(one("<none>", "<none>", "<none>"))
    return out


def images(ctx: Context, argv: list[str]) -> int:
    """List images, one row per repository:tag."""
    from berth.cli.commands.common import parse_filters, short_id

    opts, args = parse(IMAGES, argv)
    filters = parse_filters(IMAGES, opts.filter)
    if args:
        filters.setdefault("reference", []).append(args[0])
    imgs = ctx.client.images(opts.all, filters, opts.digests)
    trunc = not opts.no_trunc
    if opts.quiet:
        ids = [short_id(i["Id"]) if trunc else i["Id"] for i in imgs]
        ctx.out("".join(i + "\n" for i in ids))
        return 0
    from berth.cli.formatting import render

    now = time.time()
    imgs.sort(key=lambda i: -float(i.get("Created") or 0))
    rows = [r for img in imgs for r in _rows(img, trunc, now)]
    default = DIGEST_TABLE if opts.digests else DEFAULT_TABLE
    fmt = opts.format
    if opts.digests and fmt in ("", "table"):
        fmt = DIGEST_TABLE
    ctx.out(render(fmt, rows, HEADERS, default, go_type="*formatter.imageContext"))
    return 0


def rmi(ctx: Context, argv: list[str]) -> int:
    """Remove images, printing each Untagged/Deleted line the daemon reports."""
    from berth.client.errors import APIError

    opts, args = parse(RMI, argv)
    failed = False
    for name in args:
        try:
            items = ctx.client.remove_image(name, opts.force, opts.no_prune)
        except APIError as exc:
            ctx.err(f"berth: {exc}")
            failed = True
            continue
        for item in items:
            if item.get("Untagged"):
                ctx.out(f"Untagged: {item['Untagged']}\n")
            if item.get("Deleted"):
                ctx.out(f"Deleted: {item['Deleted']}\n")
    return 1 if failed else 0


def tag(ctx: Context, argv: list[str]) -> int:
    """Add a tag to an image."""
    from berth.cli.commands.common import split_repo_tag

    _, args = parse(TAG, argv)
    repo, tg = split_repo_tag(args[1])
    ctx.client.tag(args[0], repo, tg)
    return 0
