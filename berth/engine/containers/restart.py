"""Restart policies (no, always, on-failure[:N], unless-stopped), as dockerd's
restartmanager applies them: the decision when a container exits, and the back-off
before it runs again (100 ms, doubling to at most a minute, back to 100 ms once a
run lasted 10 s).

The decision is pure (`should_restart`, `Backoff`) so it can be tested without
containers; `RestartManager` keeps the per-container state and the pending timers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from berth.engine.containers.model import RestartPolicy

log = logging.getLogger("berth.restart")

INITIAL_DELAY = 0.1
MAX_DELAY = 60.0
MULTIPLIER = 2
# a run at least this long resets the back-off
RESET_AFTER = 10.0


@dataclass
class Backoff:
    """dockerd's restart timeout: the delay before the next restart."""

    delay: float = 0.0

    def next(self, ran_for: float) -> float:
        if ran_for >= RESET_AFTER:
            self.delay = 0.0
        if self.delay == 0.0:
            self.delay = INITIAL_DELAY
        elif self.delay < MAX_DELAY:
            self.delay *= MULTIPLIER
        self.delay = min(self.delay, MAX_DELAY)
        return self.delay


def should_restart(
    policy: RestartPolicy, exit_code: int, manually_stopped: bool, restart_count: int
) -> bool:
    name = policy.name or "no"
    if name == "always":
        return True
    if name == "unless-stopped":
        return not manually_stopped
    if name == "on-failure":
        limit = policy.maximum_retry_count
        # 0 means no limit
        return exit_code != 0 and (limit <= 0 or restart_count < limit)
    return False


def starts_with_daemon(policy: RestartPolicy, manually_stopped: bool) -> bool:
    """Whether a stopped container is started when berthd starts: `always`, and
    `unless-stopped` that the user did not stop."""
    return policy.name == "always" or (policy.name == "unless-stopped" and not manually_stopped)


@dataclass
class _State:
    backoff: Backoff
    # set by `docker stop`/`kill`: the next exit must not restart (dockerd's ExitOnNext)
    cancelled: bool = False
    timer: asyncio.Task[None] | None = None
    # the delay is over and the start runs: too late to cancel it half-way
    starting: bool = False


class RestartManager:
    """Per-container back-off and pending restarts."""

    def __init__(self) -> None:
        self._states: dict[str, _State] = {}
        self.closed = False

    def _s(self, cid: str) -> _State:
        st = self._states.get(cid)
        if st is None:
            st = self._states[cid] = _State(Backoff())
        return st

    def reset(self, cid: str) -> None:
        """A start by the user: a fresh back-off, no cancel, nothing pending."""
        self.forget(cid)
        self._s(cid)

    def cancel(self, cid: str) -> bool:
        """Do not restart after the next exit; drop a pending restart. True if one was
        pending."""
        st = self._s(cid)
        st.cancelled = True
        if st.timer is not None and not st.timer.done() and not st.starting:
            st.timer.cancel()
            st.timer = None
            return True
        return False

    def pending(self, cid: str) -> bool:
        """A restart is waiting out its delay."""
        st = self._states.get(cid)
        return st is not None and st.timer is not None and not st.timer.done() and not st.starting

    def decide(
        self,
        cid: str,
        policy: RestartPolicy,
        exit_code: int,
        manually_stopped: bool,
        restart_count: int,
        ran_for: float,
    ) -> float | None:
        """The delay before restarting after this exit, or None for no restart."""
        if self.closed or (policy.name or "no") == "no":
            return None
        st = self._s(cid)
        if st.cancelled:
            return None
        # the back-off advances even when there is no restart, as in dockerd
        delay = st.backoff.next(ran_for)
        if not should_restart(policy, exit_code, manually_stopped, restart_count):
            return None
        return delay

    def schedule(self, cid: str, delay: float, start: Callable[[], Awaitable[None]]) -> bool:
        """Start the container after `delay`; False (nothing scheduled) if a stop, kill or
        rm called the restart off while the exit was being cleaned up."""
        st = self._s(cid)
        if st.cancelled or self.closed:
            return False

        async def later() -> None:
            await asyncio.sleep(delay)
            st.starting = True
            try:
                await start()
            except Exception:  # noqa: BLE001 - a failed restart is logged, the loop goes on
                log.exception("restarting container %s", cid)
            finally:
                st.starting = False
                if st.timer is task:
                    st.timer = None

        task = asyncio.create_task(later())
        st.timer = task
        return True

    def forget(self, cid: str) -> None:
        """The container is gone: drop its state and a pending restart."""
        st = self._states.pop(cid, None)
        if st is not None and st.timer is not None and not st.starting:
            st.timer.cancel()

    def pending_ids(self) -> list[str]:
        return [cid for cid in self._states if self.pending(cid)]

    async def close(self) -> None:
        """Daemon shutdown: no more restarts; cancel those waiting, let a start that
        is under way finish (its container is then stopped with the others)."""
        self.closed = True
        timers = [st.timer for st in self._states.values() if st.timer is not None]
        for st in self._states.values():
            if st.timer is not None and not st.starting:
                st.timer.cancel()
        for t in timers:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
