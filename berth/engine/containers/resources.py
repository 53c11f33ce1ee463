"""What one run of a container holds on the host, taken and given back through one owner:
its root filesystem mount, its /dev/shm, its volumes' mounts, its network endpoints (the
netns, the veths, the address leases, the published ports), its bundle with the shim, and
its cgroup.

berthd can be killed between any two lines, so the intent is written before anything is
taken: `run.json` in the container's directory says that a run is starting (or running),
what it may hold and where its cgroup is. The next berthd releases exactly what a record
names for a container that is not running, and finds nothing to do for one without a
record, so that a daemon with many stopped containers starts without touching each.

Every release step is idempotent: it finds nothing to do when done already (a second call,
a start that failed half-way, a berthd restarted after a crash). The caller makes sure no
process of the run is left first (a lost shim's cgroup is killed): mounts and addresses
are given back only once nothing can use them. The network goes first, its netns before
its address, so that an address is never handed to a second container while the first
one's netns still holds it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from berth.engine.containers import hostopts
from berth.engine.containers import mounts as cmounts
from berth.engine.containers.model import Container
from berth.engine.ports import Runtime, RuntimeSpec, ShimRequest, StartGate

log = logging.getLogger("berth.containers")

RECORD = "run.json"

# what a run can hold, in the order of release
NETWORK, ROOTFS, SHM, VOLUMES, CGROUP, BUNDLE = (
    "network", "rootfs", "shm", "volumes", "cgroup", "bundle",
)  # fmt: skip


@dataclass(frozen=True)
class Acquired:
    """What a start holds once `acquire` has returned: the bundle (its shim up), the gate
    its process waits at while `plug` makes the network's interfaces (None: nothing to
    plug), and whether the cgroup is made (else the shim makes it)."""

    bundle: Path
    gate: StartGate | None
    cgroup_made: bool


@dataclass
class RunRecord:
    """The persisted intent of one run. PHASE: "starting" from before the root filesystem is
    mounted until the store records the process; "running" from then to the exit."""

    phase: str
    holds: list[str] = field(default_factory=list)
    cgroup: str = ""

    @classmethod
    def decode(cls, raw: bytes) -> RunRecord | None:
        try:
            obj = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(obj, dict):
            return None
        phase, holds, cgroup = obj.get("phase"), obj.get("holds"), obj.get("cgroup")
        if phase not in ("starting", "running") or not isinstance(cgroup, str):
            return None
        if not isinstance(holds, list) or not all(isinstance(h, str) for h in holds):
            return None
        return cls(phase, list(holds), cgroup)


class RunResources:
    """The one owner of every run's host resources (one per ContainerService)."""

    def __init__(
        self,
        images: Any,
        runtime: Runtime,
        overlay_dir: Path,
        containers_dir: Path,
        exec_root: Path,
        *,
        network: Any = None,
        volumes: Any = None,
    ) -> None:
        """NETWORK and VOLUMES: the engine's services (None: a run holds no endpoint or
        volume, as in the unit tests)."""
        self.images = images
        self.runtime = runtime
        self.overlay_dir = overlay_dir
        self.containers_dir = containers_dir
        self.exec_root = exec_root
        self.network = network
        self.volumes = volumes

    def bundle(self, cid: str) -> Path:
        return self.exec_root / cid

    def _record_path(self, cid: str) -> Path:
        return self.containers_dir / cid / RECORD

    # ---- the record ------------------------------------------------------
    def record(self, cid: str) -> RunRecord | None:
        try:
            raw = self._record_path(cid).read_bytes()
        except OSError:
            return None
        rec = RunRecord.decode(raw)
        if rec is None:
            log.warning("container %s: unreadable %s, releasing all a run can hold", cid, RECORD)
            return RunRecord("starting", [NETWORK, ROOTFS, SHM, VOLUMES, CGROUP, BUNDLE])
        return rec

    def _write(self, cid: str, rec: RunRecord) -> None:
        path = self._record_path(cid)
        tmp = path.with_name(RECORD + ".tmp")
        tmp.write_text(json.dumps(asdict(rec)))
        os.replace(tmp, path)  # a crash leaves the old record or the new one, never half

    def mark_running(self, cid: str) -> None:
        """The store has recorded the process: from now on the store's state is the truth
        about the run, the record only says what to give back."""
        rec = self.record(cid)
        if rec is not None and rec.phase != "running":
            rec.phase = "running"
            self._write(cid, rec)

    def _plan(self, c: Container, cgroup: str) -> RunRecord:
        holds = [ROOTFS, CGROUP, BUNDLE]
        if c.networks:
            holds.append(NETWORK)
        if c.host_config.ipc_mode == "shareable":
            holds.append(SHM)
        if any(m.type == "volume" for m in cmounts.load(c.mount_points)):
            holds.append(VOLUMES)
        return RunRecord("starting", holds, cgroup)

    # ---- acquire ---------------------------------------------------------
    async def acquire(
        self, c: Container, cgroup: str, spec_for: Callable[[str], RuntimeSpec]
    ) -> Acquired:
        """Mount the root filesystem, set up /dev/shm, the cgroup and the network's first
        half, write the bundle (SPEC_FOR builds the runtime spec on the mounted root; it
        takes the volumes' mounts) and fork the shim. All of it is given back if any step
        fails.

        The shim is forked first and comes up while the rest is done (it reads config.json
        only when asked to start); the cgroup is made in a thread while the network's
        first half is. The network's second half (its interfaces) is made by `plug` while
        the process is set up, behind the returned gate."""
        self._write(c.id, self._plan(c, cgroup))
        image = self.images.get(c.image_id)
        odir = self.overlay_dir / c.id
        merged = str(odir / "merged")
        bundle = self.bundle(c.id)
        spawn: asyncio.Future[int] | None = None
        made: asyncio.Future[bool] | None = None
        gate: StartGate | None = None
        try:
            self.runtime.mount_rootfs(
                self.images.layer_dirs(image), str(odir / "upper"), str(odir / "work"), merged
            )
            bundle.mkdir(parents=True, exist_ok=True)
            for stale in ("exit.json", "shim.sock", "config.json"):
                (bundle / stale).unlink(missing_ok=True)
            spawn = asyncio.ensure_future(self.runtime.spawn_shim(self._shim_request(c)))
            self._prepare_shm(c)
            if self.network is not None:
                self.network.plan_links(c)
            spec, spec_error, made = self._spec_and_cgroup(spec_for, merged)
            netns = None
            if self.network is not None:
                netns = await self.network.prepare(c)
            if spec_error is not None:
                raise spec_error
            assert spec is not None
            self.runtime.write_bundle(bundle, spec)
            if netns is not None:
                gate = self.runtime.start_gate(bundle)
            await spawn
            cgroup_made = await made if made is not None else False
        except BaseException:
            if gate is not None:
                gate.close()
            await self._end_spawned(spawn, bundle)
            made_one = False
            if made is not None:
                with contextlib.suppress(BaseException):
                    made_one = await asyncio.shield(made)
            await self.release(c, cgroup=made_one)
            raise
        return Acquired(bundle, gate, cgroup_made)

    def _spec_and_cgroup(
        self, spec_for: Callable[[str], RuntimeSpec], merged: str
    ) -> tuple[RuntimeSpec | None, Exception | None, asyncio.Future[bool] | None]:
        """The spec, or its error (raised by the caller after the network's errors, as
        dockerd orders them), and its cgroup being made in a thread."""
        try:
            spec = spec_for(merged)
        except Exception as exc:  # noqa: BLE001 - the caller raises it
            return None, exc, None
        if not spec.cgroup_path:
            return spec, None, None
        return spec, None, asyncio.ensure_future(asyncio.to_thread(self._make_cgroup, spec))

    def _make_cgroup(self, spec: RuntimeSpec) -> bool:
        """SPEC's cgroup with its limits, made here while the network is set up: True if it
        is. A failure leaves it to the shim, which fails the start with the error worded
        as for any other start (as runc words it)."""
        try:
            self.runtime.make_cgroup(spec)
        except Exception:  # noqa: BLE001 - the shim tries again and reports it
            return False
        return True

    async def plug(self, c: Container, gate: StartGate) -> None:
        """While C's process is set up (and waits at GATE): its network's interfaces; then
        the gate opens. The caller closes the gate once the start has returned; closed
        unopened (this failed), the process ends there and the start fails."""
        if self.network is not None:
            await self.network.plug(c)
        gate.open()

    def _shim_request(self, c: Container) -> ShimRequest:
        return ShimRequest(
            id=c.id,
            bundle=str(self.bundle(c.id)),
            log_path=hostopts.log_file(c, self.containers_dir / c.id) or None,
            tty=c.config.tty,
            open_stdin=c.config.open_stdin,
            stdin_once=c.config.stdin_once,
        )

    async def _end_spawned(self, spawn: asyncio.Future[int] | None, bundle: Path) -> None:
        """A start that failed after the shim was asked for: the shim, once it is up, ends
        (it never started a process). A spawn that failed itself has nothing to end."""
        if spawn is None:
            return
        try:
            await asyncio.shield(spawn)
        except BaseException:  # noqa: BLE001 - the spawn's own failure: no shim
            return
        with contextlib.suppress(Exception):
            await self.runtime.shim(bundle).shutdown()

    # ---- release ---------------------------------------------------------
    async def release(
        self, c: Container, *, network: bool = True, bundle: bool = True, cgroup: bool = True
    ) -> None:
        """Give back what the run of C holds. NETWORK=False: the network's own
        reconciliation takes the netns (at berthd's start). BUNDLE=False: the bundle, with
        the shim's exit.json, stays until the store has recorded the exit (and the record
        with it, naming the bundle only). CGROUP=False: the shim, which made it, removes it
        as it ends (a failed start)."""
        rec = self.record(c.id)
        holds = set(rec.holds) if rec is not None else {NETWORK, ROOTFS, SHM, VOLUMES, BUNDLE}
        if network and NETWORK in holds and self.network is not None:
            await self.network.detach(c)
        if ROOTFS in holds:
            self.runtime.unmount(str(self.overlay_dir / c.id / "merged"))
        if SHM in holds:
            self.release_shm(c.id)
        if VOLUMES in holds and self.volumes is not None:
            cmounts.release(cmounts.load(c.mount_points), self.volumes, c.id)
        if cgroup and CGROUP in holds and rec is not None and rec.cgroup:
            # normally gone with the shim; busy means a process is left, which the caller
            # was to kill first: logged, and tried again with the next release
            try:
                self.runtime.remove_cgroup(rec.cgroup, timeout=0.5)
            except OSError as exc:
                log.warning("container %s: its cgroup stays: %s", c.id, exc)
        if not bundle:
            if rec is not None:
                self._write(c.id, RunRecord(rec.phase, [BUNDLE], rec.cgroup))
            return
        shutil.rmtree(self.bundle(c.id), ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            self._record_path(c.id).unlink()

    def _prepare_shm(self, c: Container) -> None:
        """Mount the tmpfs a shareable IPC container (and its joiners) use as /dev/shm."""
        if c.host_config.ipc_mode != "shareable":
            return
        target = hostopts.shm_dir(self.containers_dir / c.id)
        target.mkdir(parents=True, exist_ok=True)
        if not os.path.ismount(target):
            self.runtime.mount_shm(str(target), c.host_config.shm_size or 64 * 1024 * 1024)

    def release_shm(self, cid: str) -> None:
        """Undo _prepare_shm (no error if nothing is mounted)."""
        target = hostopts.shm_dir(self.containers_dir / cid)
        if target.exists():
            self.runtime.unmount(str(target))

    def holds_anything(self, cid: str) -> bool:
        """Whether a run of CID may hold something (a record, or a bundle from a berthd
        that wrote no record): one or two stats, for the many stopped containers."""
        return self._record_path(cid).exists() or self.bundle(cid).exists()
