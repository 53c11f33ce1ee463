"""The error a build step fails with."""

from __future__ import annotations

from berth.engine.errors import EngineError


class BuildError(EngineError):
    """A step failed: the stream's errorDetail carries its code (a RUN's exit status)."""

    status = 500

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code
