"""What every command gets: the chosen daemon, a lazily built client, and exit-status errors."""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # importing typing costs the CLI's start ~3 ms

if TYPE_CHECKING:
    from berth.client.api import Client
    from berth.client.contexts import Endpoint


class StatusError(Exception):
    """Stop the command with this exit status, printing message (one line) if there is one."""

    def __init__(self, status: int, message: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Context:
    """Global options plus the client they imply.

    endpoint is a host string or a resolved Endpoint (host, TLS settings, context name).
    The API version is DOCKER_API_VERSION when set, else negotiated with the daemon.
    """

    def __init__(
        self,
        endpoint: str | Endpoint | None,
        debug: bool = False,
        prog: str = "berth",
        api_version: str | None = None,
    ) -> None:
        if isinstance(endpoint, str):
            self.host: str = endpoint
            self.endpoint: Endpoint | None = None
        else:
            self.endpoint = endpoint
            self.host = endpoint.host if endpoint is not None else ""
        self.debug = debug
        self.prog = prog
        env_version = os.environ.get("DOCKER_API_VERSION", "").strip().removeprefix("v")
        self.api_version = api_version or env_version or "auto"
        self._client: Client | None = None

    @property
    def client(self) -> Client:
        """The API client (created on first use)."""
        if self._client is None:
            from berth.client.api import Client

            tls = self.endpoint.tls if self.endpoint is not None else None
            self._client = Client(self.host, api_version=self.api_version, tls=tls)
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
