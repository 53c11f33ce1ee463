"""The container lifecycle: create, start, stop, kill, wait, remove, rename,
attach, logs, and reconciling with surviving shims after a daemon restart."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import signal as _signal
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from berth.engine import faults
from berth.engine.clock import parse_rfc3339, rfc3339nano
from berth.engine.containers import create as create_rules
from berth.engine.containers import files, hostopts, names, recovery, security, users
from berth.engine.containers import mounts as cmounts
from berth.engine.containers.health import HealthMonitor
from berth.engine.containers.logs import LogOptions, read_log_stream, read_logs
from berth.engine.containers.model import Container, CreateRequest, HostConfig, State
from berth.engine.containers.resources import RunResources
from berth.engine.containers.restart import RestartManager, starts_with_daemon
from berth.engine.containers.store import ContainerStore
from berth.engine.errors import (
    Conflict,
    EngineError,
    InvalidParameter,
    NotFound,
    NotModified,
    SystemError_,
)
from berth.engine.events import EventBus
from berth.runtime import cgroups as rt_cgroups
from berth.runtime import rootfs as rt_rootfs
from berth.runtime import spec as rt_spec
from berth.runtime.shim_client import ExitStatus, ShimClient, ShimError, read_exit_file

log = logging.getLogger("berth.containers")

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

    shim: ShimClient
    exited: asyncio.Future[State]
    monitor: asyncio.Task[None] | None = None


@dataclass
class _Watch:
    next_exit: list[asyncio.Future[State]] = field(default_factory=list)
    removed: list[asyncio.Future[State]] = field(default_factory=list)
    pending_attach: list[AttachRequest] = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class ContainerService:
    def __init__(
        self,
        store: ContainerStore,
        images: Any,
        zygote: Any,
        data_root: Path,
        exec_root: Path,
        cgroup_parent: str = "berth",
    ) -> None:
        self.store = store
        self.cgroup_parent = cgroup_parent.strip("/") or "berth"
        self.images = images
        self.containers_dir = data_root / "containers"
        self.overlay_dir = data_root / "overlay"
        self.exec_root = exec_root
        # the one owner of what runs hold on the host (mounts, network, bundle, cgroup)
        self.run = RunResources(images, zygote, self.overlay_dir, self.containers_dir, exec_root)
        self._live: dict[str, _Live] = {}
        # containers whose removal has begun (no start may begin for them)
        self._removing: set[str] = set()
        # ids found on disk at start that the store does not know (network: their netns)
        self.orphans: set[str] = set()
        self._watch: dict[str, _Watch] = {}
        # the engine replaces this with its own bus, shared with the other services
        self.events = EventBus()
        self.restarts = RestartManager()
        self.health = HealthMonitor(self)
        self._shutting_down = False
        # berthd's --seccomp-profile: "" (builtin), "unconfined" or a profile's JSON text
        self.seccomp_profile = ""
        self.containers_dir.mkdir(parents=True, exist_ok=True)
        self.overlay_dir.mkdir(parents=True, exist_ok=True)

    # The engine's other services, set once they exist; the run's owner uses them too.
    @property
    def zygote(self) -> Any:
        return self.run.zygote

    @property
    def volumes(self) -> Any:
        """The engine's VolumeService: volumes and their mounts."""
        return self.run.volumes

    @volumes.setter
    def volumes(self, svc: Any) -> None:
        self.run.volumes = svc

    @property
    def network(self) -> Any:
        """The engine's NetworkService: endpoints, ports, names."""
        return self.run.network

    @network.setter
    def network(self, svc: Any) -> None:
        self.run.network = svc

    # ---- lookups -------------------------------------------------------
    def get(self, ref: str) -> Container:
        return self.store.get(ref)

    def all(self) -> list[Container]:
        return self.store.all()

    def using_image(self, image_id: str) -> list[str]:
        return [c.id for c in self.store.all() if c.image_id == image_id]

    def running_with_image(self, image_id: str) -> list[str]:
        return [c.id for c in self.store.all() if c.image_id == image_id and c.state.running]

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

    # ---- create --------------------------------------------------------
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

    # ---- start ---------------------------------------------------------
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

    def _runtime_spec(self, c: Container, rootfs: str) -> rt_spec.RuntimeSpec:
        cfg, hc = c.config, c.host_config
        user = users.resolve(rootfs, cfg.user, hc.group_add)
        env = list(cfg.env or [])
        keys = {e.partition("=")[0] for e in env}
        if "PATH" not in keys:
            env.insert(0, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        if "HOSTNAME" not in keys:
            env.append(f"HOSTNAME={cfg.hostname}")
        if cfg.tty and "TERM" not in keys:
            env.append("TERM=xterm")
        if "HOME" not in keys:
            env.append(f"HOME={user.home}")
        if self.network is not None:
            env += self.network.link_env(c)  # legacy --link variables, made at attach
        quota = period = None
        if hc.nano_cpus:
            period = 100_000
            quota = int(hc.nano_cpus * period / 1_000_000_000)
        elif hc.cpu_quota:
            quota, period = hc.cpu_quota, hc.cpu_period or 100_000
        join: dict[str, str] = {}
        if hc.network_mode == "host":
            # the shim's own netns is the host's; /proc/1 may be out of reach (a sandbox)
            pass
        elif hc.network_mode.startswith("container:"):
            other = self.get(hc.network_mode.partition(":")[2])
            if not other.state.running:
                raise Conflict(f"cannot join network of a non running container: {other.id}")
            join["network"] = f"/proc/{other.state.pid}/ns/net"
        elif c.networks:
            from berth.engine.network.bridge import netns_path

            join["network"] = netns_path(c.id)
        mounts = [
            rt_spec.BindMount(c.hostname_path, "/etc/hostname"),
            rt_spec.BindMount(c.hosts_path, "/etc/hosts"),
            rt_spec.BindMount(c.resolv_conf_path, "/etc/resolv.conf"),
        ]
        opts = hostopts.runtime_fields(c, self.get, self.containers_dir)
        join.update(opts.pop("join_namespaces"))
        conf = security.confinement(hc, self.seccomp_profile)
        opts["no_new_privileges"] = conf.no_new_privileges
        opts["seccomp"] = conf.seccomp
        if conf.unconfined_system_paths:
            opts["masked_paths"], opts["readonly_paths"] = [], []
        else:
            opts["masked_paths"], opts["readonly_paths"] = hc.masked_paths, hc.readonly_paths
        if hc.network_mode == "host":
            opts["host_namespaces"] = [*opts.get("host_namespaces", []), "network"]
        logf = hostopts.log_settings(c, self.containers_dir / c.id)
        annotations = {}
        if logf.max_size > 0:
            annotations[hostopts.ANN_MAX_SIZE] = str(logf.max_size)
            annotations[hostopts.ANN_MAX_FILE] = str(logf.max_file)
        return rt_spec.RuntimeSpec(
            id=c.id,
            rootfs=rootfs,
            args=self._init_args(c, mounts),
            env=env,
            cwd=cfg.working_dir or "/",
            uid=user.uid,
            gid=user.gid,
            additional_gids=user.additional_gids,
            hostname=cfg.hostname,
            domainname=cfg.domainname,
            tty=cfg.tty,
            readonly_rootfs=hc.readonly_rootfs,
            privileged=hc.privileged,
            mounts=mounts,
            cgroup_path=self.cgroup_path(c),
            memory=hc.memory or None,
            memory_swap=hc.memory_swap or None,
            memory_reservation=hc.memory_reservation or None,
            memory_swappiness=hc.memory_swappiness,
            oom_kill_disable=bool(hc.oom_kill_disable),
            cpu_shares=hc.cpu_shares or None,
            cpu_quota=quota,
            cpu_period=period,
            cpuset_cpus=hc.cpuset_cpus or None,
            pids_limit=hc.pids_limit if hc.pids_limit and hc.pids_limit > 0 else None,
            cap_add=list(hc.cap_add or []),
            cap_drop=list(hc.cap_drop or []),
            shm_size=hc.shm_size or 64 * 1024 * 1024,
            oom_score_adj=hc.oom_score_adj,
            join_namespaces=join,
            console_size=_console_size(hc.console_size),
            annotations=annotations,
            # last: acquiring volumes may mount them; release() undoes it
            extra_mounts=cmounts.oci_mounts(
                cmounts.load(c.mount_points), hc.tmpfs, self.volumes, c.id
            ),
            **opts,
        )

    @staticmethod
    def _init_args(c: Container, mounts: list[rt_spec.BindMount]) -> list[str]:
        """The process args; with --init, dockerd's init (tini) runs first as PID 1,
        read-only at /sbin/docker-init, to reap zombies and forward signals."""
        args = [c.path, *c.args]
        if not c.host_config.init:
            return args
        init = rt_spec.find_init()
        if init is None:
            raise SystemError_(
                '--init: no init binary found ("docker-init"): install Debian\'s tini '
                "package, which provides /usr/bin/tini-static"
            )
        mounts.append(rt_spec.BindMount(init, rt_spec.INIT_PATH, readonly=True))
        return [rt_spec.INIT_PATH, "--", *args]

    async def _start_locked(self, c: Container, w: _Watch) -> None:
        from berth.runtime.shim_client import RuntimeStartError

        try:
            bundle = await self.run.acquire(
                c, self.cgroup_path(c), lambda rootfs: self._runtime_spec(c, rootfs)
            )
        except EngineError as exc:
            await self._start_failed(c, w, exc.message)
            raise
        except Exception as exc:
            err = SystemError_(f"failed to create task for container: {exc}")
            await self._start_failed(c, w, err.message)
            raise err from exc
        faults.point("start:after-spawn")
        shim = ShimClient(bundle)
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
            pid = await shim.start()
        except RuntimeStartError as exc:
            self._live.pop(c.id, None)
            msg = f"failed to create task for container: OCI runtime create failed: {exc.message}: unknown"
            if "permission denied" in exc.message:
                code = 126
            elif "executable file not found" in msg or "no such file or directory" in msg:
                code = 127
            else:
                code = 128
            await self._after_exit(c, ExitStatus(code, False, rfc3339nano(), msg), failed=True)
            # dockerd reports a command that cannot run as the caller's mistake.
            if code == 128:
                raise SystemError_(msg) from exc
            raise InvalidParameter(msg) from exc
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

    async def _release_run(
        self, c: Container, *, network: bool = True, bundle: bool = True
    ) -> None:
        """Everything one run of C holds on the host, released through its one owner."""
        await self.run.release(c, network=network, bundle=bundle)

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

    async def _monitor(self, c: Container, live: _Live) -> None:
        try:
            status = await live.shim.wait()
        except Exception as exc:  # the shim died: its exit file (if any) has the truth
            log.warning("lost the shim of container %s: %s", c.id, exc)
            status = read_exit_file(self.bundle(c.id)) or await self._kill_orphan(c)
        # Exit handling is a verb like the others: it waits for a start, stop or update
        # under way (which never wait for it while holding the lock).
        async with self._w(c.id).lock:
            await self._after_exit(c, status)

    async def _kill_orphan(self, c: Container) -> ExitStatus:
        """The shim died and the container may run on without it: nobody could stop it
        any more, and its network and mounts are about to go. Its cgroup is killed first,
        so that nothing of it outlives the record (dockerd reports such a kill as 137)."""
        path = self.cgroup_path(c)
        emptied = await asyncio.to_thread(rt_cgroups.kill_all, path)
        if not emptied:
            log.error("container %s: processes left in its cgroup after its shim died", c.id)
        with contextlib.suppress(OSError):
            await asyncio.to_thread(rt_cgroups.remove, path)
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
        delay = None
        if not failed and self.store.maybe(c.id) is not None:
            delay = self.restarts.decide(
                c.id,
                c.host_config.restart_policy,
                st.exit_code,
                c.manually_stopped or self._shutting_down,
                c.restart_count,
                ran_for,
            )
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
            await self._release_run(c, bundle=False)
            faults.point("exit:before-save")
            if self.store.maybe(c.id) is not None:
                self.store.save(c)
            # the exit is on record now: the shim's exit.json may go with its bundle (if
            # the save failed, the next berthd reads the exit from there)
            await self.run.release(c, network=False)
        except Exception:  # noqa: BLE001 - waiters must hear of the exit regardless
            log.exception("cleaning up after container %s exited", c.id)
        finally:
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
        if delay is not None and not self.restarts.schedule(
            c.id, delay, lambda: self._policy_start(c.id)
        ):
            # stopped during the cleanup's awaits: "restarting" would never end
            c.restart_count -= 1
            c.state.status = "exited"
            if self.store.maybe(c.id) is not None:
                self.store.save(c)
        if c.host_config.auto_remove:
            await self._auto_remove(c)

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

    # ---- stop / kill ---------------------------------------------------
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

    async def _signal(self, live: _Live, signum: int) -> None:
        try:
            await live.shim.signal(signum)
        except (ConnectionError, FileNotFoundError, ShimError):
            pass  # it has exited in the meantime; the monitor records that

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

    # ---- pause / unpause / update / restart ------------------------------
    def cgroup_path(self, c: Container) -> str:
        """The container's cgroup, relative to each hierarchy (as _runtime_spec sets it)."""
        return f"/{c.host_config.cgroup_parent.strip('/') or self.cgroup_parent}/{c.id}"

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
                await asyncio.to_thread(rt_cgroups.freeze, self.cgroup_path(c))
            except (OSError, TimeoutError) as exc:
                with contextlib.suppress(OSError, TimeoutError):
                    await asyncio.to_thread(rt_cgroups.thaw, self.cgroup_path(c))
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

    async def _resume_if_paused(self, c: Container) -> None:
        if c.state.status != "paused":
            return
        try:
            await asyncio.to_thread(rt_cgroups.thaw, self.cgroup_path(c))
        except FileNotFoundError:
            pass  # the cgroup went with the container's exit
        except (OSError, TimeoutError) as exc:
            raise SystemError_(f"Cannot unpause container {c.id}: {exc}") from exc
        if c.state.status == "paused":
            c.state.status = "running"
            self.store.save(c)

    async def update(self, ref: str, body: Any) -> list[str]:
        """POST /containers/{id}/update: new limits for the live cgroup, saved for the next
        start. Returns dockerd's warnings."""
        from berth.engine.containers import update as update_rules

        c = self.get(ref)
        async with self._held(c):
            hc, resources, warnings = update_rules.apply(c, body)
            if c.id in self._live and c.state.running and resources:
                try:
                    await asyncio.to_thread(rt_cgroups.update, self.cgroup_path(c), resources)
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

    # ---- wait ----------------------------------------------------------
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

    # ---- remove / rename -----------------------------------------------
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
            # not running: its network went at its exit (or with the crash recovery)
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

    # ---- attach / resize / logs ----------------------------------------
    def attach_request(
        self, c: Container, stdin: bool, stdout: bool, stderr: bool
    ) -> AttachRequest:
        """Register an attach; its future resolves to the shim streams as soon as the
        container runs (now, or at its next start)."""
        req = AttachRequest(stdin and c.config.open_stdin, stdout, stderr)
        self.events.container(c, "attach")
        live = self._live.get(c.id)
        if live is not None:
            # The request holds the task: the event loop keeps only a weak reference.
            req.task = asyncio.ensure_future(live.shim.attach(req.stdin, stdout, stderr))
            req.task.add_done_callback(lambda t: _chain(t, req.streams))
        else:
            self._w(c.id).pending_attach.append(req)
        return req

    def cancel_attach(self, c: Container, req: AttachRequest) -> None:
        w = self._watch.get(c.id)
        if w is not None and req in w.pending_attach:
            w.pending_attach.remove(req)

    async def resize(self, ref: str, height: int, width: int) -> None:
        c = self.get(ref)
        live = self._live.get(c.id)
        if live is None:
            raise Conflict(f"Container {c.id} is not running")
        try:
            await live.shim.resize(height, width)
        except (ConnectionError, FileNotFoundError, ShimError):
            raise Conflict(f"Container {c.id} is not running") from None
        self.events.container(c, "resize", {"height": str(height), "width": str(width)})

    def logs(self, c: Container, opts: LogOptions) -> AsyncIterator[tuple[int, bytes]]:
        if c.host_config.log_config.type == "none":
            raise InvalidParameter("configured logging driver does not support reading")
        path = hostopts.log_file(c, self.containers_dir / c.id)
        return read_logs(path, opts, lambda: self._producing_logs(c))

    def log_stream(self, c: Container, opts: LogOptions) -> AsyncIterator[bytes]:
        """`docker logs`' body: raw bytes for a tty container, else stdcopy frames."""
        if c.host_config.log_config.type == "none":
            raise InvalidParameter("configured logging driver does not support reading")
        path = hostopts.log_file(c, self.containers_dir / c.id)
        return read_log_stream(path, opts, lambda: self._producing_logs(c), raw=c.config.tty)

    def _producing_logs(self, c: Container) -> bool:
        """A follower keeps following while the container runs or waits for its restart
        policy to start it again: `docker logs -f` goes on across restarts."""
        return c.id in self._live or c.state.status == "restarting"

    # ---- daemon start / stop -------------------------------------------
    async def reconcile(self) -> None:
        """After a (re)start: pick up containers whose shims survived, record the
        exit of those that ended while the daemon was away, drop stale mounts, and
        start the containers whose restart policy says so."""
        to_start: list[Container] = []
        to_remove: list[Container] = []
        self.orphans = await recovery.sweep_orphans(
            {c.id for c in self.store.all()},
            self.exec_root,
            self.overlay_dir,
            self.containers_dir,
            self.cgroup_parent,
        )
        for c in self.store.all():
            if c.state.status == "restarting" and not ShimClient(self.bundle(c.id)).alive():
                # its restart delay ran out while the daemon was away
                c.state.status = "exited"
                self.store.save(c)
                to_start.append(c)
            if not c.state.running:
                # Only a container with a run on record (or a bundle) can hold anything:
                # the many others cost a stat or two.
                if self.run.holds_anything(c.id):
                    # berthd died while starting it or recording its exit: a shim may be
                    # there, even a process
                    rec = self.run.record(c.id)
                    cgroup = rec.cgroup if rec is not None and rec.cgroup else None
                    if await recovery.end_stray_shim(
                        self.bundle(c.id), cgroup or self.cgroup_path(c)
                    ):
                        log.warning("container %s: ended the shim of an unfinished start", c.id)
                    # its netns (if a crash left one) goes with the network's reconciliation
                    await self._release_run(c, network=False)
                if c.host_config.auto_remove:
                    to_remove.append(c)  # as dockerd's restore: --rm that is not running
                    continue
                ran_before = parse_rfc3339(c.state.started_at) > 0
                policy = c.host_config.restart_policy
                if ran_before and starts_with_daemon(policy, c.manually_stopped):
                    if c not in to_start:
                        to_start.append(c)
                continue
            shim = ShimClient(self.bundle(c.id))
            if shim.alive():
                cmounts.adopt(cmounts.load(c.mount_points), self.volumes, c.id)
                live = _Live(shim, asyncio.get_running_loop().create_future())
                self._live[c.id] = live
                live.monitor = asyncio.create_task(self._monitor(c, live))
                self.health.resume(c)
                continue
            st = read_exit_file(self.bundle(c.id)) or ExitStatus(
                255, False, rfc3339nano(), "container was running when the daemon stopped"
            )
            async with self._w(c.id).lock:
                await self._after_exit(c, st)
        for c in to_remove:
            with contextlib.suppress(EngineError):
                await self.remove(c.id, force=True)
            self.orphans.add(c.id)  # its netns, if a crash left one, goes with the network's
        for c in to_start:
            try:
                await self.start(c.id)
            except EngineError as exc:
                log.warning("container %s: start by its restart policy failed: %s", c.id, exc)

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


def _console_size(size: list[int] | None) -> tuple[int, int] | None:
    if size and len(size) == 2 and size[0] > 0 and size[1] > 0:
        return int(size[0]), int(size[1])
    return None


def _chain(task: asyncio.Future[Streams], fut: asyncio.Future[Streams]) -> None:
    if fut.done():
        return
    if task.cancelled():
        fut.cancel()
    elif task.exception() is not None:
        fut.set_exception(task.exception())  # type: ignore[arg-type]
    else:
        fut.set_result(task.result())


class _Taken:
    def __init__(self, store: ContainerStore) -> None:
        self.store = store

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.store.name_taken(name)


@contextlib.contextmanager
def _image_root(svc: ContainerService, image: Any, odir: Path) -> Iterator[str]:
    """The new container's root filesystem, mounted for a moment (to fill volumes)."""
    merged = str(odir / "merged")
    rt_rootfs.mount_overlay(
        svc.images.layer_dirs(image), str(odir / "upper"), str(odir / "work"), merged
    )
    try:
        yield merged
    finally:
        rt_rootfs.unmount(merged)
