"""Helpers of the daemon tests: a free loopback port, waiting on a log line."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.waiting import wait_for as wait_for  # the daemon tests wait through it


def ok(r: subprocess.CompletedProcess[bytes]) -> str:
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return r.stdout.decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def log_has(log: Path, text: str) -> Callable[[], bool]:
    return lambda: text in log.read_text(errors="replace")
