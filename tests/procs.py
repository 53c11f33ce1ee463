"""Processes as /proc shows them, for tests that look at what a daemon or zygote forked."""

from __future__ import annotations

import os
from pathlib import Path


def children(ppid: int) -> dict[int, tuple[str, int]]:
    """pid -> (state, session id) of each child of PPID."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            fields = Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == ppid:
            out[int(d)] = (fields[0], int(fields[3]))
    return out
