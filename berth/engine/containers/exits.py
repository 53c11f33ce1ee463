"""A run's end: the monitor that waits for the exit, the exit's record and cleanup, the
restart policy's decision and its delayed start, and --rm."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from berth.engine import faults
from berth.engine.clock import parse_rfc3339, rfc3339nano
from berth.engine.containers.core import ServiceCore, _Live
from berth.engine.containers.model import Container, State
from berth.engine.errors import NotFound
from berth.engine.ports import ExitStatus

log = logging.getLogger("berth.containers")


class Exits(ServiceCore):
    """What happens when a container's process ends."""

    async def _monitor(self, c: Container, live: _Live) -> None:
        try:
            status = await live.shim.wait()
        except Exception as exc:  # the shim died: its exit file (if any) has the truth
            log.warning("lost the shim of container %s: %s", c.id, exc)
            status = self.runtime.read_exit(self.bundle(c.id)) or await self._kill_orphan(c)
        # Exit handling is a verb like the others: it waits for a start, stop or update
        # under way (which never wait for it while holding the lock).
        async with self._w(c.id).lock:
            await self._after_exit(c, status)

    async def _kill_orphan(self, c: Container) -> ExitStatus:
        """The shim died and the container may run on without it: nobody could stop it
        any more, and its network and mounts are about to go. Its cgroup is killed first,
        so that nothing of it outlives the record (dockerd reports such a kill as 137)."""
        path = self.cgroup_path(c)
        emptied = await asyncio.to_thread(self.runtime.kill_cgroup, path)
        if not emptied:
            log.error("container %s: processes left in its cgroup after its shim died", c.id)
        with contextlib.suppress(OSError):
            await asyncio.to_thread(self.runtime.remove_cgroup, path)
        return ExitStatus(137, False, rfc3339nano(), "shim exited unexpectedly")

    async def _after_exit(self, c: Container, st: ExitStatus, failed: bool = False) -> None:
        """Record an exit and give back what the run held; the caller holds the lock."""
        # The container counts as live until its waiters are woken below: a wait that
        # arrives during the cleanup's awaits must not answer before the "die".
        live = self._live.get(c.id)
        self.health.stop(c.id)
        finished_at = st.finished_at or rfc3339nano()
        ran_for = 0.0
        if not failed:
            ran_for = max(0.0, parse_rfc3339(finished_at) - parse_rfc3339(c.state.started_at))
        delay = None if failed else self._restart_delay(c, st, ran_for)
        if delay is not None:
            c.restart_count += 1
        # A container that never ran stays "created", with the error, as in dockerd.
        c.state = State(
            status="created" if failed else ("restarting" if delay is not None else "exited"),
            pid=0,
            exit_code=st.exit_code,
            error=st.error,
            oom_killed=st.oom_killed,
            started_at=c.state.started_at,
            finished_at=finished_at,
            health=c.state.health,
        )
        try:
            await self._record_exit(c)
        except Exception:  # noqa: BLE001 - waiters must hear of the exit regardless
            log.exception("cleaning up after container %s exited", c.id)
        finally:
            self._announce_exit(c, st, ran_for, live)
        if delay is not None:
            self._schedule_restart(c, delay)
        if c.host_config.auto_remove:
            await self._auto_remove(c)

    def _restart_delay(self, c: Container, st: ExitStatus, ran_for: float) -> float | None:
        """The restart policy's delay before the next start, or None for no restart."""
        if self.store.maybe(c.id) is None:
            return None
        return self.restarts.decide(
            c.id,
            c.host_config.restart_policy,
            st.exit_code,
            c.manually_stopped or self._shutting_down,
            c.restart_count,
            ran_for,
        )

    async def _record_exit(self, c: Container) -> None:
        await self._release_run(c, bundle=False)
        faults.point("exit:before-save")
        if self.store.maybe(c.id) is not None:
            self.store.save(c)
        # the exit is on record now: the shim's exit.json may go with its bundle (if
        # the save failed, the next berthd reads the exit from there)
        await self.run.release(c, network=False)

    def _announce_exit(
        self, c: Container, st: ExitStatus, ran_for: float, live: _Live | None
    ) -> None:
        """The exit's events, and everyone waiting for it."""
        if st.oom_killed:
            self.events.container(c, "oom")
        attrs = {"exitCode": str(st.exit_code), "execDuration": str(int(ran_for))}
        self.events.container(c, "die", attrs)
        w = self._w(c.id)
        if live is not None and self._live.get(c.id) is live:
            del self._live[c.id]
        if live is not None and not live.exited.done():
            live.exited.set_result(c.state)
        waiters, w.next_exit = w.next_exit, []
        for f in waiters:
            if not f.done():
                f.set_result(c.state)

    def _schedule_restart(self, c: Container, delay: float) -> None:
        if not self.restarts.schedule(c.id, delay, lambda: self._policy_start(c.id)):
            # stopped during the cleanup's awaits: "restarting" would never end
            c.restart_count -= 1
            c.state.status = "exited"
            if self.store.maybe(c.id) is not None:
                self.store.save(c)

    async def _auto_remove(self, c: Container) -> None:
        """--rm after an exit or a failed start, under the lock its caller holds."""
        if self.store.maybe(c.id) is None or c.id in self._removing:
            return  # gone, or a removal under way finishes the job
        self._removing.add(c.id)
        try:
            with contextlib.suppress(NotFound):
                await self._remove_locked(c, False)
        finally:
            self._removing.discard(c.id)

    async def _policy_start(self, cid: str) -> None:
        """The restart policy's start, once the back-off delay is over."""
        c = self.store.maybe(cid)
        if c is None:
            return
        w = self._w(cid)
        async with w.lock:
            if (
                self.store.maybe(cid) is None
                or c.state.status != "restarting"
                or self._shutting_down
                or cid in self._live
                or cid in self._removing
            ):
                return
            try:
                await self._start_locked(c, w)
            except Exception as exc:  # noqa: BLE001 - no one to tell but the log
                log.warning("container %s: restart failed: %s", cid, exc)
                if c.state.status in ("created", "restarting"):
                    c.state.status = "exited"
                    self.store.save(c)
