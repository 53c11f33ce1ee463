"""inspect, container inspect, image inspect."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from berth.cli.context import Context, StatusError
from berth.cli.flags import Command, Flag, parse

_FLAGS = [
    Flag("format", "f", "str", "", help="Format output using a custom template"),
    Flag("size", "s", help="Display total file sizes if the type is container"),
]
CMD = Command(
    "inspect",
    "berth inspect [OPTIONS] NAME|ID [NAME|ID...]",
    "Return low-level information on berth objects",
    [*_FLAGS, Flag("type", "", "str", "", help="Only inspect objects of the given type")],
    min_args=1,
)
CONTAINER = Command(
    "container inspect",
    "berth container inspect [OPTIONS] CONTAINER [CONTAINER...]",
    "Display detailed information on one or more containers",
    _FLAGS,
    min_args=1,
)
IMAGE = Command(
    "image inspect",
    "berth image inspect [OPTIONS] IMAGE [IMAGE...]",
    "Display detailed information on one or more images",
    [_FLAGS[0]],
    min_args=1,
)


def _find(ctx: Context, name: str, kind: str) -> Any:
    from berth.client.errors import APIError

    kinds = ["container", "image"] if kind in ("", None) else [kind]
    for k in kinds:
        try:
            if k == "container":
                return ctx.client.inspect_container(name)
            if k == "image":
                return ctx.client.inspect_image(name)
        except APIError as exc:
            if exc.status != 404:
                raise
    return None


def _show(ctx: Context, names: list[str], fmt: str, kind: str) -> int:
    if kind not in ("", "container", "image"):
        raise StatusError(1, f'"{kind}" is not a valid value for --type')
    noun = kind or "object"
    prefix = "Error response from daemon: " if kind else "Error: "

    def fetch(name: str) -> Any:
        obj = _find(ctx, name, kind)
        if obj is None:
            raise LookupError(f"{prefix}No such {noun}: {name}")
        return obj

    return show_each(ctx, names, fmt, fetch)


def show_each(
    ctx: Context,
    names: list[str],
    fmt: str | None,
    fetch: Callable[[str], Any],
    go_type: str = "",
) -> int:
    """docker's inspect output for each name: a JSON array, or the --format template per
    object; names that `fetch` cannot find (LookupError) are reported after, exit 1.
    go_type names the Go struct docker formats when it has no raw JSON fallback (volumes:
    a missing field is "can't evaluate field X in type T")."""
    import json

    from berth.cli.gotemplate import ExecError, ParseError, Template, TemplateError

    tmpl = None
    if fmt and fmt != "json":
        try:
            tmpl = Template(fmt.replace("\\t", "\t").replace("\\n", "\n"))
        except ParseError as exc:
            # as the docker CLI: a template that does not parse is a usage error (64)
            raise StatusError(64, f"template parsing error: template: :{exc.line}: {exc}") from None
    found: list[Any] = []
    missing: list[str] = []
    printed = False
    for name in names:
        try:
            obj = fetch(name)
        except LookupError as exc:
            missing.append(str(exc.args[0]) if exc.args else str(exc))
            continue
        if tmpl is None:
            found.append(obj)
            continue
        try:
            # docker inspect's raw fallback runs with missingkey=error
            ctx.out(tmpl.execute(obj, missingkey="error", go_type=go_type) + "\n")
            printed = True
        except TemplateError as exc:
            if not printed:
                ctx.out("\n")  # docker flushes its (empty) buffer: one empty line
            msg = str(exc) if isinstance(exc, ExecError) else f"template: {exc}"
            raise StatusError(1, f"template parsing error: {msg}") from None
    if tmpl is None:
        text = json.dumps(found, indent=4, ensure_ascii=False)
        ctx.out(_go_escape(text) + "\n")
    for msg in missing:
        ctx.err(f"berth: {msg}")
    return 1 if missing else 0


def _go_escape(text: str) -> str:
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def inspect(ctx: Context, argv: list[str]) -> int:
    """berth inspect: containers first, then images, unless --type says which."""
    opts, args = parse(CMD, argv)
    return _show(ctx, args, opts.format, opts.type)


def container_inspect(ctx: Context, argv: list[str]) -> int:
    """berth container inspect."""
    opts, args = parse(CONTAINER, argv)
    return _show(ctx, args, opts.format, "container")


def image_inspect(ctx: Context, argv: list[str]) -> int:
    """berth image inspect."""
    opts, args = parse(IMAGE, argv)
    return _show(ctx, args, opts.format, "image")
