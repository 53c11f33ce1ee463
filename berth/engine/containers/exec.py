"""docker exec: exec instances (create, start, inspect, resize).

Until it has exited an exec is listed in its container's ExecIDs; once exited it can still be
inspected, until it has been gone for `KEEP_EXITED` seconds (dockerd's exec GC). One that never
started is forgotten when its container stops; all go with their container. The process itself
runs under the container's shim (berth/runtime/shim/, op "exec"), which reaps it and outlives
berthd; so that an exec survives a berthd restart too, each record is also written to
`containers/<id>/execs/<exec id>.json` (removed with the container's directory) and read back at
the first lookup after a start, a running one being watched through its shim again.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from berth.engine import wire
from berth.engine.containers import starterror, users
from berth.engine.containers.execopts import (
    ExecOptions,
    ExecStartOptions,
    command_line,
    detach_key_bytes,
    key_bytes,
    replace_or_append_env,
)
from berth.engine.containers.model import Container
from berth.engine.errors import (
    Conflict,
    EngineError,
    InvalidParameter,
    NotFound,
    SystemError_,
)
from berth.engine.ports import Runtime, RuntimeStartError, Shim, ShimError

# the request bodies and the rules, for those who import them from here
__all__ = [
    "ExecInstance",
    "ExecOptions",
    "ExecService",
    "ExecStartOptions",
    "ExecStream",
    "detach_key_bytes",
    "key_bytes",
    "replace_or_append_env",
]

log = logging.getLogger("berth.exec")


DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# dockerd's GC drops exited execs between 5 and 10 minutes after they ended
KEEP_EXITED = 300.0
# the docker CLI inspects the exec as soon as its stream ends: the exit code must be known by then
EXIT_GRACE = 5.0
# how long a resize waits for the exec to start (dockerd's value)
START_WAIT = 10.0
EXECS_DIR = "execs"  # under the container's directory
# the fields of a record on disk: everything but the futures and the monotonic clock
_SAVED = (
    "id", "container_id", "container_started_at", "entrypoint", "args", "env", "user",
    "working_dir", "privileged", "tty", "open_stdin", "open_stdout", "open_stderr",
    "console_size", "running", "exit_code", "pid",
)  # fmt: skip


@dataclass
class ExecInstance:
    id: str
    container_id: str
    container_started_at: str  # the run of the container this exec belongs to
    entrypoint: str
    args: list[str]
    env: list[str]
    user: str
    working_dir: str
    privileged: bool
    tty: bool
    open_stdin: bool
    open_stdout: bool
    open_stderr: bool
    detach_keys: bytes
    console_size: list[int] | None
    running: bool = False
    exit_code: int | None = None
    pid: int = 0
    ended: float = 0.0  # time.monotonic() of the exit
    exited: asyncio.Future[int] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    # resolved once the start has gone through the shim (either way): resize waits for it
    started: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


@dataclass
class ExecStream:
    """A started exec's stream from its shim (until it has exited), and whether it takes stdin."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    stdin: bool
    tty: bool = False
    detach_keys: bytes = b""  # b"": the default ctrl-p,ctrl-q


