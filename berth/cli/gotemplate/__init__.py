"""The Go text/template that docker --format users write, in Go's three stages:
lexer.py (lex.go) -> parser.py (parse.go, nodes.py: node.go) -> executor.py (exec.go), with
the functions of funcs.py (Go's builtins and the ones docker registers)."""

from __future__ import annotations

from berth.cli.gotemplate.errors import ExecError, ParseError, TemplateError
from berth.cli.gotemplate.funcs import (
    FUNCS,
    GO_MAPS,
    NO_VALUE,
    TemplateData,
    go_json,
    go_str,
    truthy,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "FUNCS",
    "GO_MAPS",
    "NO_VALUE",
    "ExecError",
    "ParseError",
    "Template",
    "TemplateData",
    "TemplateError",
    "go_json",
    "go_str",
    "parse",
    "truthy",
]


def parse(src: str, funcs: Any = FUNCS) -> Any:
    """The template's trees (parser.parse); the parser is imported when first needed: a
    command whose format needs no template (berth ps) does not pay for it."""
    from berth.cli.gotemplate.parser import parse as parse_

    return parse_(src, funcs)


class Template:
    """A parsed template; execute() renders it against data."""

    def __init__(self, src: str) -> None:
        self.src = src
        self.trees = parse(src, FUNCS)

    def execute(self, data: Any, missingkey: str = "default", go_type: str = "") -> str:
        """Render with data as dot (and $). missingkey is Go's option: "default" renders
        a map's missing key as <no value>, "error" (docker inspect's) fails on it. go_type
        names the Go struct data stands for: a field it lacks fails, whatever missingkey."""
        from berth.cli.gotemplate.executor import execute

        return execute(self.trees, self.src, data, missingkey, go_type)
