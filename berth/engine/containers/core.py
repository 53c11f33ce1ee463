"""The container service's shared state and the helpers every part of it uses: what berthd
holds for a running container (`_Live`), the per-container lock and waiters (`_Watch`), and
the small steps the verbs share (signal, thaw, release the run, call off a restart).

The service is composed of parts, one module each: starting (create, start), exits (the
monitor, restart policies, --rm), verbs (stop, kill, pause, update, restart, wait), removal
(rm, rename), streams (attach, resize, logs) and reconcile (a berthd's start and stop);
`service.ContainerService` puts them together. A part calls another's method through the
declarations at the end of `ServiceCore`."""

from __future__ import annotations

import asyncio
import contextlib
import errno
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from berth.engine.containers.exec import ExecService
from berth.engine.containers.health import HealthMonitor
from berth.engine.containers.model import Container, State
from berth.engine.containers.resources import RunResources
from berth.engine.containers.restart import RestartManager
from berth.engine.containers.store import ContainerStore
from berth.engine.errors import NotFound, SystemError_
from berth.engine.events import EventBus
from berth.engine.ports import ExitStatus, Runtime, Shim, ShimError

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@dataclass
class AttachRequest:
    stdin: bool
    stdout: bool
    stderr: bool
    streams: asyncio.Future[Streams] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    task: asyncio.Future[Streams] | None = None


@dataclass
class _Live:
    """What the daemon holds for a container between start and exit."""

    shim: Shim
    exited: asyncio.Future[State]
    monitor: asyncio.Task[None] | None = None


