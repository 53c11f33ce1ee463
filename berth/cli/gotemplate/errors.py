"""The errors of the template engine, worded as Go's text/template words them."""

from __future__ import annotations


class TemplateError(ValueError):
    """A template that does not parse or cannot be executed."""


class ParseError(TemplateError):
    """A parse error: str() is Go's message; line is the template line it is on (Go prints
    them as `template: NAME:LINE: MESSAGE`)."""

    def __init__(self, message: str, line: int = 1) -> None:
        super().__init__(message)
        self.line = line


class ExecError(TemplateError):
    """An execution error located as Go's text/template words it:
    `template: NAME:LINE:COL: executing "NAME" at <NODE>: MESSAGE`."""
