"""Showing the daemon's JSON-lines progress streams (pull, load, import) like docker does."""

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
