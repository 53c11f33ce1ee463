"""The engine facade: what the API layer talks to."""

from __future__ import annotations

import asyncio
import os
import platform
import socket
import time
from dataclasses import dataclass, field
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
    # daemon.json's bridge keys (bip, icc, mtu, ...), as given: the network service's
    network_options: dict[str, Any] = field(default_factory=dict)
    # berth.engine.containers.defaults.ContainerDefaults; None: dockerd's builtin ones
    container_defaults: Any = None


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
        # read by the network service (its constructor takes no options)
        self.network.options = cfg.network_options
        from berth.engine.containers import defaults

        self.container_defaults = cfg.container_defaults or defaults.ContainerDefaults()
        defaults.configure(self.container_defaults)
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
        self._dtype: bool | None = None
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

    def _driver_status(self) -> list[list[str]]:
        """overlay2's DriverStatus as dockerd reports it, from the data root's own
        filesystem and the overlay module's settings (d_type is probed once)."""
        if self._dtype is None:
            self._dtype = _supports_dtype(self.cfg.data_root / "overlay")
        metacopy = _read_proc("/sys/module/overlay/parameters/metacopy") == "Y"
        redirect = _read_proc("/sys/module/overlay/parameters/redirect_dir") == "Y"
        return [
            ["Backing Filesystem", _fs_name(self.cfg.data_root / "overlay")],
            ["Supports d_type", _bool(self._dtype)],
            ["Using metacopy", _bool(metacopy)],
            # berth's diff reads the upper dir, which metacopy or redirect_dir would make
            # incomplete: dockerd's "naive diff" condition
            ["Native Overlay Diff", _bool(not (metacopy or redirect))],
            ["userxattr", "false"],
        ]

    def _security_options(self, v2: bool) -> list[str]:
        """dockerd's fillSecurityOptions for what berth applies: seccomp, and cgroupns
        when new containers get a private cgroup namespace by default."""
        out = security.info_options(self.cfg.seccomp_profile)
        mode = self.container_defaults.cgroupns_mode or ("private" if v2 else "host")
        if os.path.exists("/proc/self/ns/cgroup") and mode == "private":
            out.append("name=cgroupns")
        return out

    def info(self) -> dict[str, Any]:
        from berth.runtime import cgroups

        cs = self.containers.all()
        running = sum(1 for c in cs if c.state.status == "running")
        paused = sum(1 for c in cs if c.state.status == "paused")
        from berth.runtime import spec as rt_spec

        v2 = cgroups.is_v2() if hasattr(cgroups, "is_v2") else False
        swap = _swap_limit(v2)
        forwarding = _read_proc("/proc/sys/net/ipv4/ip_forward") == "1"
        return {
            "ID": self._id,
            "Containers": len(cs),
            "ContainersRunning": running,
            "ContainersPaused": paused,
            "ContainersStopped": len(cs) - running - paused,
            "Images": len(self.images.list()),
            "Driver": "overlay2",
            "DriverStatus": self._driver_status(),
            "Plugins": {
                "Volume": ["local"],
                "Network": ["bridge", "host", "null"],
                "Authorization": None,
                "Log": ["json-file", "local", "none"],
            },
            "MemoryLimit": True,
            "SwapLimit": swap,
            "CpuCfsPeriod": True,
            "CpuCfsQuota": True,
            "CPUShares": True,
            "CPUSet": True,
            "PidsLimit": True,
            "IPv4Forwarding": forwarding,
            "Debug": self.cfg.debug,
            "NFd": len(os.listdir("/proc/self/fd")),
            "NGoroutines": 0,
            "SystemTime": time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime()),
            "LoggingDriver": self.container_defaults.log_driver,
            "CgroupDriver": "cgroupfs",
            "CgroupVersion": "2" if v2 else "1",
            "NEventsListener": self.events.listeners,
            "KernelVersion": os.uname().release,
            "OperatingSystem": _os_name(),
            "OSVersion": _os_release("VERSION_ID"),
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
            "InitBinary": rt_spec.find_init() or "",
            "SecurityOptions": self._security_options(v2),
            "Warnings": listener_warnings(self.cfg.listeners)
            + self._runtime_warnings()
            + _host_warnings(swap, forwarding, self.cfg.seccomp_profile),
            # berth's own: each listener and its access policy (berth.api.policy)
            "BerthListeners": [
                {"Host": ln.host, "TLS": ln.tls, "Policy": ln.policy} for ln in self.cfg.listeners
            ],
        }


