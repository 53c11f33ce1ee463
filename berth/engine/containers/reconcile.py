"""A berthd's start and stop: reconciling the store with what survived (shims, exits
recorded while berthd was away, a start or an exit a crash interrupted), and stopping
(or, with live-restore, leaving) the running containers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal as _signal

from berth.engine.clock import parse_rfc3339, rfc3339nano
from berth.engine.containers import mounts as cmounts
from berth.engine.containers import recovery
from berth.engine.containers.core import ServiceCore, _Live
from berth.engine.containers.model import Container
from berth.engine.containers.restart import starts_with_daemon
from berth.engine.errors import EngineError
from berth.engine.ports import ExitStatus

log = logging.getLogger("berth.containers")


class Reconciler(ServiceCore):
    """reconcile, shutdown, kill_all."""

    async def reconcile(self) -> None:
        """After a (re)start: pick up containers whose shims survived, record the
        exit of those that ended while the daemon was away, drop stale mounts, and
        start the containers whose restart policy says so."""
        to_start: list[Container] = []
        to_remove: list[Container] = []
        self.orphans = await recovery.sweep_orphans(
            self.runtime,
            {c.id for c in self.store.all()},
            self.exec_root,
            self.overlay_dir,
            self.containers_dir,
            self.cgroup_parent,
        )
        for c in self.store.all():
            if c.state.status == "restarting" and not self.runtime.shim(self.bundle(c.id)).alive():
                # its restart delay ran out while the daemon was away
                c.state.status = "exited"
                self.store.save(c)
                to_start.append(c)
            if c.state.running:
                await self._reconcile_running(c)
            elif c.host_config.auto_remove:
                await self._release_unfinished(c)
                to_remove.append(c)  # as dockerd's restore: --rm that is not running
            else:
                await self._release_unfinished(c)
                ran_before = parse_rfc3339(c.state.started_at) > 0
                policy = c.host_config.restart_policy
                if ran_before and starts_with_daemon(policy, c.manually_stopped):
                    if c not in to_start:
                        to_start.append(c)
        for c in to_remove:
            with contextlib.suppress(EngineError):
                await self.remove(c.id, force=True)
            self.orphans.add(c.id)  # its netns, if a crash left one, goes with the network's
        for c in to_start:
            try:
                await self.start(c.id)
            except EngineError as exc:
                log.warning("container %s: start by its restart policy failed: %s", c.id, exc)

    async def _release_unfinished(self, c: Container) -> None:
        """A container that does not run but may hold something: berthd died while
        starting it or recording its exit (a shim may be there, even a process)."""
        # Only a container with a run on record (or a bundle) can hold anything: the many
        # others cost a stat or two.
        if not self.run.holds_anything(c.id):
            return
        rec = self.run.record(c.id)
        cgroup = rec.cgroup if rec is not None and rec.cgroup else None
        if await recovery.end_stray_shim(
            self.runtime, self.bundle(c.id), cgroup or self.cgroup_path(c)
        ):
            log.warning("container %s: ended the shim of an unfinished start", c.id)
        # its netns (if a crash left one) goes with the network's reconciliation
        await self._release_run(c, network=False)

    async def _reconcile_running(self, c: Container) -> None:
        """A container the store says runs: adopted if its shim answers, else its exit
        (as the shim recorded it, if it could) is recorded now."""
        shim = self.runtime.shim(self.bundle(c.id))
        if shim.alive():
            cmounts.adopt(cmounts.load(c.mount_points), self.volumes, c.id)
            live = _Live(shim, asyncio.get_running_loop().create_future())
            self._live[c.id] = live
            live.monitor = asyncio.create_task(self._monitor(c, live))
            self.health.resume(c)
            return
        st = self.runtime.read_exit(self.bundle(c.id)) or ExitStatus(
            255, False, rfc3339nano(), "container was running when the daemon stopped"
        )
        async with self._w(c.id).lock:
            await self._after_exit(c, st)

    async def shutdown(self, keep_running: bool = False) -> None:
        """Stop every running container (their own stop signal and timeout); neither
        these stops nor pending restarts count as the user's. KEEP_RUNNING (live-restore):
        leave them to their shims, for the next berthd to adopt."""
        self._shutting_down = True
        await self.restarts.close()
        await self.health.close()
        if keep_running:
            for live in list(self._live.values()):
                if live.monitor is not None:
                    live.monitor.cancel()
            return
        for c in self.store.all():
            if c.state.status == "restarting" and c.id not in self._live:
                c.state.status = "exited"
                self.store.save(c)
        tasks = [asyncio.create_task(self.stop(cid, None, None)) for cid in list(self._live)]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        for live in list(self._live.values()):
            if live.monitor is not None:
                live.monitor.cancel()

    async def kill_all(self) -> None:
        """SIGKILL every container still running (a shutdown out of time): no stop
        timeout, no restart; their exits are recorded as the monitors see them."""
        self._shutting_down = True
        for live in list(self._live.values()):
            with contextlib.suppress(Exception):
                await self._signal(live, _signal.SIGKILL)
        waits = [asyncio.shield(live.exited) for live in self._live.values()]
        if waits:
            await asyncio.wait(waits, timeout=5)
