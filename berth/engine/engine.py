"""The engine facade: what the API layer talks to."""

from __future__ import annotations

import asyncio
import functools
import os
import time
from pathlib import Path
from typing import Any

from berth.engine import system
from berth.engine.config import EngineConfig, Listener, listener_warnings
from berth.engine.containers import defaults, mounts
from berth.engine.containers.service import ContainerService
from berth.engine.containers.store import ContainerStore
from berth.engine.db import Database
from berth.engine.events import EventBus
from berth.engine.images.service import ImageService
from berth.engine.network.service import NetworkService
from berth.engine.system import SystemInfo
from berth.engine.volumes.service import VolumeService
from berth.runtime.adapter import RuntimeAdapter, ShimSpawner

__all__ = ["Engine", "EngineConfig", "Listener", "listener_warnings", "prepare_roots"]


# dockerd's modes (/var/lib/docker 0710 and overlay2 0710: nobody else may traverse into
# a container's root filesystem; volumes 0701; image 0700). containers/ holds every
# container's config, logs and hosts files: root's alone. A container never needs to
# traverse these on the host: it sees its rootfs, volumes and files through the mounts
# in its own mount namespace.
_DATA_MODES = {".": 0o710, "containers": 0o700, "overlay": 0o710, "volumes": 0o701, "image": 0o700}
_CONTAINER_DIR_MODE = 0o700
# bundles (config.json with the Env), shim sockets, leases: root's alone
_EXEC_ROOT_MODE = 0o700


def _dir(path: Path, mode: int) -> None:
    path.mkdir(mode=mode, parents=True, exist_ok=True)
    os.chmod(path, mode)  # the umask may have taken bits, an older berth made it 0755


def prepare_roots(data_root: Path, exec_root: Path) -> None:
    """Make the data and exec roots with their modes, and give what an older berth made
    (data root 0755, container dirs 0755) the same modes, on every start."""
    for sub, mode in _DATA_MODES.items():
        _dir(data_root / sub, mode)
    with os.scandir(data_root / "containers") as it:
        for e in it:
            if e.is_dir(follow_symlinks=False):
                os.chmod(e.path, _CONTAINER_DIR_MODE)
    _dir(exec_root, _EXEC_ROOT_MODE)


def _image_users(store: ContainerStore, image_id: str, running: bool = False) -> list[str]:
    return [
        c.id for c in store.all() if c.image_id == image_id and (c.state.running or not running)
    ]


class Engine:
    """The services of one berthd, each made with all it needs, in the order they need
    each other: the container records first (the volumes, images and networks ask them
    who uses what), the containers last (they use all the others)."""

    def __init__(self, cfg: EngineConfig, zygote: ShimSpawner) -> None:
        self.cfg = cfg
        prepare_roots(cfg.data_root, cfg.exec_root)
        self.db = Database(cfg.data_root / "berth.db")
        # one event stream for the whole daemon (GET /events)
        self.events = EventBus()
        store = ContainerStore(self.db)
        runtime = RuntimeAdapter(zygote)
        # an image's users, a volume's users: the containers whose records name it
        self.images = ImageService(
            self.db,
            cfg.data_root / "image",
            cfg.registry,
            events=self.events,
            usage=functools.partial(_image_users, store),
            running=functools.partial(_image_users, store, running=True),
        )
        self.volumes = VolumeService(
            self.db,
            cfg.data_root / "volumes",
            events=self.events,
            users=lambda name: mounts.users_of(store.all(), name),
        )
        self.network = NetworkService(
            self.db,
            cfg.bridge,
            containers=store,
            events=self.events,
            options=cfg.network_options,
        )
        self.container_defaults = cfg.container_defaults or defaults.ContainerDefaults()
        defaults.configure(self.container_defaults)
        self.containers = ContainerService(
            store,
            self.images,
            runtime,
            cfg.data_root,
            cfg.exec_root,
            cgroup_parent=cfg.cgroup_parent,
            network=self.network,
            volumes=self.volumes,
            events=self.events,
            seccomp_profile=cfg.seccomp_profile,
        )
        self.execs = self.containers.execs
        self._builds: Any = None
        self.started = time.time()
        self._id = self._engine_id()
        self.system = SystemInfo(
            cfg,
            self._id,
            self.containers,
            self.images,
            self.events,
            self.container_defaults,
            runtime_down=runtime.down,
        )

    def _engine_id(self) -> str:
        p = self.cfg.data_root / "engine-id"
        try:
            return p.read_text().strip()
        except OSError:
            import uuid

            eid = str(uuid.uuid4())
            p.write_text(eid + "\n")
            return eid

    @property
    def builds(self) -> Any:
        """The build service, made at the first build: berthd's start does not pay for
        the builder's imports."""
        if self._builds is None:
            from berth.engine.build.builder import BuildService

            self._builds = BuildService(
                self.images, self.containers, self.db, self.cfg.data_root / "build"
            )
        return self._builds

    async def start(self) -> None:
        # a build berthd died in left its work directory, maybe with a root mounted
        work = self.cfg.data_root / "build"
        if work.is_dir() and any(work.iterdir()):
            await asyncio.to_thread(self.builds.recover)
        await self.network.start()
        self.network.restore_leases()
        await self.containers.reconcile()
        await self.network.reconcile(orphans=self.containers.orphans)

    async def shutdown(self) -> None:
        keep = self.cfg.live_restore
        await self.containers.shutdown(keep_running=keep)
        await self.network.shutdown(keep_rules=keep)
        self.db.close()

    def shutdown_timeout(self, configured: int) -> int:
        """How long a shutdown may take before berthd gives up on it, as dockerd reckons
        it: the configured seconds, or a running container's own stop timeout plus 5 s of
        grace when that is longer; -1 (no bound) when either says so."""
        if configured < 0:
            return -1
        bound = configured
        for c in self.containers.all():
            if not c.state.running:
                continue
            own = c.config.stop_timeout
            own = 10 if own is None else own
            if own < 0:
                return -1
            bound = max(bound, own + 5)
        return bound

    async def force_shutdown(self) -> None:
        """What is left after a shutdown that ran out of time: SIGKILL for every container
        still running, then the store closed (its rows are what the next start reconciles)."""
        await self.containers.kill_all()
        self.db.close()

    def reload(
        self, *, debug: bool, labels: tuple[str, ...], registry: Any, live_restore: bool
    ) -> None:
        """berthd's SIGHUP: the options that apply without a restart."""
        self.cfg.debug = debug
        self.cfg.live_restore = live_restore
        self.cfg.labels = labels
        self.images.reconfigure(registry)

    def version(self) -> dict[str, Any]:
        return system.version()

    def info(self) -> dict[str, Any]:
        return self.system.info()
