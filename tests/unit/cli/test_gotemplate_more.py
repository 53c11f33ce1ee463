"""Go template features beyond the basics, and docker inspect's missingkey=error, with the
texts Go's text/template (and so docker 28) prints."""

from __future__ import annotations

from typing import Any

import pytest

from berth.cli.gotemplate import ExecError, Template, TemplateData, TemplateError

DOC: dict[str, Any] = {
    "Name": "/web",
    "Config": {"Labels": {"a": "1"}, "Env": ["A=1", "B=2", "C=3"]},
    "State": {"Status": "running"},
}


@pytest.mark.parametrize(
    ("src", "want"),
    [
        ("{{slice .Config.Env 1 2}}", "[B=2]"),
        ("{{slice .Config.Env 1}}", "[B=2 C=3]"),
        ("{{slice .Name 1 3}}", "we"),
        ("{{slice .Name}}", "/web"),
        ('{{html "<a href=\'x\'>&\\"</a>"}}', "&lt;a href=&#39;x&#39;&gt;&amp;&#34;&lt;/a&gt;"),
        ('{{urlquery "a b&c/d~e"}}', "a+b%26c%2Fd~e"),
        ('{{"}}"}}', "}}"),
        ("{{`}}`}}", "}}"),
        ('{{printf "%s" "{{x}}"}}', "{{x}}"),
        ("a \t{{- .Name}}", "a/web"),
        ("a\n\t{{- .Name -}}\t\n b", "a/webb"),
        ("{{.Name -}}\tx", "/webx"),
        ("x-{{.Name}}", "x-/web"),
        ('{{define "T"}}[{{.}}]{{end}}{{template "T" .Name}}', "[/web]"),
        ('{{define "T"}}<{{.}}>{{end}}{{range .Config.Env}}{{template "T" .}}{{end}}',
         "<A=1><B=2><C=3>"),
        ('{{define "T"}}{{$.Status}}{{end}}{{template "T" .State}}', "running"),
        ('{{block "B" .Name}}({{.}}){{end}}', "(/web)"),
        ('{{range .Config.Env}}{{if eq . "B=2"}}{{break}}{{end}}{{.}} {{end}}', "A=1 "),
        ('{{range .Config.Env}}{{if eq . "B=2"}}{{continue}}{{end}}{{.}} {{end}}', "A=1 C=3 "),
        ("{{.Config.Labels.zz}}", "<no value>"),
    ],
)  # fmt: skip
def test_render(src: str, want: str) -> None:
    assert Template(src).execute(DOC, missingkey="error") == want


@pytest.mark.parametrize(
    ("src", "message"),
    [
        ("{{.Nope}}", 'template: :1:2: executing "" at <.Nope>: map has no entry for key "Nope"'),
        ("{{.Config.Nope}}",
         'template: :1:9: executing "" at <.Config.Nope>: map has no entry for key "Nope"'),
        ("{{.Name}} {{.Nope}}",
         'template: :1:12: executing "" at <.Nope>: map has no entry for key "Nope"'),
        ("x\n  {{.Nope}}",
         'template: :2:4: executing "" at <.Nope>: map has no entry for key "Nope"'),
        ("{{$x := .State}}{{$x.Nope}}",
         'template: :1:20: executing "" at <$x.Nope>: map has no entry for key "Nope"'),
    ],
)  # fmt: skip
def test_missing_key_is_an_error_with_missingkey_error(src: str, message: str) -> None:
    with pytest.raises(ExecError) as info:
        Template(src).execute(DOC, missingkey="error")
    assert str(info.value) == message


def test_missing_key_renders_no_value_by_default() -> None:
    assert Template("{{.Nope}}").execute(DOC) == "<no value>"


def test_a_typed_row_lacking_a_field_is_an_error() -> None:
    row = TemplateData(ID="abc")
    row.go_type = "*formatter.ContainerContext"
    with pytest.raises(ExecError) as info:
        Template("{{.ID}} {{.Nope}}").execute(row)
    assert str(info.value) == (
        'template: :1:10: executing "" at <.Nope>: '
        "can't evaluate field Nope in type *formatter.ContainerContext"
    )


@pytest.mark.parametrize("src", ['{{template "nope"}}', "{{break}}"])
def test_execution_errors(src: str) -> None:
    with pytest.raises(TemplateError):
        Template(src).execute(DOC)


@pytest.mark.parametrize("src", ['{{"}}', "{{define}}x{{end}}", '{{define "a"}}x'])
def test_parse_errors(src: str) -> None:
    with pytest.raises(TemplateError):
        Template(src)


def test_a_field_of_a_parenthesised_pipeline() -> None:
    """Go's chain node: `(index .M "k").Field` reads Field off the pipeline's value."""
    from berth.cli.gotemplate import Template

    data = {"Networks": {"n-ipam": {"IPAddress": "10.1.1.2"}}, "L": [{"A": {"B": "deep"}}]}
    out = Template('{{(index .Networks "n-ipam").IPAddress}}|{{(index .L 0).A.B}}').execute(data)
    assert out == "10.1.1.2|deep"
    # a space before the field makes it an argument, not a chain (Go: a call with args)
    assert Template("{{ (index .L 0) }}").execute(data) == "map[A:map[B:deep]]"
