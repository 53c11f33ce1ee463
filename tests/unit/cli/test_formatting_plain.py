"""Tables of plain {{.Field}} columns (docker's defaults) are rendered without the template
engine, and exactly as the engine renders them; anything else goes to the engine."""

from __future__ import annotations

import pytest

from berth.cli import formatting
from berth.cli.commands import images, ps
from berth.cli.gotemplate import Template, TemplateData


def _engine(fmt: str, rows: list[TemplateData], headers: dict[str, str], default: str) -> str:
    src, table = formatting.prepare(fmt, default)
    t = Template(src)
    text = t.execute(formatting._HeaderData(headers)) + "\n" if table else ""
    text += "".join(t.execute(r) + "\n" for r in rows)
    return formatting.tabwrite(text) if table else text


ROWS = [
    TemplateData(ID="0123456789ab", Image="busybox", Command='"sleep 60"', RunningFor="2 s",
                 Status="Up 2 s", Ports="", Names="web", Size="0B", CreatedSince="1 s",
                 Repository="busybox", Tag="latest", Digest="<none>", CreatedAt="now"),
    TemplateData(ID="ba9876543210", Image="a-much-longer-image:tag", Command='"sh"',
                 RunningFor="3 days", Status="Exited (0)", Ports="80/tcp", Names="db,x",
                 Size="1.2MB", CreatedSince="3 days", Repository="r", Tag="t", Digest="d",
                 CreatedAt="then"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("fmt", "headers", "default"),
    [
        ("", ps.HEADERS, ps.DEFAULT_TABLE),
        ("table {{.ID}}\\t{{ .Names }}", ps.HEADERS, ps.DEFAULT_TABLE),
        ("table", images.HEADERS, images.DEFAULT_TABLE),
    ],
)
def test_plain_tables_render_as_the_engine_does(fmt: str, headers: dict, default: str) -> None:
    src, _ = formatting.prepare(fmt, default)
    assert formatting._plain_fields(src) is not None
    got = formatting.render(fmt, ROWS, headers, default)
    assert got == _engine(fmt, ROWS, headers, default)
    assert formatting.render(fmt, [], headers, default) == _engine(fmt, [], headers, default)


@pytest.mark.parametrize(
    "src", ['{{.ID | printf "%s"}}', "{{if .ID}}x{{end}}", '{{.Label "k"}}', "a}}b", "{{.A"]
)
def test_anything_but_fields_is_not_plain(src: str) -> None:
    assert formatting._plain_fields(src) is None


def test_a_field_that_is_not_a_string_goes_to_the_engine() -> None:
    rows = [TemplateData(ID="x", Platform=None)]
    got = formatting.render("table {{.ID}}\\t{{.Platform}}", rows, {"ID": "ID"}, "")
    assert got == _engine("table {{.ID}}\\t{{.Platform}}", rows, {"ID": "ID"}, "")
    assert "<nil>" in got or "<no value>" in got
