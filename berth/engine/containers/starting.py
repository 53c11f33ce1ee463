"""Creating a container and starting its run: the run's resources are taken through their
one owner (resources.py), the spec is assembled by specopts.py, and the process is started
through the shim, its monitor armed before anything else can fail."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import signal as _signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from berth.engine import faults
from berth.engine.clock import rfc3339nano
from berth.engine.containers import create as create_rules
from berth.engine.containers import files, names, security, specopts, starterror
from berth.engine.containers import mounts as cmounts
from berth.engine.containers.core import ServiceCore, _Live, _Watch
from berth.engine.containers.model import Container, CreateRequest, HostConfig, State
from berth.engine.containers.resources import Acquired
from berth.engine.containers.store import ContainerStore
from berth.engine.errors import Conflict, EngineError, InvalidParameter, NotModified, SystemError_
from berth.engine.ports import ExitStatus, RuntimeSpec, RuntimeStartError

log = logging.getLogger("berth.containers")


class Starting(ServiceCore):
    """create and start."""

    def create(self, name: str | None, body: Any) -> tuple[Container, list[str]]:
        """Create a container from a create request; return it and dockerd's warnings."""
        # decoded once: the edge hands over a CreateRequest (a dict still works, for callers
        # inside the engine)
        req = body if isinstance(body, CreateRequest) else create_rules.decode_request(body)
        cfg, hc = req.config, req.host_config or HostConfig()
        if not cfg.image:
            raise InvalidParameter("config cannot be empty in order to create a container")
        warnings = list(security.validate(hc))
        if name:
            name = names.validate(name)
            if self.store.name_taken(name):
                raise self.store.name_conflict(name)
        image = self.images.get(cfg.image)
        c = create_rules.build(
            cfg,
            hc,
            name=name or names.generate(_Taken(self.store)),
            image_id=image.id,
            image_config=image.config,
        )
        if self.network is not None:
            self.network.plan(c, req.networking_config)
        planned = cmounts.parse_all(
            hc.binds,
            hc.mounts,
            hc.tmpfs,
            hc.volumes_from,
            cfg.volumes,
            volume_driver=hc.volume_driver,
            get_container=self.get,
        )
        cdir = self.containers_dir / c.id
        odir = self.overlay_dir / c.id
        made: list[str] = []
        try:
            cdir.mkdir(mode=0o700, parents=True)  # its config, logs and mounts: root's alone
            for sub in ("upper", "work", "merged"):
                (odir / sub).mkdir(parents=True)
            mps, made = cmounts.realize(
                planned, self.volumes, populate_from=lambda: _image_root(self, image, odir)
            )
            c.mount_points = cmounts.dump(mps)
            # dockerd shows a LogPath for json-file only
            c.log_path = str(cdir / f"{c.id}-json.log") if hc.log_config.type == "json-file" else ""
            resolv = files.host_resolv_conf(hc.dns, hc.dns_search, hc.dns_options)
            c.hostname_path, c.hosts_path, c.resolv_conf_path = files.write_all(
                cdir, cfg.hostname, cfg.domainname, hc.extra_hosts, resolv
            )
            faults.point("create:before-store")
            self.store.add(c)
        except BaseException:
            shutil.rmtree(cdir, ignore_errors=True)
            shutil.rmtree(odir, ignore_errors=True)
            for vname in made:
                self.volumes.remove(vname, force=True)
            raise
        self.events.container(c, "create")
        return c, warnings

    async def start(self, ref: str) -> None:
        c = self.get(ref)
        async with self._held(c) as w:
            if c.state.running:
                raise NotModified("container already started")
            if c.state.status in ("removing", "dead") or c.id in self._removing:
                raise Conflict(f"container {c.id} is marked for removal and cannot be started")
            # a start by the user begins the restart policy afresh, as in dockerd
            self.restarts.reset(c.id)
            c.restart_count = 0
            c.manually_stopped = False
            await self._start_locked(c, w)

    def _runtime_spec(self, c: Container, rootfs: str) -> RuntimeSpec:
        env = specopts.SpecEnv(
            lookup=self.get,
            containers_dir=self.containers_dir,
            cgroup_path=self.cgroup_path(c),
            seccomp_profile=self.seccomp_profile,
            find_init=self.runtime.find_init,
            network=self.network,
            volumes=self.volumes,
        )
        return specopts.build(c, rootfs, env)

    async def _start_locked(self, c: Container, w: _Watch) -> None:
        try:
            run = await self.run.acquire(
                c, self.cgroup_path(c), lambda rootfs: self._runtime_spec(c, rootfs)
            )
        except Exception as exc:
            err = self._start_error(exc)
            await self._start_failed(c, w, err.message)
            if err is exc:
                raise
            raise err from exc
        faults.point("start:after-spawn")
        shim = self.runtime.shim(run.bundle)
        # Attach whoever asked before the start, so that no output is missed.
        pending, w.pending_attach = w.pending_attach, []
        for req in pending:
            if req.streams.done():
                continue
            try:
                req.streams.set_result(await shim.attach(req.stdin, req.stdout, req.stderr))
            except Exception as exc:  # noqa: BLE001 - reported to that attach client
                req.streams.set_exception(exc)
        live = _Live(shim, asyncio.get_running_loop().create_future())
        self._live[c.id] = live
        try:
            pid = await self._start_process(c, shim, run)
        except _PlugFailed as failed:
            self._live.pop(c.id, None)
            with contextlib.suppress(Exception):
                await shim.shutdown()
            await self.run.release(c, cgroup=False)
            err = self._start_error(failed.cause)
            await self._start_failed(c, w, err.message)
            raise err from failed.cause
        except RuntimeStartError as exc:
            self._live.pop(c.id, None)
            msg = f"failed to create task for container: OCI runtime create failed: {exc.message}: unknown"
            code, why = starterror.translate(msg, starterror.CONTAINER_UNKNOWN)
            status = ExitStatus(code, False, rfc3339nano(), why.message)
            await self._after_exit(c, status, failed=True)
            raise why from exc
        c.state = State(status="running", pid=pid, started_at=rfc3339nano(), health=c.state.health)
        # From here the process exists: its monitor is armed before anything else can fail,
        # so that whatever happens it is stopped, waited for and cleaned up like any other.
        live.monitor = asyncio.create_task(self._monitor(c, live))
        try:
            faults.point("start:after-process")
            self.health.start(c)
            self.store.save(c)
            self.run.mark_running(c.id)
        except Exception as exc:
            log.exception("container %s: start failed after its process began", c.id)
            await self._signal(live, _signal.SIGKILL)  # the monitor records the exit
            raise SystemError_(f"failed to start container {c.id}: {exc}") from exc
        self.events.container(c, "start")

    @staticmethod
    def _start_error(exc: Exception) -> EngineError:
        """What a client hears of a failure to set up a run."""
        if isinstance(exc, EngineError):
            return exc
        return SystemError_(f"failed to create task for container: {exc}")

    async def _start_process(self, c: Container, shim: Any, run: Acquired) -> int:
        """The shim's start; with a gate, the network's interfaces are made meanwhile,
        while the process is set up behind it (it execs only once they are). Raises
        _PlugFailed if they could not be made (the process ended at its gate)."""
        gate = run.gate
        if gate is None:
            return int(await shim.start(cgroup_made=run.cgroup_made))
        started = asyncio.ensure_future(shim.start(gate=True, cgroup_made=run.cgroup_made))
        try:
            try:
                await self.run.plug(c, gate)
            except Exception as exc:
                gate.close()
                await asyncio.wait([started])  # the start is called off: its error is ours
                if not started.cancelled():
                    started.exception()
                raise _PlugFailed(exc) from exc
            return int(await started)
        finally:
            gate.close()
            if not started.done():
                started.cancel()

    async def _start_failed(self, c: Container, w: _Watch, message: str) -> None:
        """The container never ran: tell attached clients, keep the error, and honour
        --rm (a client waiting for the removal must not hang)."""
        pending, w.pending_attach = w.pending_attach, []
        for req in pending:
            if not req.streams.done():
                req.streams.set_exception(SystemError_(message))
        c.state = State(status="created", exit_code=128, error=message)
        self.store.save(c)
        if c.host_config.auto_remove:
            await self._auto_remove(c)


class _PlugFailed(Exception):
    """The network's interfaces could not be made while the process waited at its gate."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


class _Taken:
    def __init__(self, store: ContainerStore) -> None:
        self.store = store

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.store.name_taken(name)


@contextlib.contextmanager
def _image_root(svc: ServiceCore, image: Any, odir: Path) -> Iterator[str]:
    """The new container's root filesystem, mounted for a moment (to fill volumes)."""
    merged = str(odir / "merged")
    svc.runtime.mount_rootfs(
        svc.images.layer_dirs(image), str(odir / "upper"), str(odir / "work"), merged
    )
    try:
        yield merged
    finally:
        svc.runtime.unmount(merged)
