"""Progress messages in dockerd's JSON-lines shape, fed from worker threads: workers
emit into a `Reporter`, and `pump` hands its messages to the stream while a task runs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

_UNITS = ["B", "kB", "MB", "GB", "TB", "PB"]
_WIDTH = 50
_EVERY = 0.1  # seconds between two "Downloading"/"Pushing" updates of one layer


def human_size(size: float) -> str:
    i = 0
    while size >= 1000.0 and i < len(_UNITS) - 1:
        size /= 1000.0
        i += 1
    return f"{size:.4g}{_UNITS[i]}"


def bar(current: int, total: int) -> str:
    """jsonmessage.JSONProgress.String(): "[====>     ]  1.2MB/3.4MB"."""
    if total <= 0:
        return f"{human_size(current):>8}"
    n = min(int(_WIDTH * current / total), _WIDTH)
    spaces = max(_WIDTH - n, 0)
    box = f"[{'=' * n}>{' ' * (spaces - 1) if spaces else ''}] " if n < _WIDTH else f"[{'=' * n}>] "
    return box + f"{human_size(current):>8}/{human_size(total)}"


def status(text: str, ident: str | None = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"status": text}
    if ident is not None:
        msg = {"status": text, "progressDetail": {}, "id": ident}
    return msg


def moving(text: str, ident: str, current: int, total: int) -> dict[str, Any]:
    return {
        "status": text,
        "progressDetail": {"current": current, "total": total},
        "progress": bar(current, total),
        "id": ident,
    }


class Reporter:
    """Thread-safe: workers call emit(); the event loop side reads messages from queue."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.cancelled = False

    def emit(self, msg: dict[str, Any]) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, msg)

    def meter(self, text: str, ident: str, total: int) -> Any:
        """A progress callback that emits `text` updates at most every _EVERY seconds."""
        last = [0.0]

        def cb(current: int) -> None:
            now = time.monotonic()
            if now - last[0] >= _EVERY or current >= total:
                last[0] = now
                self.emit(moving(text, ident, current, total))

        return cb


async def pump(rep: Reporter, task: asyncio.Future[Any]) -> AsyncIterator[dict[str, Any]]:
    """Yield the reporter's messages until `task` is done (then what is left queued)."""
    while not task.done():
        getter = asyncio.ensure_future(rep.queue.get())
        done, _ = await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
        if getter in done:
            yield getter.result()
        else:
            getter.cancel()
    await asyncio.sleep(0)  # let call_soon_threadsafe callbacks land
    while not rep.queue.empty():
        yield rep.queue.get_nowait()
