"""The verbs on a container that exists: stop, kill, pause, unpause, update, restart, wait.
Each runs under the container's lock; an exit is awaited outside it (recording the exit
takes the lock)."""

from __future__ import annotations

import asyncio
import contextlib
import signal as _signal
from typing import Any

from berth.engine.containers import create as create_rules
from berth.engine.containers.core import ServiceCore
from berth.engine.containers.model import State
from berth.engine.errors import Conflict, InvalidParameter, NotModified, SystemError_


class Verbs(ServiceCore):
    """stop, kill, pause, unpause, update, restart, wait."""

    async def stop(self, ref: str, timeout: int | None, sig: str | None) -> None:
        c = self.get(ref)
        signum = create_rules.parse_signal(sig or c.config.stop_signal or "SIGTERM")
        if timeout is None:
            timeout = c.config.stop_timeout
        if timeout is None:
            timeout = 10
        # The signals are sent under the lock; the exit is awaited outside it, since
        # recording the exit takes the lock.
        async with self._held(c):
            if self._halt_restarting_locked(c):
                live = None  # it was waiting out a restart delay: nothing runs
            else:
                live = self._live.get(c.id)
                if live is None or not c.state.running:
                    raise NotModified("container already stopped")
                self._stopped_by_user(c, exit_on_next=True)
                await self._signal(live, signum)
                self._kill_event(c, signum)
                await self._resume_if_paused(c)  # a frozen process cannot act on the signal
        if live is None:
            self.events.container(c, "stop")
            return
        try:
            await asyncio.wait_for(
                asyncio.shield(live.exited), None if timeout < 0 else float(timeout)
            )
        except TimeoutError:
            async with self._w(c.id).lock:
                if self._live.get(c.id) is live:
                    await self._signal(live, _signal.SIGKILL)
                    self._kill_event(c, _signal.SIGKILL)
            await asyncio.shield(live.exited)
        self.events.container(c, "stop")

    async def kill(self, ref: str, sig: str | None) -> None:
        c = self.get(ref)
        signum = create_rules.parse_signal(sig or "SIGKILL")
        async with self._held(c):
            if self._halt_restarting_locked(c):
                return
            live = self._live.get(c.id)
            if live is None or not c.state.running:
                raise Conflict(f"Cannot kill container: {ref}: container {c.id} is not running")
            # dockerd's ExitOnNext: no restart after SIGKILL or the stop signal (any signal
            # when the container names none)
            cfg_sig = c.config.stop_signal
            self._stopped_by_user(
                c,
                exit_on_next=signum == _signal.SIGKILL
                or not cfg_sig
                or create_rules.parse_signal(cfg_sig) == signum,
            )
            await self._signal(live, signum)
            self._kill_event(c, signum)
            # dockerd resumes a paused container for SIGKILL and its stop signal only
            stop_sig = create_rules.parse_signal(c.config.stop_signal or "SIGTERM")
            if signum in (_signal.SIGKILL, stop_sig):
                await self._resume_if_paused(c)
        if signum == _signal.SIGKILL:
            await asyncio.shield(live.exited)

    async def pause(self, ref: str) -> None:
        c = self.get(ref)
        async with self._held(c):
            if c.id not in self._live or not c.state.running:
                raise Conflict(f"Container {c.id} is not running")
            if c.state.status == "paused":
                raise Conflict(f"Container {c.id} is already paused")
            if c.state.status == "restarting":
                raise Conflict(
                    f"Container {c.id} is restarting, wait until the container is running"
                )
            try:
                await asyncio.to_thread(self.runtime.freeze, self.cgroup_path(c))
            except (OSError, TimeoutError) as exc:
                with contextlib.suppress(OSError, TimeoutError):
                    await asyncio.to_thread(self.runtime.thaw, self.cgroup_path(c))
                raise SystemError_(f"Cannot pause container {c.id}: {exc}") from exc
            c.state.status = "paused"
            self.store.save(c)
            self.events.container(c, "pause")

    async def unpause(self, ref: str) -> None:
        c = self.get(ref)
        async with self._held(c):
            if c.id not in self._live or c.state.status != "paused":
                raise Conflict(f"Container {c.id} is not paused")
            await self._resume_if_paused(c)
            self.events.container(c, "unpause")

    async def update(self, ref: str, body: Any) -> list[str]:
        """POST /containers/{id}/update: new limits for the live cgroup, saved for the next
        start. Returns dockerd's warnings."""
        from berth.engine.containers import update as update_rules

        c = self.get(ref)
        async with self._held(c):
            hc, resources, warnings = update_rules.apply(c, body)
            if c.id in self._live and c.state.running and resources:
                try:
                    await asyncio.to_thread(
                        self.runtime.update_resources, self.cgroup_path(c), resources
                    )
                except OSError as exc:
                    raise SystemError_(
                        f"Cannot update container {c.id}: {exc.strerror or exc}"
                    ) from exc
            c.host_config = hc
            self.store.save(c)
        self.events.container(c, "update")
        return warnings

    async def restart(self, ref: str, timeout: int | None, sig: str | None = None) -> None:
        """Stop (if running) and start again; an --rm container is not removed on the way."""
        c = self.get(ref)
        await self._halt_restarting(c)
        if c.id in self._live and c.state.running:
            auto_remove = c.host_config.auto_remove
            c.host_config.auto_remove = False
            try:
                await self.stop(c.id, timeout, sig)
            except NotModified:
                pass
            finally:
                c.host_config.auto_remove = auto_remove
        try:
            await self.start(c.id)
        except NotModified:
            pass  # started by someone else (a restart policy) meanwhile
        self.events.container(c, "restart")

    async def wait(self, ref: str, condition: str) -> asyncio.Future[State]:
        """A future for the wait condition; registered before the caller replies
        so that a start racing with it cannot be missed."""
        c = self.get(ref)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[State] = loop.create_future()
        w = self._w(c.id)
        if condition in ("", "not-running"):
            live = self._live.get(c.id)
            if live is None:
                fut.set_result(c.state)
            else:
                w.next_exit.append(fut)
        elif condition == "next-exit":
            w.next_exit.append(fut)
        elif condition == "removed":
            w.removed.append(fut)
        else:
            raise InvalidParameter(f"invalid condition: {condition!r}")
        return fut
