"""Removing a container (refused while it runs, unless forced) and renaming it."""

from __future__ import annotations

import asyncio
import shutil
import signal as _signal

from berth.engine import faults
from berth.engine.containers import mounts as cmounts
from berth.engine.containers import names
from berth.engine.containers.core import ServiceCore
from berth.engine.containers.model import Container
from berth.engine.errors import Conflict, InvalidParameter, NotFound


class Removal(ServiceCore):
    """rm and rename."""

    async def remove(self, ref: str, *, force: bool = False, volumes: bool = False) -> None:
        c = self.get(ref)
        if c.state.status == "removing" or c.id in self._removing:
            raise Conflict(f"removal of container {c.id} is already in progress")
        if not force:
            self._refuse_removal_of_live(c)
        # A forced removal is marked before anything is awaited: a start from now on is
        # refused (dockerd's 409), and one under way holds the container's lock until its
        # process exists, so that the removal below sees it live and kills it, instead of
        # deleting what the start is still building (mounts, netns, veth, lease, shim
        # left behind). One that is not forced is marked once the lock shows that it
        # will go on: a refused removal must not cancel a restart meanwhile.
        if force:
            self._removing.add(c.id)
        try:
            w = self._w(c.id)
            async with w.lock:
                if not force:
                    self._refuse_removal_of_live(c)
                    self._removing.add(c.id)
                live = self._live.get(c.id)
                if live is not None:
                    self.restarts.cancel(c.id)
                    await self._signal(live, _signal.SIGKILL)
                    self._kill_event(c, _signal.SIGKILL)
                    await self._resume_if_paused(c)
            if live is not None:
                await asyncio.shield(live.exited)  # its exit is recorded under the lock
            async with w.lock:
                await self._remove_locked(c, volumes)
        finally:
            self._removing.discard(c.id)

    def _refuse_removal_of_live(self, c: Container) -> None:
        """dockerd's 409s for a removal without force."""
        if c.state.status == "restarting" and c.id not in self._live:
            raise Conflict(
                f'cannot remove container "/{c.name}": container is restarting: stop the '
                "container before removing or force remove"
            )
        if c.id in self._live:
            raise Conflict(
                f'cannot remove container "/{c.name}": container is running: stop the '
                "container before removing or force remove"
            )

    async def _remove_locked(self, c: Container, volumes: bool) -> None:
        """Delete a container that does not run; the caller holds its lock and has marked
        it as being removed (so that nothing can start it meanwhile)."""
        if self.store.maybe(c.id) is None:  # auto-removed while the lock was awaited
            return
        if c.id in self._live:  # cannot happen while it is marked; never delete a live one
            raise Conflict(f"container {c.id} is running: its removal cannot go on")
        prev = c.state.status
        c.state.status = "removing"
        try:
            # not running: its network went at its exit (or with the crash recovery), and
            # with the exit's release (an --rm's, just before) nothing may be held at all
            if self.run.holds_anything(c.id):
                await self._release_run(c, network=False)
            faults.point("remove:midway")
            await asyncio.to_thread(shutil.rmtree, self.overlay_dir / c.id, True)
            shutil.rmtree(self.containers_dir / c.id, ignore_errors=True)
            self.store.delete(c)
        except BaseException:
            c.state.status = prev
            raise
        c.state.status = prev
        # dockerd removes anonymous volumes with -v, and always for --rm (AutoRemove)
        if volumes or c.host_config.auto_remove:
            cmounts.remove_anonymous(cmounts.load(c.mount_points), self.volumes)
        self.restarts.forget(c.id)
        self.events.container(c, "destroy")
        w = self._watch.pop(c.id, None)
        if w is not None:
            for f in w.removed + w.next_exit:
                if not f.done():
                    f.set_result(c.state)
            for req in w.pending_attach:
                if not req.streams.done():
                    req.streams.set_exception(NotFound(f"No such container: {c.id}"))

    async def rename(self, ref: str, new_name: str) -> None:
        c = self.get(ref)
        new = names.validate(new_name)
        if new == c.name:
            raise InvalidParameter("Renaming a container with the same name as its current name")
        async with self._held(c):
            old = c.name
            self.store.rename(c, new)
        self.events.container(c, "rename", {"oldName": "/" + old})
