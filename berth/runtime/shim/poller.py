"""The shim's one selector: each fd's interest and the handler its events go to."""

from __future__ import annotations

import os
import selectors
import time
from collections.abc import Callable

from berth.runtime.logfile import format_time

R = selectors.EVENT_READ
W = selectors.EVENT_WRITE

Handler = Callable[[int, int], None]  # (fd, events)


def log(msg: str) -> None:
    """A line in shim.log (the shim's stderr)."""
    os.write(2, f"{format_time(time.time_ns())} shim[{os.getpid()}]: {msg}\n".encode())


class Poller:
    """fd -> (interest, handler). An fd without interest is not in the selector at all."""

    __slots__ = ("sel", "events", "handlers")

    def __init__(self) -> None:
        self.sel = selectors.DefaultSelector()
        self.events: dict[int, int] = {}
        self.handlers: dict[int, Handler] = {}

    def set(self, fd: int, events: int, handler: Handler) -> None:
        """Watch `fd` for `events` (0: not at all), delivering them to `handler`."""
        old = self.events.get(fd, 0)
        if events:
            self.handlers[fd] = handler
        if events == old:
            return
        if not events:
            self.forget(fd)
        elif not old:
            self.sel.register(fd, events)
            self.events[fd] = events
        else:
            self.sel.modify(fd, events)
            self.events[fd] = events

    def forget(self, fd: int) -> None:
        """Stop watching `fd` (before it is closed)."""
        if fd in self.events:
            self.sel.unregister(fd)
            del self.events[fd]
        self.handlers.pop(fd, None)

    def watching(self, fd: int) -> bool:
        return fd in self.events

    def poll(self, timeout: float | None) -> None:
        """Wait up to `timeout` for events and hand each to its fd's handler."""
        for key, ev in self.sel.select(timeout):
            handler = self.handlers.get(key.fd)
            if handler is not None:  # an earlier handler of this round may have closed it
                handler(key.fd, ev)

    def close(self) -> None:
        self.sel.close()
