"""An in-memory runtime for the container engine's unit tests (berth.engine.ports.Runtime).

A spawned shim holds a process that "runs" from its start until it is killed or told to
exit: `exit(cid, code)` ends it as the script says, a signal the process does not ignore
ends it with 128+signal (none reaches a frozen process but SIGKILL; the rest are delivered
at the thaw), `lose(cid)` makes its shim vanish. The shim writes `exit.json` into its bundle
as the real one does, so that what reads it back (a lost shim, a reconciliation) sees it.
Every operation is recorded in `calls`."""

from __future__ import annotations

import asyncio
import json
import signal
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from berth.engine.ports import (
    ExitStatus,
    RuntimeSpec,
    RuntimeStartError,
    ShimError,
    ShimGoneError,
    ShimRequest,
    StartGate,
)

NOW = "2026-12-02T10:00:00.000000000Z"


@dataclass
class FakeExec:
    process: dict[str, Any]
    pid: int
    done: asyncio.Future[int]


class _Writer:
    """What a stream's writer needs to be for the engine's callers."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        self.data += data

    def write_eof(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def _stream(output: bytes = b"") -> tuple[asyncio.StreamReader, Any]:
    reader = asyncio.StreamReader()
    reader.feed_data(output)
    reader.feed_eof()
    return reader, _Writer()


class FakeShim:
    """One container's shim and its init process."""

    def __init__(self, rt: FakeRuntime, req: ShimRequest | None, bundle: Path) -> None:
        self.rt = rt
        self.req = req
        self.bundle = bundle
        self.cid = req.id if req is not None else bundle.name
        self.status = "created"
        self.pid = 0
        self.gone = req is None
        self.signals: list[int] = []
        self.pending: list[int] = []  # signals held back while frozen
        self.execs: dict[str, FakeExec] = {}
        self._exit: asyncio.Future[ExitStatus] | None = None

    def _exit_future(self) -> asyncio.Future[ExitStatus]:
        if self._exit is None:
            self._exit = asyncio.get_running_loop().create_future()
        return self._exit

    def _check(self) -> None:
        if self.gone:
            raise ShimGoneError(f"shim of {self.bundle} is not running")

    # ---- the script's side -----------------------------------------------------
    def finish(self, code: int, *, oom: bool = False, error: str = "") -> None:
        """The process exits with CODE (its execs with it)."""
        if self.status == "exited":
            return
        self.status = "exited"
        st = ExitStatus(code, oom, NOW, error)
        if self.bundle.is_dir():
            (self.bundle / "exit.json").write_text(json.dumps(asdict(st)))
        self._exit_future().set_result(st)
        for ex in self.execs.values():
            if not ex.done.done():
                ex.done.set_result(137)

    def vanish(self) -> None:
        self.gone = True
        fut = self._exit_future()
        if not fut.done():
            fut.set_exception(ShimGoneError(f"shim of {self.bundle} closed the connection"))

    # ---- the client operations (berth.engine.ports.Shim) ----------------------
    async def start(self, gate: bool = False, cgroup_made: bool = False) -> int:
        self._check()
        self.rt.calls.append(("start", self.cid))
        err = self.rt.start_errors.get(self.cid)
        if err is not None:
            raise RuntimeStartError(err)
        if self.status != "created":
            raise ShimError("container already started")
        self.status = "running"
        self.pid = self.rt.new_pid()
        self._exit_future()
        return self.pid

    async def attach(
        self, stdin: bool, stdout: bool, stderr: bool
    ) -> tuple[asyncio.StreamReader, Any]:
        self._check()
        self.rt.calls.append(("attach", self.cid))
        return _stream()

    async def signal(self, sig: int, exec_id: str | None = None) -> None:
        self._check()
        self.rt.calls.append(("signal", self.cid, int(sig), exec_id))
        if exec_id is not None:
            ex = self.execs.get(exec_id)
            if ex is not None and not ex.done.done():
                ex.done.set_result(128 + sig)
            return
        self.signals.append(int(sig))
        if self.status != "running":
            return
        if sig != signal.SIGKILL and self.rt.is_frozen(self.cid):
            self.pending.append(int(sig))
            return
        self.deliver(int(sig))

    def deliver(self, sig: int) -> None:
        if sig == signal.SIGKILL or sig not in self.rt.ignored.get(self.cid, set()):
            self.finish(128 + sig)

    async def resize(self, height: int, width: int, exec_id: str | None = None) -> None:
        self._check()
        self.rt.calls.append(("resize", self.cid, height, width, exec_id))

    async def exec(
        self,
        exec_id: str,
        process: dict[str, Any],
        *,
        stdin: bool,
        stdout: bool,
        stderr: bool,
        detach: bool,
        raw: bool,
    ) -> tuple[int, asyncio.StreamReader | None, Any]:
        self._check()
        self.rt.calls.append(("exec", self.cid, exec_id))
        if self.status != "running":
            raise ShimError("container is not running")
        arg0 = process["args"][0]
        err = self.rt.exec_errors.get(arg0)
        if err is not None:
            raise RuntimeStartError(err)
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        code = self.rt.exec_codes.get(arg0, 0)
        if code is not None:
            done.set_result(code)  # None: it runs until signalled
        self.execs[exec_id] = FakeExec(process, self.rt.new_pid(), done)
        if detach:
            return self.execs[exec_id].pid, None, None
        reader, writer = _stream(self.rt.exec_output.get(arg0, b""))
        return self.execs[exec_id].pid, reader, writer

    async def exec_wait(self, exec_id: str) -> int:
        self._check()
        ex = self.execs.get(exec_id)
        if ex is None:
            raise ShimError(f"no such exec: {exec_id}")
        return await asyncio.shield(ex.done)

    async def wait(self) -> ExitStatus:
        if self.gone and (self._exit is None or not self._exit.done()):
            raise ShimGoneError(f"shim of {self.bundle} is not running")
        return await asyncio.shield(self._exit_future())

    async def state(self) -> dict[str, Any]:
        self._check()
        return {"status": self.status, "pid": self.pid, "started_at": NOW}

    async def shutdown(self) -> None:
        self._check()
        self.rt.calls.append(("shutdown", self.cid))
        self.gone = True

    def alive(self, timeout: float = 1.0) -> bool:
        return not self.gone


