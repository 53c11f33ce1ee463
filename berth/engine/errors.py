"""Typed engine errors. The API maps each kind to an HTTP status in one place
(berth/api/errors.py); nothing below the API knows about status codes."""


class EngineError(Exception):
    """Base of every error the engine raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(EngineError):
    """The named object does not exist (404)."""


class Conflict(EngineError):
    """The request clashes with the current state (409)."""


class InvalidParameter(EngineError):
    """The request itself is wrong (400)."""


class Unauthorized(EngineError):
    """Credentials are missing or were refused (401), e.g. a registry login."""


class Forbidden(EngineError):
    """The operation is refused by policy (403)."""


class NotModified(EngineError):
    """Nothing to do: already in the requested state (304)."""


class Unavailable(EngineError):
    """A feature that exists but is not enabled on this node (503), e.g. swarm."""


class NotImplementedYet(EngineError):
    """A feature berth does not support (501)."""


class SystemError_(EngineError):
    """A real internal fault (500), carrying a message worth showing."""
