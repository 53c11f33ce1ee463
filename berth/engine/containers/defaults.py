"""The daemon's defaults for new containers, from daemon.json (log-driver, log-opts,
default-ulimits, default-shm-size, default-ipc-mode, default-cgroupns-mode, dns,
dns-search, dns-opts, resolv-conf): what dockerd fills in where a create request leaves a
field empty.

The engine sets them once at start (`configure`); create's rules (`create.build`) and
the resolv.conf writer (`files.host_resolv_conf`) read them through `current()`. They are
module state because those rules are pure functions called without the service: one
berthd process has one daemon configuration."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from berth.engine.containers.model import HostConfig

SHM_SIZE = 64 * 1024 * 1024  # dockerd's DefaultShmSize
RESOLV_CONF = "/etc/resolv.conf"


@dataclass(frozen=True)
class ContainerDefaults:
    log_driver: str = "json-file"
    log_opts: dict[str, str] = field(default_factory=dict)
    # {"Name", "Soft", "Hard"} each, as HostConfig.Ulimits holds them
    ulimits: tuple[dict[str, Any], ...] = ()
    shm_size: int = SHM_SIZE
    ipc_mode: str = ""  # "": the builtin default (private)
    cgroupns_mode: str = ""  # "": private on cgroup v2, host on v1
    dns: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    dns_opts: tuple[str, ...] = ()
    # the host's resolv.conf that a container's is made from
    resolv_conf: str = RESOLV_CONF

    def apply(self, hc: HostConfig) -> None:
        """Fill HC's empty fields, as dockerd's create does (mergeAndVerifyLogConfig,
        adaptContainerSettings, mergeUlimits). DNS is not written into HC: dockerd keeps
        HostConfig.Dns as given and applies its own when it writes resolv.conf."""
        lc = hc.log_config
        if not lc.type:
            lc.type = self.log_driver
        if lc.type == self.log_driver:
            # the daemon's options count for its own driver only (another driver's keys
            # would be refused by that driver's validator)
            lc.config = {**self.log_opts, **(lc.config or {})}
        if self.ulimits:
            given = {str(u.get("Name")) for u in hc.ulimits or [] if isinstance(u, dict)}
            extra = [dict(u) for u in self.ulimits if u["Name"] not in given]
            if extra:
                hc.ulimits = [*(hc.ulimits or []), *extra]
        if not hc.shm_size:
            hc.shm_size = self.shm_size
        if not hc.ipc_mode and self.ipc_mode:
            hc.ipc_mode = self.ipc_mode
        if not hc.cgroupns_mode and self.cgroupns_mode:
            hc.cgroupns_mode = self.cgroupns_mode


_current = ContainerDefaults()


def configure(d: ContainerDefaults) -> None:
    global _current
    _current = d


def current() -> ContainerDefaults:
    return _current
