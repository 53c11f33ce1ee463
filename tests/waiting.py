"""Waiting on conditions, not on the clock: what tests use instead of a fixed sleep."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(cond: Callable[[], T], what: str, timeout: float = 15.0, step: float = 0.05) -> T:
    """Poll `cond` until it returns something truthy, and return that; fail naming `what`
    after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(step)


def holds(cond: Callable[[], bool], seconds: float, what: str, step: float = 0.05) -> None:
    """Assert that `cond` stays true for `seconds`, checked all along. A negative ("no
    more probes after the stop") can only be shown over a span of time: this names the
    span and checks it throughout, instead of sleeping and looking once."""
    deadline = time.monotonic() + seconds
    while True:
        assert cond(), f"{what}: no longer true"
        if time.monotonic() > deadline:
            return
        time.sleep(step)
