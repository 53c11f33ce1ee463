"""What every command gets: the chosen daemon, a lazily built client, and exit-status errors."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from berth.client.api import Client


class StatusError(Exception):
    """Stop the command with this exit status, printing message (one line) if there is one."""

    def __init__(self, status: int, message: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Context:
    """Global options plus the client they imply."""

    def __init__(self, host: str, debug: bool = False, prog: str = "berth") -> None:
        self.host = host
        self.debug = debug
        self.prog = prog
        self._client: Client | None = None

    @property
    def client(self) -> Client:
        """The API client (created on first use)."""
        if self._client is None:
            from berth.client.api import Client

            self._client = Client(self.host)
        return self._client

    def out(self, text: str) -> None:
        """Write to stdout."""
        sys.stdout.write(text)

    def err(self, text: str) -> None:
        """Write one message line to stderr."""
        sys.stderr.write(text if text.endswith("\n") else text + "\n")

    @staticmethod
    def stdin_is_tty() -> bool:
        """Whether stdin is a terminal."""
        return os.isatty(0)

    @staticmethod
    def stdout_is_tty() -> bool:
        """Whether stdout is a terminal."""
        return os.isatty(1)
