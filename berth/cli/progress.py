"""Showing the daemon's JSON-lines progress streams (pull, push, load, import) like docker does.

On a terminal, pull and push draw one live bar per layer with rich (imported only here, and
only then, so other commands start as fast as before); elsewhere they print docker's plain lines.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TextIO

from berth.client.errors import StreamError


def show(messages: Iterable[Any], out: TextIO, tty: bool = False) -> list[str]:
    """Print each message's stream text or status line; raise StreamError on an error message.

    Returns the "status"/"stream" texts seen (import's image id is the last status).
    Progress-bar updates are only drawn on a terminal; elsewhere they would flood the log.
    """
    seen: list[str] = []
    for msg in messages:
        if not isinstance(msg, dict):
            continue
        err = msg.get("errorDetail") or {}
        if msg.get("error") or err.get("message"):
            raise StreamError(err.get("message") or msg.get("error"))
        if "stream" in msg:
            text = str(msg["stream"])
            seen.append(text.strip())
            out.write(text)
            continue
        status = msg.get("status")
        if status is None:
            continue
        seen.append(str(status))
        if msg.get("progressDetail") and msg.get("progress") is not None and not tty:
            continue
        ident = msg.get("id")
        line = f"{ident}: {status}" if ident else str(status)
        if msg.get("progress") and tty:
            line += " " + str(msg["progress"])
        out.write(line + "\n")
        out.flush()
    return seen


_DONE = (
    "Pull complete",
    "Already exists",
    "Download complete",
    "Pushed",
    "Layer already exists",
    "Mounted from",
)


def show_bars(messages: Iterable[Any], out: TextIO) -> list[str]:
    """Like show(), but each layer (a message with an id and a progressDetail) gets a live bar.

    Other status lines ("Digest: ...", "Status: ...", "latest: Pulling from ...") are printed
    above the bars, so the command ends with the same lines as the plain output.
    """
    seen: list[str] = []
    bars = _Bars(out)
    try:
        for msg in messages:
            if not isinstance(msg, dict):
                continue
            err = msg.get("errorDetail") or {}
            if msg.get("error") or err.get("message"):
                raise StreamError(err.get("message") or msg.get("error"))
            if "stream" in msg:
                text = str(msg["stream"])
                seen.append(text.strip())
                bars.line(text, end="")
                continue
            status = msg.get("status")
            if status is None:
                continue
            status = str(status)
            seen.append(status)
            ident = msg.get("id")
            if not ident or "progressDetail" not in msg:
                bars.line(f"{ident}: {status}" if ident else status)
                continue
            bars.layer(str(ident), status, msg.get("progressDetail") or {})
    finally:
        bars.stop()
    return seen


class _Bars:
    """rich's live bars, one a layer, and plain lines printed above them."""

    def __init__(self, out: TextIO) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TaskID,
            TextColumn,
            TransferSpeedColumn,
        )

        self.console = Console(file=out, highlight=False, soft_wrap=True)
        self.tasks: dict[str, TaskID] = {}
        self.sizes: dict[str, int] = {}
        self.bars = Progress(
            TextColumn("{task.fields[ident]}:"),
            TextColumn("{task.description:<20}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=self.console,
            refresh_per_second=10,
        )
        self.live = False

    def line(self, text: str, end: str = "\n") -> None:
        if self.live:
            # Once the layers are done the summary goes below them, as docker's does.
            self.stop()
            for task in self.tasks.values():
                self.bars.remove_task(task)
            self.tasks.clear()
        self.console.print(text, end=end, markup=False)

    def layer(self, ident: str, status: str, detail: dict[str, Any]) -> None:
        if not self.live:
            self.bars.start()
            self.live = True
        task = self.tasks.get(ident)
        if task is None:
            task = self.tasks[ident] = self.bars.add_task(status, total=None, ident=ident)
        update: dict[str, Any] = {"description": status}
        if detail.get("current") is not None:
            update["completed"] = int(detail["current"])
            if detail.get("total"):
                self.sizes[ident] = int(detail["total"])
                update["total"] = self.sizes[ident]
        elif status.startswith(_DONE):
            # A finished layer shows a full bar, whatever its last update said.
            size = self.sizes.get(ident, 1)
            update["total"] = size
            update["completed"] = size
        self.bars.update(task, **update)

    def stop(self) -> None:
        if self.live:
            self.bars.stop()
            self.live = False
