"""Errors the client raises; the CLI turns each into one line on stderr."""

from __future__ import annotations


class ClientError(Exception):
    """Base of everything the client library raises on purpose."""


class DaemonUnreachable(ClientError):
    """The daemon socket could not be connected to."""

    def __init__(self, url: str, reason: str = "") -> None:
        self.url = url
        self.reason = reason
        if "ermission denied" in reason:
            msg = (
                "permission denied while trying to connect to the berth daemon socket at "
                f"{url}: {reason}"
            )
        else:
            msg = f"Cannot connect to the berth daemon at {url}. Is the berth daemon running?"
        super().__init__(msg)


class APIError(ClientError):
    """The daemon answered with an error status; message is its {"message": ...}."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(f"Error response from daemon: {message}")


class ProtocolError(ClientError):
    """The daemon's answer was not the HTTP we expected."""


class StreamError(ClientError):
    """An error reported inside a JSON progress stream (pull, load, import)."""


class TLSError(ClientError):
    """TLS could not be set up or failed: bad cert files, a refused handshake, an alert.

    Shown like the docker CLI's "error during connect: ... tls: ..." in one line, once the
    transport has said which daemon it was (url).
    """

    def __init__(self, reason: str, url: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.url = url

    def __str__(self) -> str:
        if self.url:
            return f"error during connect: {self.url}: tls: {self.reason}"
        return self.reason


class ContextError(Exception):
    """A build context cannot be prepared; the message is docker/cli's, shown as is."""
