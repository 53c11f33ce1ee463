"""The progress streams of load, pull and push, as dockerd answers them: an error before
the first message is raised (an HTTP error status); a later one becomes the stream's last
message, an errorDetail."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from berth.engine.errors import EngineError

# what the image operations tell the engine's event bus: (image id or name, action, name)
ImageEvent = Callable[[str, str, str], None]


def error_message(exc: Exception) -> dict[str, Any]:
    text = exc.message if isinstance(exc, EngineError) else f"{type(exc).__name__}: {exc}"
    return {"errorDetail": {"message": text}, "error": text}


async def streamed(gen: AsyncIterator[dict]) -> AsyncIterator[dict]:
    """`gen`'s messages; its errors as dockerd reports them (see the module docstring)."""
    started = False
    try:
        async for msg in gen:
            started = True
            yield msg
    except Exception as exc:
        if not started:
            raise
        yield error_message(exc)


async def evented(gen: AsyncIterator[dict], done: Callable[[], None]) -> AsyncIterator[dict]:
    """`streamed(gen)`, calling `done()` (dockerd's event) once it has succeeded."""
    failed = False
    async for msg in streamed(gen):
        failed = failed or "errorDetail" in msg
        yield msg
    if not failed:
        done()
