"""--format handling shared by ps, images and inspect: table/json/raw Go templates."""

from __future__ import annotations

from berth.cli.gotemplate import Template, TemplateData, TemplateError
from berth.cli.table import tabwrite

TYPE_CHECKING = False  # typing is not imported at run time: ~3 ms of the CLI's start
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any

__all__ = ["TemplateData", "TemplateError", "render", "prepare"]


class _Header(str):
    """A header cell that also answers method-style calls ({{.Label "k"}})."""

    def __call__(self, *args: Any) -> _Header:
        return self


class _HeaderData(TemplateData):
    def get(self, key: str, default: Any = None) -> Any:
        val = super().get(key)
        return _Header(val if val is not None else "")


def prepare(fmt: str, default_table: str) -> tuple[str, bool]:
    """(template text, is table) for a --format value, as docker's formatter reads it."""
    fmt = fmt.strip()
    if fmt in ("", "table"):
        fmt = default_table
    elif fmt == "json":
        fmt = "{{json .}}"
    table = fmt.startswith("table")
    if table:
        fmt = fmt[len("table") :]
    fmt = fmt.strip(" ").replace("\\t", "\t").replace("\\n", "\n")
    return fmt, table


def _plain_fields(src: str) -> list[str] | None:
    """SRC split as [text, field, text, field, ..., text] when it is only literal text and
    {{.Field}} actions (docker's default tables), else None."""
    parts: list[str] = []
    rest = src
    while True:
        i = rest.find("{{")
        if i < 0:
            break
        j = rest.find("}}", i)
        if j < 0:
            return None
        action = rest[i + 2 : j].strip()
        if not action.startswith(".") or not action[1:].isidentifier():
            return None
        parts += [rest[:i], action[1:]]
        rest = rest[j + 2 :]
    if "}}" in rest:
        return None
    return [*parts, rest]


def _plain_render(parts: list[str], headers: Mapping[str, str], rows: list[Any]) -> str | None:
    """The table of ROWS by PARTS without the template engine, when every field each row
    names is a string of it (what a template prints as it is); None otherwise."""
    names = parts[1::2]
    for row in rows:
        if not isinstance(row, dict) or any(not isinstance(row.get(n), str) for n in names):
            return None
    out = []
    for data in (headers, *rows):
        line = [parts[0]]
        for k in range(1, len(parts), 2):
            line += [data.get(parts[k]) or "", parts[k + 1]]
        out.append("".join(line) + "\n")
    return tabwrite("".join(out))


def render(
    fmt: str,
    rows: Iterable[Any],
    headers: Mapping[str, str],
    default_table: str,
    go_type: str = "",
    exec_prefix: str = "failed to execute template",
) -> str:
    """Render rows with a docker --format string ("table ...", "json", or a template).

    go_type names the docker CLI's formatter context (a struct: a field it lacks fails the
    command, as `docker ps --format '{{.Nope}}'` does); exec_prefix, the words the docker
    command puts before an execution error (`volume ls`: "template parsing error")."""
    from berth.cli.context import StatusError
    from berth.cli.gotemplate import ExecError, ParseError

    src, table = prepare(fmt, default_table)
    parts = _plain_fields(src) if table else None
    if parts is not None:
        rows = list(rows)
        text = _plain_render(parts, headers, rows)
        if text is not None:
            return text
    try:
        tmpl = Template(src)
    except TemplateError as exc:
        line = exc.line if isinstance(exc, ParseError) else 1
        raise StatusError(1, f"template parsing error: template: :{line}: {exc}") from None
    out: list[str] = []
    try:
        if table:
            out.append(tmpl.execute(_HeaderData(headers)) + "\n")
        for row in rows:
            if go_type and isinstance(row, TemplateData):
                row.go_type = go_type
            out.append(tmpl.execute(row) + "\n")
    except ExecError as exc:
        raise StatusError(1, f"{exec_prefix}: {exc}") from None
    except TemplateError as exc:
        raise StatusError(1, f"template: :1: {exc}") from None
    text = "".join(out)
    return tabwrite(text) if table else text