def _arch() -> str:
    m = os.uname().machine
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(m, m)


def _os_name() -> str:
    return _os_release("PRETTY_NAME") or "Linux"


def _os_release(key: str) -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith(key + "="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return ""


def _bool(v: bool) -> str:
    return "true" if v else "false"


def _read_proc(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def _swap_limit(v2: bool) -> bool:
    """dockerd's sysinfo: memory.swap.max in berthd's own cgroup (v2), the memory
    hierarchy's memory.memsw.limit_in_bytes (v1)."""
    if not v2:
        return os.path.exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")
    for line in _read_proc("/proc/self/cgroup").splitlines():
        if line.startswith("0::"):
            group = line[3:]
            return bool(group) and os.path.exists(f"/sys/fs/cgroup{group}/memory.swap.max")
    return False


def _host_warnings(swap: bool, forwarding: bool, seccomp_profile: str) -> list[str]:
    """dockerd's (20.10-26) warnings about the host, in its words."""
    out = []
    if not swap:
        out.append("WARNING: No swap limit support")
    if not forwarding:
        out.append("WARNING: IPv4 forwarding is disabled")
    if seccomp_profile:
        out.append("WARNING: daemon is not using the default seccomp profile")
    # unset (br_netfilter not loaded) counts as disabled, as in dockerd
    if _read_proc("/proc/sys/net/bridge/bridge-nf-call-iptables") != "1":
        out.append("WARNING: bridge-nf-call-iptables is disabled")
    if _read_proc("/proc/sys/net/bridge/bridge-nf-call-ip6tables") != "1":
        out.append("WARNING: bridge-nf-call-ip6tables is disabled")
    return out


# moby's pkg/fsutils and graphdriver FsNames: statfs f_type -> the name docker info shows
_FS_MAGIC = {
    0xEF53: "extfs", 0x58465342: "xfs", 0x9123683E: "btrfs", 0x794C7630: "overlayfs",
    0x01021994: "tmpfs", 0x2FC12FC1: "zfs", 0x6969: "nfs", 0x65735546: "fuse",
    0x61756673: "aufs", 0xF2F52010: "f2fs", 0x858458F6: "ramfs", 0x52654973: "reiserfs",
    0x517B: "smb", 0x73717368: "squashfs", 0x47504653: "gpfs", 0x3153464A: "jfs",
    0xA501FCF5: "vxfs", 0x28CD3D45: "cramfs", 0xF15F: "ecryptfs", 0x72B6: "jffs2",
}  # fmt: skip


def _fs_name(path: Path) -> str:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(256)  # struct statfs; f_type (a long) comes first
    if libc.statfs(os.fsencode(path), buf) != 0:
        return "<unknown>"
    magic = ctypes.c_long.from_buffer(buf).value & 0xFFFFFFFF
    return _FS_MAGIC.get(magic, "<unknown>")


_SYS_GETDENTS64 = {"x86_64": 217, "aarch64": 61}


def _supports_dtype(path: Path) -> bool:
    """moby's fsutils.SupportsDType: entries read back with getdents64 carry a d_type
    (xfs made with ftype=0 gives DT_UNKNOWN, which overlay cannot work on)."""
    import ctypes
    import tempfile

    nr = _SYS_GETDENTS64.get(os.uname().machine)
    if nr is None:
        return True  # no way to ask here; every filesystem berth runs on has it
    libc = ctypes.CDLL(None, use_errno=True)
    with tempfile.TemporaryDirectory(dir=path, prefix="dtype-") as tmp:
        os.mkdir(os.path.join(tmp, "d"))
        fd = os.open(tmp, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            buf = ctypes.create_string_buffer(4096)
            n = libc.syscall(nr, fd, buf, len(buf))
        finally:
            os.close(fd)
        raw, pos = buf.raw[: max(n, 0)], 0
        while pos + 19 < len(raw):  # linux_dirent64: ino 8, off 8, reclen 2, type 1, name
            reclen = int.from_bytes(raw[pos + 16 : pos + 18], "little")
            name = raw[pos + 19 : pos + reclen].split(b"\0", 1)[0]
            if name == b"d":
                return raw[pos + 18] != 0
            if reclen == 0:
                break
            pos += reclen
    return False
