"""The executor's two failures: the container could not start, or its process could not
be executed (the latter reads like Go's exec package, as runc's does)."""

from __future__ import annotations

import os

PREFIX = "unable to start container process: "


class StartError(Exception):
    """The container could not start; `message` reads like runc's."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ExecError(Exception):
    """Resolving or executing process.args[0] failed (Go exec.LookPath wording)."""


def go_err(e: OSError) -> str:
    """An OSError as Go's syscall error strings read: lower-case strerror."""
    s = os.strerror(e.errno) if e.errno else str(e)
    return s[:1].lower() + s[1:]
