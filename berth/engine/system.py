"""GET /version and GET /info: what the daemon reports of itself and of the host, in
dockerd's shapes."""

from __future__ import annotations

import os
import platform
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from berth import __version__
from berth.constants import API_VERSION, MIN_API_VERSION
from berth.engine.config import EngineConfig, listener_warnings
from berth.engine.containers import security
from berth.engine.containers.defaults import ContainerDefaults
from berth.engine.containers.service import ContainerService
from berth.engine.events import EventBus
from berth.engine.images.service import ImageService


def version() -> dict[str, Any]:
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


# what berth supports, as docker info lists it; none of it depends on the host
_FIXED_INFO: dict[str, Any] = {
    "Driver": "overlay2",
    "Plugins": {
        "Volume": ["local"],
        "Network": ["bridge", "host", "null"],
        "Authorization": None,
        "Log": ["json-file", "local", "none"],
    },
    "MemoryLimit": True,
    "CpuCfsPeriod": True,
    "CpuCfsQuota": True,
    "CPUShares": True,
    "CPUSet": True,
    "PidsLimit": True,
    "NGoroutines": 0,
    "CgroupDriver": "cgroupfs",
    "OSType": "linux",
    "IndexServerAddress": "https://index.docker.io/v1/",
    "HttpProxy": "",
    "HttpsProxy": "",
    "NoProxy": "",
    "ExperimentalBuild": False,
    "ServerVersion": __version__,
    "Runtimes": {"berth": {"path": "berth-builtin"}},
    "DefaultRuntime": "berth",
    "Swarm": {"LocalNodeState": "inactive", "ControlAvailable": False},
    "Isolation": "",
}


class SystemInfo:
    """docker info's answer, read from the services and the host at each request."""

    def __init__(
        self,
        cfg: EngineConfig,
        engine_id: str,
        containers: ContainerService,
        images: ImageService,
        events: EventBus,
        defaults: ContainerDefaults,
        runtime_down: Callable[[], bool],
    ) -> None:
        self._cfg = cfg
        self._id = engine_id
        self._containers = containers
        self._images = images
        self._events = events
        self._defaults = defaults
        self._runtime_down = runtime_down
        self._dtype: bool | None = None

    def info(self) -> dict[str, Any]:
        from berth.runtime import cgroups, hostinfo

        v2 = cgroups.is_v2()
        swap = hostinfo.swap_limit(v2)
        forwarding = hostinfo.read_proc("/proc/sys/net/ipv4/ip_forward") == "1"
        return {
            "ID": self._id,
            **self._counts(),
            **_FIXED_INFO,
            "DriverStatus": self._driver_status(),
            "SwapLimit": swap,
            "IPv4Forwarding": forwarding,
            "Debug": self._cfg.debug,
            "NFd": len(os.listdir("/proc/self/fd")),
            "SystemTime": time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime()),
            "LoggingDriver": self._defaults.log_driver,
            "CgroupVersion": "2" if v2 else "1",
            "NEventsListener": self._events.listeners,
            **self._host(),
            "RegistryConfig": self._images.registry_options.info(),
            "DockerRootDir": str(self._cfg.data_root),
            "Labels": list(self._cfg.labels),
            "LiveRestoreEnabled": self._cfg.live_restore,
            "InitBinary": _init_binary(),
            "SecurityOptions": self._security_options(v2),
            "Warnings": listener_warnings(self._cfg.listeners)
            + self._runtime_warnings()
            + _host_warnings(swap, forwarding, self._cfg.seccomp_profile),
            # berth's own: each listener and its access policy (berth.api.policy)
            "BerthListeners": [
                {"Host": ln.host, "TLS": ln.tls, "Policy": ln.policy} for ln in self._cfg.listeners
            ],
        }

    def _counts(self) -> dict[str, int]:
        cs = self._containers.all()
        running = sum(1 for c in cs if c.state.status == "running")
        paused = sum(1 for c in cs if c.state.status == "paused")
        return {
            "Containers": len(cs),
            "ContainersRunning": running,
            "ContainersPaused": paused,
            "ContainersStopped": len(cs) - running - paused,
            "Images": len(self._images.list()),
        }

    @staticmethod
    def _host() -> dict[str, Any]:
        uname = os.uname()
        return {
            "KernelVersion": uname.release,
            "OperatingSystem": _os_release("PRETTY_NAME") or "Linux",
            "OSVersion": _os_release("VERSION_ID"),
            "Architecture": uname.machine,
            "NCPU": os.cpu_count() or 1,
            "MemTotal": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
            "Name": socket.gethostname(),
        }

    def _driver_status(self) -> list[list[str]]:
        """overlay2's DriverStatus as dockerd reports it, from the data root's own
        filesystem and the overlay module's settings (d_type is probed once)."""
        from berth.runtime import hostinfo

        overlay = self._cfg.data_root / "overlay"
        if self._dtype is None:
            self._dtype = hostinfo.supports_dtype(overlay)
        metacopy = hostinfo.read_proc("/sys/module/overlay/parameters/metacopy") == "Y"
        redirect = hostinfo.read_proc("/sys/module/overlay/parameters/redirect_dir") == "Y"
        return [
            ["Backing Filesystem", hostinfo.fs_name(overlay)],
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
        out = security.info_options(self._cfg.seccomp_profile)
        mode = self._defaults.cgroupns_mode or ("private" if v2 else "host")
        if os.path.exists("/proc/self/ns/cgroup") and mode == "private":
            out.append("name=cgroupns")
        return out

    def _runtime_warnings(self) -> list[str]:
        if self._runtime_down():
            return ["WARNING: the shim zygote is down: containers cannot start until it is back"]
        return []


def _init_binary() -> str:
    from berth.runtime import spec as rt_spec

    return rt_spec.find_init() or ""


def _arch() -> str:
    m = os.uname().machine
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(m, m)


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


def _host_warnings(swap: bool, forwarding: bool, seccomp_profile: str) -> list[str]:
    """dockerd's (20.10-26) warnings about the host, in its words."""
    from berth.runtime import hostinfo

    out = []
    if not swap:
        out.append("WARNING: No swap limit support")
    if not forwarding:
        out.append("WARNING: IPv4 forwarding is disabled")
    if seccomp_profile:
        out.append("WARNING: daemon is not using the default seccomp profile")
    # unset (br_netfilter not loaded) counts as disabled, as in dockerd
    if hostinfo.read_proc("/proc/sys/net/bridge/bridge-nf-call-iptables") != "1":
        out.append("WARNING: bridge-nf-call-iptables is disabled")
    if hostinfo.read_proc("/proc/sys/net/bridge/bridge-nf-call-ip6tables") != "1":
        out.append("WARNING: bridge-nf-call-ip6tables is disabled")
    return out
