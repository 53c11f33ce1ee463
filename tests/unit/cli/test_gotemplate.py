"""The Go template subset used by --format."""

from __future__ import annotations

from typing import Any

import pytest

from berth.cli.gotemplate import Template, TemplateData, TemplateError, go_json

DOC: dict[str, Any] = {
    "Id": "abc",
    "Name": "/web",
    "State": {"Status": "running", "Pid": 42, "Running": True},
    "Config": {"Image": "busybox", "Labels": {"a": "1", "b.c": "x"}, "Env": ["A=1", "B=2"]},
    "Mounts": [],
    "Empty": None,
}


@pytest.mark.parametrize(
    "src, want",
    [
        ("{{.State.Status}}", "running"),
        ("{{.State.Pid}} {{.State.Running}}", "42 true"),
        ("{{.Id}}{{.Name}}", "abc/web"),
        ("{{json .Config.Labels}}", '{"a":"1","b.c":"x"}'),
        ("{{json .Mounts}}", "[]"),
        ('{{index .Config.Labels "b.c"}}', "x"),
        ("{{.Config.Labels}}", "map[a:1 b.c:x]"),
        ("{{.Config.Env}}", "[A=1 B=2]"),
        ("{{.Missing}}", "<no value>"),
        ("{{.Empty}}", "<no value>"),
        ("{{range .Config.Env}}[{{.}}]{{end}}", "[A=1][B=2]"),
        ("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}} {{end}}", "a=1 b.c=x "),
        ("{{range .Mounts}}x{{else}}none{{end}}", "none"),
        ("{{if .State.Running}}up{{else}}down{{end}}", "up"),
        ('{{if eq .State.Status "exited"}}E{{else if .Id}}I{{else}}N{{end}}', "I"),
        ("{{with .State}}{{.Pid}}{{end}}", "42"),
        ("{{.Config.Image | upper}}", "BUSYBOX"),
        ('{{printf "%s-%d" .Id .State.Pid}}', "abc-42"),
        ('{{join .Config.Env ","}}', "A=1,B=2"),
        ("{{len .Config.Env}}", "2"),
        ("a {{- .Id -}} b", "aabcb"),
        ("{{/* note */}}x", "x"),
        ("{{$x := .Id}}{{$x}}{{$.Name}}", "abc/web"),
        ("{{(index .Config.Env 1)}}", "B=2"),
        ("{{not .State.Running}}", "false"),
    ],
)
def test_render(src: str, want: str) -> None:
    assert Template(src).execute(DOC) == want


@pytest.mark.parametrize("src", ["{{.Id", "{{end}}", "{{if .Id}}x", "{{(.Id}}"])
def test_parse_errors(src: str) -> None:
    with pytest.raises(TemplateError):
        Template(src)


def test_exec_errors() -> None:
    with pytest.raises(TemplateError):
        Template("{{nosuchfunc .Id}}").execute(DOC)
    with pytest.raises(TemplateError):
        Template("{{.Id.Sub}}").execute(DOC)


def test_methods_and_json_of_template_data() -> None:
    labels = {"k": "v"}
    row = TemplateData(ID="x", Names="n", Label=lambda key: labels.get(key, ""))
    assert Template('{{.Label "k"}}|{{.Label "z"}}').execute(row) == "v|"
    assert Template("{{json .}}").execute(row) == '{"ID":"x","Names":"n"}'


def test_json_escapes_html_like_go() -> None:
    assert go_json({"a": "<&>"}) == '{"a":"\\u003c\\u0026\\u003e"}'