class ExecService:
    """The daemon's exec instances. `containers` is the ContainerService; RUNTIME, the
    runtime its execs run through, is the container service's unless given."""

    def __init__(self, containers: Any, runtime: Runtime | None = None) -> None:
        self.containers = containers
        self.runtime: Runtime = runtime if runtime is not None else containers.runtime
        # health probes' execs: kept in memory only
        self._internal: set[str] = set()
        self._execs: dict[str, ExecInstance] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._loaded = False  # the records of an earlier berthd read back

    # ---- records on disk -----------------------------------------------
    def _record(self, cid: str, eid: str) -> Path:
        return Path(self.containers.containers_dir) / cid / EXECS_DIR / f"{eid}.json"

    def _save(self, ex: ExecInstance) -> None:
        if ex.id in self._internal:
            return
        data: dict[str, Any] = {k: getattr(ex, k) for k in _SAVED}
        data["detach_keys"] = base64.b64encode(ex.detach_keys).decode()
        # wall clock on disk: the monotonic one does not survive a reboot
        data["ended_at"] = time.time() - (time.monotonic() - ex.ended) if ex.ended else 0.0
        path = self._record(ex.container_id, ex.id)
        tmp = path.with_suffix(".tmp")
        try:
            path.parent.mkdir(mode=0o700, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump(data, f)
            os.replace(tmp, path)
        except OSError as e:  # the container (and its directory) may be going away
            log.debug("exec %s: cannot write its record: %s", ex.id, e)

    def _forget(self, ex: ExecInstance) -> None:
        if ex.id in self._internal:
            self._internal.discard(ex.id)
            return
        with contextlib.suppress(OSError):
            self._record(ex.container_id, ex.id).unlink()

    def _load(self) -> None:
        """Once, at the first lookup: the records an earlier berthd left (it may have been
        restarted while execs ran: those are watched again through their shim)."""
        if self._loaded:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # the records' futures need the loop: read them at a lookup from a request
        self._loaded = True
        for path in Path(self.containers.containers_dir).glob(f"*/{EXECS_DIR}/*.json"):
            try:
                data = json.loads(path.read_text())
                fields = {k: data[k] for k in _SAVED}
                ex = ExecInstance(**fields, detach_keys=base64.b64decode(data["detach_keys"]))
                ended_at = float(data.get("ended_at") or 0.0)
            except (OSError, ValueError, KeyError, TypeError) as e:
                log.warning("exec record %s is unreadable: %s", path, e)
                continue
            if ex.id in self._execs or self.containers.store.maybe(ex.container_id) is None:
                continue
            if ended_at:
                ex.ended = time.monotonic() - max(0.0, time.time() - ended_at)
            ex.started.set_result(None)  # its start went through (or never will: not started)
            if ex.exit_code is not None:
                ex.exited.set_result(ex.exit_code)
            self._execs[ex.id] = ex
            if ex.running and ex.exit_code is None:
                shim = self.runtime.shim(self.containers.bundle(ex.container_id))
                task = asyncio.create_task(self._watch(ex, shim))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    # ---- lookups -------------------------------------------------------
    def _alive(self, ex: ExecInstance) -> bool:
        """False once dockerd would have dropped the instance."""
        if self.containers.store.maybe(ex.container_id) is None:
            return False  # removed with its container
        if ex.exit_code is not None:
            return time.monotonic() - ex.ended < KEEP_EXITED
        if ex.running:
            return True
        c = self.containers.store.maybe(ex.container_id)
        return bool(
            c is not None and c.state.running and c.state.started_at == ex.container_started_at
        )

    def get(self, eid: str) -> ExecInstance:
        self._load()
        ex = self._execs.get(eid)
        if ex is None or not self._alive(ex):
            raise NotFound(f"No such exec instance: {eid}")
        return ex

    def ids_for(self, cid: str) -> list[str] | None:
        """The container's ExecIDs: its execs that have not exited (None if there are none)."""
        self._load()
        ids = [
            ex.id
            for ex in self._execs.values()
            if ex.container_id == cid and ex.exit_code is None and self._alive(ex)
        ]
        return ids or None

    def _sweep(self) -> None:
        for eid in [eid for eid, ex in self._execs.items() if not self._alive(ex)]:
            self._forget(self._execs.pop(eid))

    @staticmethod
    def _check_active(c: Container, ref: str) -> None:
        st = c.state.status
        if not c.state.running:
            raise Conflict(f"container {c.id} is not running")
        if st == "paused":
            raise Conflict(f"container {ref} is paused, unpause the container before exec")
        if st == "restarting":
            raise Conflict(f"Container {c.id} is restarting, wait until the container is running")

    def _rootfs(self, c: Container) -> str:
        return str(self.containers.overlay_dir / c.id / "merged")

    # ---- create --------------------------------------------------------
    def create(self, ref: str, body: Any, *, internal: bool = False) -> ExecInstance:
        """POST /containers/{id}/exec. INTERNAL: a health probe's, never written to disk
        (one every interval, for the life of the container)."""
        # the body first, as dockerd: a field of the wrong type is a 400 before any lookup
        opts = wire.decode_struct(ExecOptions, body)
        cmd = opts.cmd
        if not cmd:
            raise InvalidParameter("No exec command specified")
        c = self.containers.get(ref)
        self._check_active(c, ref)
        env = opts.env or []
        user = opts.user
        if user:
            # dockerd looks the user up now, so that a typo fails before the start
            users.resolve(self._rootfs(c), user, c.host_config.group_add)
        keys = detach_key_bytes(opts.detach_keys) if opts.detach_keys else b""
        size = opts.console_size
        if size is not None and len(size) != 2:
            size = (list(size) + [0, 0])[:2]  # a Go [2]uint: missing entries are 0
        tty = opts.tty
        defaults = [f"PATH={DEFAULT_PATH}", f"HOSTNAME={c.config.hostname}"]
        if tty:
            defaults.append("TERM=xterm")
        network = getattr(self.containers, "network", None)
        if network is not None:
            defaults += network.link_env(c)  # dockerd's exec sees the --link variables too
        base = replace_or_append_env(defaults, list(c.config.env or []))
        self._sweep()
        eid = secrets.token_hex(32)
        ex = ExecInstance(
            id=eid,
            container_id=c.id,
            container_started_at=c.state.started_at,
            entrypoint=cmd[0],
            args=list(cmd[1:]),
            env=replace_or_append_env(base, env),
            user=user or c.config.user or "",
            working_dir=opts.working_dir or c.config.working_dir or "",
            privileged=opts.privileged,
            tty=tty,
            open_stdin=opts.attach_stdin,
            open_stdout=opts.attach_stdout,
            open_stderr=opts.attach_stderr,
            detach_keys=keys,
            console_size=size,
        )
        self._execs[eid] = ex
        if internal:
            self._internal.add(eid)
        else:
            self._save(ex)
        self._event(ex, "exec_create: " + command_line(ex.entrypoint, ex.args))
        return ex

    # ---- start ---------------------------------------------------------
    def startable(self, eid: str) -> tuple[ExecInstance, Container]:
        """The checks dockerd makes before it hijacks the connection for a start."""
        ex = self.get(eid)
        c = self.containers.store.maybe(ex.container_id)
        if c is None:
            raise NotFound(f"No such container: {eid}")
        self._check_active(c, c.id)
        return ex, c

    def _process(
        self, ex: ExecInstance, c: Container, console_size: list[int] | None
    ) -> dict[str, Any]:
        """The OCI process fields the exec sets over the container's own."""
        u = users.resolve(self._rootfs(c), ex.user, c.host_config.group_add)
        env = list(ex.env)
        if not any(e.startswith("HOME=") for e in env):
            env.append(f"HOME={u.home}")  # as runc does, from the exec user's passwd entry
        user: dict[str, Any] = {"uid": u.uid, "gid": u.gid}
        if u.additional_gids:
            user["additionalGids"] = list(u.additional_gids)
        process: dict[str, Any] = {
            "args": [ex.entrypoint, *ex.args],
            "env": env,
            "cwd": ex.working_dir or "/",
            "terminal": ex.tty,
            "user": user,
        }
        if ex.privileged:
            every = self.runtime.all_capabilities()
            process["capabilities"] = {
                "bounding": every,
                "effective": list(every),
                "permitted": list(every),
            }
        size = console_size or ex.console_size
        if ex.tty and size and len(size) == 2 and size[0] > 0 and size[1] > 0:
            process["consoleSize"] = {"height": int(size[0]), "width": int(size[1])}
        return process

    async def start(
        self,
        eid: str,
        *,
        detach: bool,
        raw: bool,
        console_size: list[int] | None = None,
    ) -> ExecStream | None:
        """Start the exec; its stream unless detached. Raises with dockerd's message (and
        records dockerd's exit code) if it cannot start."""
        ex, c = self.startable(eid)
        if ex.exit_code is not None:
            raise Conflict(f"exec command {ex.id} has already run")
        if ex.running:
            raise Conflict(f"exec command {ex.id} is already running")
        ex.running = True
        # dockerd logs the start before it asks the runtime, and no exec_die if that fails
        self._event(ex, "exec_start: " + command_line(ex.entrypoint, ex.args))
        shim = self.runtime.shim(self.containers.bundle(c.id))
        try:
            process = self._process(ex, c, console_size)
            pid, reader, writer = await shim.exec(
                ex.id,
                process,
                stdin=ex.open_stdin,
                stdout=ex.open_stdout,
                stderr=ex.open_stderr,
                detach=detach,
                raw=raw,
            )
        except RuntimeStartError as exc:
            code, err = starterror.translate(
                f"OCI runtime exec failed: exec failed: {exc.message}: unknown",
                starterror.EXEC_UNKNOWN,
            )
            self._exited(ex, code)
            raise err from exc
        except EngineError:
            self._exited(ex, 126)
            raise
        except ShimError as exc:
            self._exited(ex, 126)
            if not c.state.running:
                raise Conflict(f"container {c.id} is not running") from exc
            raise SystemError_(f"exec failed: {exc.message}") from exc
        except BaseException:
            self._exited(ex, 126)
            raise
        ex.pid = pid
        if not ex.started.done():
            ex.started.set_result(None)
        if ex.exit_code is None:  # (its watch may have seen it end already)
            self._save(ex)
        task = asyncio.create_task(self._watch(ex, shim))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if reader is None or writer is None:
            return None
        return ExecStream(reader, writer, ex.open_stdin, ex.tty, ex.detach_keys)

    async def _watch(self, ex: ExecInstance, shim: Shim) -> None:
        try:
            code = await shim.exec_wait(ex.id)
        except (ShimError, OSError):
            # the shim is gone with its container, which took the exec with it (SIGKILL)
            code = 137
        if ex.exit_code is None:
            self._event(ex, "exec_die", {"exitCode": str(code)})
        self._exited(ex, code)

    def detached(self, eid: str) -> None:
        """The client of a started exec detached with the keys: dockerd's event."""
        ex = self._execs.get(eid)
        if ex is not None:
            self._event(ex, "detach")

    def _event(self, ex: ExecInstance, action: str, extra: dict[str, str] | None = None) -> None:
        c = self.containers.store.maybe(ex.container_id)
        if c is not None:
            self.containers.events.container(c, action, {"execID": ex.id, **(extra or {})})

    def _exited(self, ex: ExecInstance, code: int) -> None:
        ex.running = False
        ex.exit_code = code
        ex.ended = time.monotonic()
        self._save(ex)
        if not ex.started.done():
            ex.started.set_result(None)
        if not ex.exited.done():
            ex.exited.set_result(code)

    async def wait_exit(self, eid: str, timeout: float = EXIT_GRACE) -> None:
        """Until the exec's exit code is recorded (bounded: never hold a client forever)."""
        ex = self._execs.get(eid)
        if ex is None or ex.exited.done():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(ex.exited), timeout)

    # ---- resize / inspect ----------------------------------------------
    async def resize(self, eid: str, height: int, width: int) -> None:
        ex, c = self.startable(eid)
        try:
            await asyncio.wait_for(asyncio.shield(ex.started), START_WAIT)
        except TimeoutError:
            raise SystemError_("timeout waiting for exec session ready") from None
        if not ex.running:
            return  # it has exited already: nothing to resize
        try:
            await self.runtime.shim(self.containers.bundle(c.id)).resize(
                height, width, exec_id=ex.id
            )
        except ShimError as exc:
            raise SystemError_(exc.message) from exc

    def inspect(self, eid: str) -> ExecInstance:
        return self.get(eid)
