"""The container lifecycle: create, start, stop, kill, wait, remove, rename,
attach, logs, and reconciling with surviving shims after a daemon restart."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import signal as _signal
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from berth.engine.clock import rfc3339nano
from berth.engine.containers import create as create_rules
from berth.engine.containers import files, names, users
from berth.engine.containers.logs import LogOptions, read_logs
from berth.engine.containers.model import Container, State
from berth.engine.containers.store import ContainerStore
from berth.engine.errors import (
    Conflict,
    EngineError,
    InvalidParameter,
    NotFound,
    NotModified,
    SystemError_,
)
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
        self.zygote = zygote
        self.containers_dir = data_root / "containers"
        self.overlay_dir = data_root / "overlay"
        self.exec_root = exec_root
        self._live: dict[str, _Live] = {}
        self._watch: dict[str, _Watch] = {}
        self.containers_dir.mkdir(parents=True, exist_ok=True)
        self.overlay_dir.mkdir(parents=True, exist_ok=True)

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

    def bundle(self, cid: str) -> Path:
        return self.exec_root / cid

    # ---- create --------------------------------------------------------
    def create(self, name: str | None, body: Any) -> Container:
        cfg, hc = create_rules.parse_request(body)
        if not cfg.image:
            raise InvalidParameter("config cannot be empty in order to create a container")
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
        cdir = self.containers_dir / c.id
        odir = self.overlay_dir / c.id
        try:
            cdir.mkdir(parents=True)
            for sub in ("upper", "work", "merged"):
                (odir / sub).mkdir(parents=True)
            c.log_path = str(cdir / f"{c.id}-json.log") if hc.log_config.type != "none" else ""
            resolv = files.host_resolv_conf(hc.dns, hc.dns_search, hc.dns_options)
            c.hostname_path, c.hosts_path, c.resolv_conf_path = files.write_all(
                cdir, cfg.hostname, cfg.domainname, hc.extra_hosts, resolv
            )
            self.store.add(c)
        except BaseException:
            shutil.rmtree(cdir, ignore_errors=True)
            shutil.rmtree(odir, ignore_errors=True)
            raise
        return c

    # ---- start ---------------------------------------------------------
    async def start(self, ref: str) -> None:
        c = self.get(ref)
        w = self._w(c.id)
        async with w.lock:
            if c.state.running:
                raise NotModified("container already started")
            if c.state.status in ("removing", "dead"):
                raise Conflict(f"container {c.id} is marked for removal and cannot be started")
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
        quota = period = None
        if hc.nano_cpus:
            period = 100_000
            quota = int(hc.nano_cpus * period / 1_000_000_000)
        elif hc.cpu_quota:
            quota, period = hc.cpu_quota, hc.cpu_period or 100_000
        join: dict[str, str] = {}
        if hc.network_mode == "host":
            join["network"] = "/proc/1/ns/net"
        elif hc.network_mode.startswith("container:"):
            other = self.get(hc.network_mode.partition(":")[2])
            if not other.state.running:
                raise Conflict(f"cannot join network of a non running container: {other.id}")
            join["network"] = f"/proc/{other.state.pid}/ns/net"
        mounts = [
            rt_spec.BindMount(c.hostname_path, "/etc/hostname"),
            rt_spec.BindMount(c.hosts_path, "/etc/hosts"),
            rt_spec.BindMount(c.resolv_conf_path, "/etc/resolv.conf"),
        ]
        return rt_spec.RuntimeSpec(
            id=c.id,
            rootfs=rootfs,
            args=[c.path, *c.args],
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
            cgroup_path=f"/{hc.cgroup_parent.strip('/') or self.cgroup_parent}/{c.id}",
            memory=hc.memory or None,
            memory_swap=hc.memory_swap or None,
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
        )

    async def _start_locked(self, c: Container, w: _Watch) -> None:
        from berth.runtime.shim_client import RuntimeStartError

        try:
            bundle = await self._spawn_shim(c)
        except EngineError as exc:
            await self._start_failed(c, w, exc.message)
            raise
        except Exception as exc:
            err = SystemError_(f"failed to create task for container: {exc}")
            await self._start_failed(c, w, err.message)
            raise err from exc
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
        c.state = State(status="running", pid=pid, started_at=rfc3339nano())
        self.store.save(c)
        live.monitor = asyncio.create_task(self._monitor(c, live))

    async def _spawn_shim(self, c: Container) -> Path:
        """Mount the root filesystem, write the bundle and fork the shim; undo it all
        if any step fails."""
        from berth.runtime.zygote import ShimRequest

        image = self.images.get(c.image_id)
        odir = self.overlay_dir / c.id
        merged = str(odir / "merged")
        rt_rootfs.mount_overlay(
            self.images.layer_dirs(image), str(odir / "upper"), str(odir / "work"), merged
        )
        bundle = self.bundle(c.id)
        try:
            spec = self._runtime_spec(c, merged)
            bundle.mkdir(parents=True, exist_ok=True)
            for stale in ("exit.json", "shim.sock"):
                (bundle / stale).unlink(missing_ok=True)
            rt_spec.write_bundle(bundle, spec)
            await self.zygote.spawn_shim(
                ShimRequest(
                    id=c.id,
                    bundle=str(bundle),
                    log_path=c.log_path or None,
                    tty=c.config.tty,
                    open_stdin=c.config.open_stdin,
                    stdin_once=c.config.stdin_once,
                )
            )
        except BaseException:
            rt_rootfs.unmount(merged)
            shutil.rmtree(bundle, ignore_errors=True)
            raise
        return bundle

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
            with contextlib.suppress(NotFound):
                await self.remove(c.id, force=True)

    async def _monitor(self, c: Container, live: _Live) -> None:
        try:
            status = await live.shim.wait()
        except Exception:  # the shim died: its exit file (if any) has the truth
            log.warning("lost the shim of container %s", c.id, exc_info=True)
            status = read_exit_file(self.bundle(c.id)) or ExitStatus(
                255, False, rfc3339nano(), "shim exited unexpectedly"
            )
        await self._after_exit(c, status)

    async def _after_exit(self, c: Container, st: ExitStatus, failed: bool = False) -> None:
        live = self._live.pop(c.id, None)
        # A container that never ran stays "created", with the error, as in dockerd.
        c.state = State(
            status="created" if failed else "exited",
            pid=0,
            exit_code=st.exit_code,
            error=st.error,
            oom_killed=st.oom_killed,
            started_at=c.state.started_at,
            finished_at=st.finished_at or rfc3339nano(),
        )
        try:
            rt_rootfs.unmount(str(self.overlay_dir / c.id / "merged"))
            shutil.rmtree(self.bundle(c.id), ignore_errors=True)
            if self.store.maybe(c.id) is not None:
                self.store.save(c)
        except Exception:  # noqa: BLE001 - waiters must hear of the exit regardless
            log.exception("cleaning up after container %s exited", c.id)
        finally:
            w = self._w(c.id)
            if live is not None and not live.exited.done():
                live.exited.set_result(c.state)
            waiters, w.next_exit = w.next_exit, []
            for f in waiters:
                if not f.done():
                    f.set_result(c.state)
        if c.host_config.auto_remove and self.store.maybe(c.id) is not None:
            try:
                await self.remove(c.id, force=True)
            except NotFound:
                pass

    # ---- stop / kill ---------------------------------------------------
    async def stop(self, ref: str, timeout: int | None, sig: str | None) -> None:
        c = self.get(ref)
        live = self._live.get(c.id)
        if live is None or not c.state.running:
            raise NotModified("container already stopped")
        signum = create_rules.parse_signal(sig or c.config.stop_signal or "SIGTERM")
        if timeout is None:
            timeout = c.config.stop_timeout
        if timeout is None:
            timeout = 10
        await self._signal(live, signum)
        try:
            await asyncio.wait_for(
                asyncio.shield(live.exited), None if timeout < 0 else float(timeout)
            )
        except TimeoutError:
            await self._signal(live, _signal.SIGKILL)
            await asyncio.shield(live.exited)

    async def _signal(self, live: _Live, signum: int) -> None:
        try:
            await live.shim.signal(signum)
        except (ConnectionError, FileNotFoundError, ShimError):
            pass  # it has exited in the meantime; the monitor records that

    async def kill(self, ref: str, sig: str | None) -> None:
        c = self.get(ref)
        signum = create_rules.parse_signal(sig or "SIGKILL")
        live = self._live.get(c.id)
        if live is None or not c.state.running:
            raise Conflict(f"Cannot kill container: {ref}: container {c.id} is not running")
        await self._signal(live, signum)
        if signum == _signal.SIGKILL:
            await asyncio.shield(live.exited)

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
        if c.state.status == "removing":
            raise Conflict(f"removal of container {c.id} is already in progress")
        live = self._live.get(c.id)
        if live is not None:
            if not force:
                raise Conflict(
                    f'cannot remove container "/{c.name}": container is running: stop the '
                    "container before removing or force remove"
                )
            await self._signal(live, _signal.SIGKILL)
            await asyncio.shield(live.exited)
            if self.store.maybe(c.id) is None:  # auto-removed meanwhile
                return
        prev = c.state.status
        c.state.status = "removing"
        try:
            rt_rootfs.unmount(str(self.overlay_dir / c.id / "merged"))
            shutil.rmtree(self.bundle(c.id), ignore_errors=True)
            await asyncio.to_thread(shutil.rmtree, self.overlay_dir / c.id, True)
            shutil.rmtree(self.containers_dir / c.id, ignore_errors=True)
            self.store.delete(c)
        except BaseException:
            c.state.status = prev
            raise
        c.state.status = prev
        w = self._watch.pop(c.id, None)
        if w is not None:
            for f in w.removed + w.next_exit:
                if not f.done():
                    f.set_result(c.state)
            for req in w.pending_attach:
                if not req.streams.done():
                    req.streams.set_exception(NotFound(f"No such container: {c.id}"))

    def rename(self, ref: str, new_name: str) -> None:
        c = self.get(ref)
        new = names.validate(new_name)
        if new == c.name:
            raise InvalidParameter("Renaming a container with the same name as its current name")
        self.store.rename(c, new)

    # ---- attach / resize / logs ----------------------------------------
    def attach_request(
        self, c: Container, stdin: bool, stdout: bool, stderr: bool
    ) -> AttachRequest:
        """Register an attach; its future resolves to the shim streams as soon as the
        container runs (now, or at its next start)."""
        req = AttachRequest(stdin and c.config.open_stdin, stdout, stderr)
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

    def logs(self, c: Container, opts: LogOptions) -> AsyncIterator[tuple[int, bytes]]:
        if c.host_config.log_config.type == "none":
            raise InvalidParameter("configured logging driver does not support reading")
        return read_logs(c.log_path, opts, lambda: c.id in self._live)

    # ---- daemon start / stop -------------------------------------------
    async def reconcile(self) -> None:
        """After a (re)start: pick up containers whose shims survived, record the
        exit of those that ended while the daemon was away, drop stale mounts."""
        for c in self.store.all():
            if not c.state.running:
                rt_rootfs.unmount(str(self.overlay_dir / c.id / "merged"))
                continue
            shim = ShimClient(self.bundle(c.id))
            if shim.alive():
                live = _Live(shim, asyncio.get_running_loop().create_future())
                self._live[c.id] = live
                live.monitor = asyncio.create_task(self._monitor(c, live))
                continue
            st = read_exit_file(self.bundle(c.id)) or ExitStatus(
                255, False, rfc3339nano(), "container was running when the daemon stopped"
            )
            await self._after_exit(c, st)

    async def shutdown(self) -> None:
        """Stop every running container (their own stop signal and timeout)."""
        tasks = [asyncio.create_task(self.stop(cid, None, None)) for cid in list(self._live)]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        for live in list(self._live.values()):
            if live.monitor is not None:
                live.monitor.cancel()


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