@dataclass
class FakeRuntime:
    """The runtime, in memory. Script it through the dicts; read `calls` and the state."""

    calls: list[tuple[Any, ...]] = field(default_factory=list)
    mounted: set[str] = field(default_factory=set)
    shims: dict[str, FakeShim] = field(default_factory=dict)  # by bundle path
    specs: dict[str, RuntimeSpec] = field(default_factory=dict)  # by container id
    frozen: set[str] = field(default_factory=set)  # cgroup paths
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)  # by cgroup
    start_errors: dict[str, str] = field(default_factory=dict)  # by container id
    exec_errors: dict[str, str] = field(default_factory=dict)  # by the exec's args[0]
    exec_codes: dict[str, int | None] = field(default_factory=dict)  # by args[0]
    exec_output: dict[str, bytes] = field(default_factory=dict)  # by args[0]
    ignored: dict[str, set[int]] = field(default_factory=dict)  # signals, by container id
    freeze_error: OSError | None = None
    make_cgroup_error: OSError | None = None
    init_path: str | None = None
    cgroups: set[str] = field(default_factory=set)
    _pid: int = 1000

    def new_pid(self) -> int:
        self._pid += 1
        return self._pid

    # ---- the script's side -----------------------------------------------------
    def shim_of(self, cid: str) -> FakeShim:
        for shim in self.shims.values():
            if shim.cid == cid:
                return shim
        raise KeyError(cid)

    def exit(self, cid: str, code: int, *, oom: bool = False) -> None:
        self.shim_of(cid).finish(code, oom=oom)

    def lose(self, cid: str) -> None:
        self.shim_of(cid).vanish()

    def is_frozen(self, cid: str) -> bool:
        spec = self.specs.get(cid)
        return spec is not None and spec.cgroup_path in self.frozen

    # ---- root filesystem and /dev/shm ----------------------------------------
    def mount_rootfs(self, lowerdirs: list[str], upper: str, work: str, target: str) -> None:
        self.calls.append(("mount_rootfs", target))
        Path(target).mkdir(parents=True, exist_ok=True)
        self.mounted.add(target)

    def mount_shm(self, target: str, size: int) -> None:
        self.calls.append(("mount_shm", target, size))
        self.mounted.add(target)

    def unmount(self, target: str) -> None:
        self.calls.append(("unmount", target))
        self.mounted.discard(target)

    # ---- bundle and shim -------------------------------------------------------
    def write_bundle(self, bundle: Path, spec: RuntimeSpec) -> None:
        self.calls.append(("write_bundle", spec.id))
        Path(bundle).mkdir(parents=True, exist_ok=True)
        self.specs[spec.id] = spec
        self.cgroups.add(spec.cgroup_path)

    def make_cgroup(self, spec: RuntimeSpec) -> None:
        self.calls.append(("make_cgroup", spec.id))
        if self.make_cgroup_error is not None:
            raise self.make_cgroup_error
        self.cgroups.add(spec.cgroup_path)

    def start_gate(self, bundle: Path) -> StartGate:
        self.calls.append(("start_gate", Path(bundle).name))
        return StartGate(Path(bundle))

    def find_init(self) -> str | None:
        return self.init_path

    async def spawn_shim(self, req: ShimRequest) -> int:
        self.calls.append(("spawn_shim", req.id))
        bundle = Path(req.bundle)
        (bundle / "shim.sock").touch()
        self.shims[str(bundle)] = FakeShim(self, req, bundle)
        return self.new_pid()

    def shim(self, bundle: Path) -> FakeShim:
        found = self.shims.get(str(bundle))
        return found if found is not None else FakeShim(self, None, Path(bundle))

    def read_exit(self, bundle: Path) -> ExitStatus | None:
        try:
            obj = json.loads((Path(bundle) / "exit.json").read_text())
        except (OSError, ValueError):
            return None
        return ExitStatus(**obj)

    # ---- cgroups ---------------------------------------------------------------
    def freeze(self, cgroup: str) -> None:
        self.calls.append(("freeze", cgroup))
        if self.freeze_error is not None:
            raise self.freeze_error
        self.frozen.add(cgroup)

    def thaw(self, cgroup: str) -> None:
        self.calls.append(("thaw", cgroup))
        self.frozen.discard(cgroup)
        for cid, spec in self.specs.items():
            if spec.cgroup_path == cgroup:
                for shim in self.shims.values():
                    if shim.cid == cid and shim.status == "running":
                        held, shim.pending = shim.pending, []
                        for sig in held:
                            shim.deliver(sig)

    def update_resources(self, cgroup: str, resources: dict[str, Any]) -> None:
        self.calls.append(("update_resources", cgroup))
        self.resources[cgroup] = resources

    def kill_cgroup(self, cgroup: str, timeout: float = 5.0) -> bool:
        self.calls.append(("kill_cgroup", cgroup))
        for cid, spec in self.specs.items():
            if spec.cgroup_path == cgroup:
                for shim in self.shims.values():
                    if shim.cid == cid and shim.status == "running":
                        shim.status = "exited"
        return True

    def remove_cgroup(self, cgroup: str, timeout: float = 2.0) -> None:
        self.calls.append(("remove_cgroup", cgroup))
        self.cgroups.discard(cgroup)

    def cgroup_children(self, parent: str) -> set[str]:
        prefix = parent.rstrip("/") + "/"
        return {p[len(prefix) :] for p in self.cgroups if p.startswith(prefix)}

    def cgroup_pids(self, cgroup: str) -> list[int]:
        return []

    def cgroup_age(self, cgroup: str) -> float:
        return 0.0

    # ---- processes -------------------------------------------------------------
    def all_capabilities(self) -> list[str]:
        return ["CAP_CHOWN", "CAP_KILL", "CAP_SYS_ADMIN"]

    def down(self) -> bool:
        return False
