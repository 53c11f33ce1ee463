"""Helpers of the daemon tests: a free loopback port, waiting on a log line."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def ok(r: subprocess.CompletedProcess[bytes]) -> str:
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return r.stdout.decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(cond: Callable[[], T | None], what: str, timeout: float = 15) -> T:
    """COND's first truthy value; fails naming WHAT when none comes within TIMEOUT."""
    deadline = time.monotonic() + timeout
    while True:
        val = cond()
        if val:
            return val
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def log_has(log: Path, text: str) -> Callable[[], bool]:
    return lambda: text in log.read_text(errors="replace")
