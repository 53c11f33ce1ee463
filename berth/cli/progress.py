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
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TaskID,
        TextColumn,
        TransferSpeedColumn,
    )

    console = Console(file=out, highlight=False, soft_wrap=True)
    seen: list[str] = []
    tasks: dict[str, TaskID] = {}
    sizes: dict[str, int] = {}
    bars = Progress(
        TextColumn("{task.fields[ident]}:"),
        TextColumn("{task.description:<20}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=console,
        refresh_per_second=10,
    )
    live = False

    def line(text: str, end: str = "\n") -> None:
        nonlocal live
        if live:
            # Once the layers are done the summary goes below them, as docker's does.
            bars.stop()
            live = False
            for task in tasks.values():
                bars.remove_task(task)
            tasks.clear()
        console.print(text, end=end, markup=False)

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
                line(text, end="")
                continue
            status = msg.get("status")
            if status is None:
                continue
            status = str(status)
            seen.append(status)
            ident = msg.get("id")
            if not ident or "progressDetail" not in msg:
                line(f"{ident}: {status}" if ident else status)
                continue
            ident = str(ident)
            if not live:
                bars.start()
                live = True
            task = tasks.get(ident)
            if task is None:
                task = tasks[ident] = bars.add_task(status, total=None, ident=ident)
            detail = msg.get("progressDetail") or {}
            update: dict[str, Any] = {"description": status}
            if detail.get("current") is not None:
                update["completed"] = int(detail["current"])
                if detail.get("total"):
                    sizes[ident] = int(detail["total"])
                    update["total"] = sizes[ident]
            elif status.startswith(_DONE):
                # A finished layer shows a full bar, whatever its last update said.
                size = sizes.get(ident, 1)
                update["total"] = size
                update["completed"] = size
            bars.update(task, **update)
    finally:
        if live:
            bars.stop()
    return seen
