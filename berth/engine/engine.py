"""The engine facade: what the API layer talks to."""

from __future__ import annotations

import asyncio
import os
import platform
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from berth import __version__
from berth.constants import API_VERSION, MIN_API_VERSION
from berth.engine.containers import security
from berth.engine.containers.service import ContainerService
from berth.engine.containers.store import ContainerStore
from berth.engine.db import Database
from berth.engine.events import EventBus


@dataclass(frozen=True)
class Listener:
    """One socket berthd serves the API on, as `docker info` reports it."""

    host: str  # as given to -H: unix:///path, tcp://addr:port, fd://
    tls: bool = False
    policy: str = "full"  # "full", "read-only" or a policy file's path
    tlsverify: bool = False


_ATTACK_SURFACE = """
         Access to the remote API is equivalent to root access on the host. Refer
         to the 'Docker daemon attack surface' section in the documentation for
         more information: https://docs.docker.com/go/attack-surface/"""


def listener_warnings(listeners: tuple[Listener, ...]) -> list[str]:
    """dockerd's (20.10+) fillAPIInfo warnings: one per TCP listener without TLS, or with
    TLS but without client verification."""
    out = []
    for ln in listeners:
        proto, _, addr = ln.host.partition("://")
        if proto != "tcp":
            continue
        if not ln.tls:
            out.append(
                f"WARNING: API is accessible on http://{addr} without encryption.{_ATTACK_SURFACE}"
            )
        elif not ln.tlsverify:
            out.append(
                f"WARNING: API is accessible on https://{addr} without TLS client "
                f"verification.{_ATTACK_SURFACE}"
            )
    return out


@dataclass
class EngineConfig:
    data_root: Path
    exec_root: Path
    debug: bool = False
    labels: tuple[str, ...] = ()
    cgroup_parent: str = "berth"
    # berth.engine.images.registry.config.RegistryOptions; None means dockerd's defaults
    registry: Any = None
    # the default bridge network's Linux bridge (dockerd's --bridge)
    bridge: str = "berth0"
    # berthd's --seccomp-profile: "" (builtin), "unconfined" or a profile's JSON text
    seccomp_profile: str = ""
    # what berthd listens on, with each listener's access policy (docker info)
    listeners: tuple[Listener, ...] = ()
    # dockerd's --live-restore: a stop of berthd leaves the containers running
    live_restore: bool = False


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