@dataclass
class _Watch:
    next_exit: list[asyncio.Future[State]] = field(default_factory=list)
    removed: list[asyncio.Future[State]] = field(default_factory=list)
    pending_attach: list[AttachRequest] = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class ServiceCore:
    """What the parts of the container service share."""

    def __init__(
        self,
        store: ContainerStore,
        images: Any,
        runtime: Runtime,
        data_root: Path,
        exec_root: Path,
        *,
        cgroup_parent: str = "berth",
        network: Any = None,
        volumes: Any = None,
        events: EventBus | None = None,
        seccomp_profile: str = "",
    ) -> None:
        """RUNTIME: the host operations (the adapter, or a unit test's fake). NETWORK and
        VOLUMES: the engine's services (None: containers get neither). EVENTS: the
        daemon's event bus, shared with the other services. SECCOMP_PROFILE: berthd's
        --seccomp-profile, "" (builtin), "unconfined" or a profile's JSON text."""
        self.store = store
        self.cgroup_parent = cgroup_parent.strip("/") or "berth"
        self.images = images
        self.runtime = runtime
        self.network = network
        self.volumes = volumes
        self.events = events if events is not None else EventBus()
        self.seccomp_profile = seccomp_profile
        self.containers_dir = data_root / "containers"
        self.overlay_dir = data_root / "overlay"
        self.exec_root = exec_root
        # the one owner of what runs hold on the host (mounts, network, bundle, cgroup)
        self.run = RunResources(
            images,
            runtime,
            self.overlay_dir,
            self.containers_dir,
            exec_root,
            network=network,
            volumes=volumes,
        )
        self._live: dict[str, _Live] = {}
        # containers whose removal has begun (no start may begin for them)
        self._removing: set[str] = set()
        # ids found on disk at start that the store does not know (network: their netns)
        self.orphans: set[str] = set()
        self._watch: dict[str, _Watch] = {}
        self.restarts = RestartManager()
        # the exec instances of these containers; health probes run through them
        self.execs = ExecService(self)
        self.health = HealthMonitor(self, self.execs)
        self._shutting_down = False
        self.containers_dir.mkdir(parents=True, exist_ok=True)
        self.overlay_dir.mkdir(parents=True, exist_ok=True)

    # ---- lookups -------------------------------------------------------
    def get(self, ref: str) -> Container:
        return self.store.get(ref)

    def all(self) -> list[Container]:
        return self.store.all()

    def save(self, c: Container) -> None:
        """Persist a change to C's record (a link removed, a network (dis)connected)."""
        self.store.save(c)

    def _w(self, cid: str) -> _Watch:
        w = self._watch.get(cid)
        if w is None:
            w = self._watch[cid] = _Watch()
        return w

    @contextlib.asynccontextmanager
    async def _held(self, c: Container) -> AsyncIterator[_Watch]:
        """C's lock, for a verb: every verb runs under it, one at a time. NotFound if C
        was removed while the lock was awaited."""
        if self.store.maybe(c.id) is None:
            raise NotFound(f"No such container: {c.id}")
        w = self._w(c.id)
        async with w.lock:
            if self.store.maybe(c.id) is None:
                if self._watch.get(c.id) is w:
                    del self._watch[c.id]  # nothing per container outlives it
                raise NotFound(f"No such container: {c.id}")
            yield w

    def bundle(self, cid: str) -> Path:
        return self.exec_root / cid

    def cgroup_path(self, c: Container) -> str:
        """The container's cgroup, relative to each hierarchy (as _runtime_spec sets it)."""
        return f"/{c.host_config.cgroup_parent.strip('/') or self.cgroup_parent}/{c.id}"

    # ---- shared steps --------------------------------------------------
    async def _release_run(
        self, c: Container, *, network: bool = True, bundle: bool = True
    ) -> None:
        """Everything one run of C holds on the host, released through its one owner."""
        await self.run.release(c, network=network, bundle=bundle)

    async def _signal(self, live: _Live, signum: int) -> None:
        try:
            await live.shim.signal(signum)
        except (ConnectionError, FileNotFoundError, ShimError):
            pass  # it has exited in the meantime; the monitor records that

    def _kill_event(self, c: Container, signum: int) -> None:
        self.events.container(c, "kill", {"signal": str(int(signum))})

    def _stopped_by_user(self, c: Container, exit_on_next: bool) -> None:
        """The user stops or signals the container: an unless-stopped container stays down
        over a daemon restart, and (exit_on_next) its coming exit is not restarted."""
        if exit_on_next:
            self.restarts.cancel(c.id)
        if not self._shutting_down and not c.manually_stopped:
            c.manually_stopped = True
            self.store.save(c)

    async def _halt_restarting(self, c: Container) -> bool:
        async with self._held(c):
            return self._halt_restarting_locked(c)

    def _halt_restarting_locked(self, c: Container) -> bool:
        """stop, kill or restart of a container waiting out its restart delay: the
        restart is called off. True if the container is now stopped; False if it runs (or
        did not wait for a restart), for the caller to act on. Under the lock, no restart
        is half-way, and an exit being recorded has been."""
        if c.state.status != "restarting" or c.id in self._live:
            return False
        self._stopped_by_user(c, exit_on_next=True)
        c.state.status = "exited"
        self.store.save(c)
        waiters, self._w(c.id).next_exit = self._w(c.id).next_exit, []
        for f in waiters:
            if not f.done():
                f.set_result(c.state)
        return True

    async def _resume_if_paused(self, c: Container) -> None:
        if c.state.status != "paused":
            return
        try:
            await asyncio.to_thread(self.runtime.thaw, self.cgroup_path(c))
        except FileNotFoundError:
            pass  # the cgroup went with the container's exit
        except OSError as exc:
            # ENODEV: the cgroup was removed while we wrote to it (a killed process
            # leaves a v2 freezer, its exit was recorded and its run released meanwhile)
            if exc.errno != errno.ENODEV:
                raise SystemError_(f"Cannot unpause container {c.id}: {exc}") from exc
        except TimeoutError as exc:
            raise SystemError_(f"Cannot unpause container {c.id}: {exc}") from exc
        if c.state.status == "paused":
            c.state.status = "running"
            self.store.save(c)

    # ---- the parts' methods that other parts call -----------------------
    async def _start_locked(self, c: Container, w: _Watch) -> None:
        raise NotImplementedError  # starting.Starting

    async def _after_exit(self, c: Container, st: ExitStatus, failed: bool = False) -> None:
        raise NotImplementedError  # exits.Exits

    async def _auto_remove(self, c: Container) -> None:
        raise NotImplementedError  # exits.Exits

    async def _monitor(self, c: Container, live: _Live) -> None:
        raise NotImplementedError  # exits.Exits

    async def _remove_locked(self, c: Container, volumes: bool) -> None:
        raise NotImplementedError  # removal.Removal

    async def start(self, ref: str) -> None:
        raise NotImplementedError  # starting.Starting

    async def stop(self, ref: str, timeout: int | None, sig: str | None) -> None:
        raise NotImplementedError  # verbs.Verbs

    async def remove(self, ref: str, *, force: bool = False, volumes: bool = False) -> None:
        raise NotImplementedError  # removal.Removal