class Engine:
    def __init__(self, cfg: EngineConfig, zygote: Any) -> None:
        from berth.engine.images.service import ImageService

        self.cfg = cfg
        prepare_roots(cfg.data_root, cfg.exec_root)
        self.db = Database(cfg.data_root / "berth.db")
        self.images = ImageService(self.db, cfg.data_root / "image", cfg.registry)
        self.containers = ContainerService(
            ContainerStore(self.db),
            self.images,
            zygote,
            cfg.data_root,
            cfg.exec_root,
            cfg.cgroup_parent,
        )
        self.images.set_usage_check(
            self.containers.using_image, running=self.containers.running_with_image
        )
        from berth.engine.containers.exec import ExecService

        self.execs = ExecService(self.containers)
        from berth.engine.containers import mounts
        from berth.engine.volumes.service import VolumeService

        self.volumes = VolumeService(self.db, cfg.data_root / "volumes")
        self.volumes.set_usage_check(lambda name: mounts.users_of(self.containers.all(), name))
        self.containers.volumes = self.volumes
        from berth.engine.network.service import NetworkService

        self.network = NetworkService(self.db, cfg.bridge)
        self.network.containers = self.containers
        self.containers.network = self.network
        self.containers.seccomp_profile = cfg.seccomp_profile
        # one event stream for the whole daemon (GET /events)
        self.events = EventBus()
        self.containers.events = self.events
        self.images.events = self.events
        self.volumes.events = self.events
        # health probes run through the exec machinery
        self.containers.health.execs = self.execs
        self._builds: Any = None
        self.started = time.time()
        self._id = self._engine_id()

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
        await self.network.reconcile()

    async def shutdown(self) -> None:
        keep = self.cfg.live_restore
        await self.containers.shutdown(keep_running=keep)
        await self.network.shutdown(keep_rules=keep)
        self.db.close()

    def _runtime_warnings(self) -> list[str]:
        if getattr(self.containers.zygote, "down", False):
            return ["WARNING: the shim zygote is down: containers cannot start until it is back"]
        return []

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
        uname = os.uname()
        details = {
            "ApiVersion": API_VERSION,
            "Arch": _arch(),
            "BuildTime": "",
            "Experimental": "false",
            "GitCommit": "",
            "GoVersion": "python" + platform.python_version(),
            "KernelVersion": uname.release,
            "MinAPIVersion": MIN_API_VERSION,
            "Os": "linux",
        }
        return {
            "Platform": {"Name": "berth"},
            "Components": [{"Name": "Engine", "Version": __version__, "Details": details}],
            "Version": __version__,
            "ApiVersion": API_VERSION,
            "MinAPIVersion": MIN_API_VERSION,
            "GitCommit": "",
            "GoVersion": details["GoVersion"],
            "Os": "linux",
            "Arch": details["Arch"],
            "KernelVersion": uname.release,
            "BuildTime": "",
        }

    def info(self) -> dict[str, Any]:
        from berth.runtime import cgroups

        cs = self.containers.all()
        running = sum(1 for c in cs if c.state.status == "running")
        paused = sum(1 for c in cs if c.state.status == "paused")
        v2 = cgroups.is_v2() if hasattr(cgroups, "is_v2") else False
        return {
            "ID": self._id,
            "Containers": len(cs),
            "ContainersRunning": running,
            "ContainersPaused": paused,
            "ContainersStopped": len(cs) - running - paused,
            "Images": len(self.images.list()),
            "Driver": "overlay2",
            "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"]],
            "Plugins": {
                "Volume": ["local"],
                "Network": ["bridge", "host", "null"],
                "Authorization": None,
                "Log": ["json-file", "none"],
            },
            "MemoryLimit": True,
            "SwapLimit": False,
            "CpuCfsPeriod": True,
            "CpuCfsQuota": True,
            "CPUShares": True,
            "CPUSet": True,
            "PidsLimit": True,
            "IPv4Forwarding": True,
            "Debug": self.cfg.debug,
            "NFd": len(os.listdir("/proc/self/fd")),
            "NGoroutines": 0,
            "SystemTime": time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime()),
            "LoggingDriver": "json-file",
            "CgroupDriver": "cgroupfs",
            "CgroupVersion": "2" if v2 else "1",
            "NEventsListener": self.events.listeners,
            "KernelVersion": os.uname().release,
            "OperatingSystem": _os_name(),
            "OSVersion": "",
            "OSType": "linux",
            "Architecture": os.uname().machine,
            "IndexServerAddress": "https://index.docker.io/v1/",
            "RegistryConfig": self.images.registry_options.info(),
            "NCPU": os.cpu_count() or 1,
            "MemTotal": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
            "DockerRootDir": str(self.cfg.data_root),
            "HttpProxy": "",
            "HttpsProxy": "",
            "NoProxy": "",
            "Name": socket.gethostname(),
            "Labels": list(self.cfg.labels),
            "ExperimentalBuild": False,
            "ServerVersion": __version__,
            "Runtimes": {"berth": {"path": "berth-builtin"}},
            "DefaultRuntime": "berth",
            "Swarm": {"LocalNodeState": "inactive", "ControlAvailable": False},
            "LiveRestoreEnabled": self.cfg.live_restore,
            "Isolation": "",
            "InitBinary": "",
            "SecurityOptions": [*security.info_options(self.cfg.seccomp_profile), "name=cgroupns"],
            "Warnings": listener_warnings(self.cfg.listeners) + self._runtime_warnings(),
            # berth's own: each listener and its access policy (berth.api.policy)
            "BerthListeners": [
                {"Host": ln.host, "TLS": ln.tls, "Policy": ln.policy} for ln in self.cfg.listeners
            ],
        }


def _arch() -> str:
    m = os.uname().machine
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(m, m)


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return "Linux"
