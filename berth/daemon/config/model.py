"""The daemon's options as one object, and the error that stops berthd at start."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from berth.constants import DEFAULT_DATA_ROOT, DEFAULT_EXEC_ROOT, DEFAULT_GROUP, DEFAULT_PIDFILE

DEFAULT_CONFIG_FILE = "/etc/berth/daemon.json"
LEVELS = ("debug", "info", "warn", "error", "fatal")


class ConfigError(Exception):
    pass


@dataclass
class DaemonConfig:
    hosts: list[str] = field(default_factory=list)
    group: str = DEFAULT_GROUP
    data_root: str = DEFAULT_DATA_ROOT
    exec_root: str = DEFAULT_EXEC_ROOT
    pidfile: str = DEFAULT_PIDFILE
    debug: bool = False
    log_level: str = "info"
    labels: list[str] = field(default_factory=list)
    cgroup_parent: str = "berth"
    bridge: str = "berth0"
    tls: bool = False
    tlsverify: bool = False
    tlscacert: str = ""
    tlscert: str = ""
    tlskey: str = ""
    insecure_registries: list[str] = field(default_factory=list)
    registry_mirrors: list[str] = field(default_factory=list)
    max_concurrent_downloads: int = 3
    max_concurrent_uploads: int = 5
    # "" or "builtin" (berth's default profile), "unconfined", or a profile file's path
    seccomp_profile: str = ""
    # seconds the containers get to stop when berthd stops (dockerd's --shutdown-timeout;
    # a container's own longer stop timeout wins); -1: wait for them however long
    shutdown_timeout: int = 15
    # containers keep running while berthd is stopped or dead (dockerd's --live-restore)
    live_restore: bool = False
    # shims' pages marked for KSM (berth/runtime/memmerge.py): berth-only, off by default
    shim_memory_merge: bool = False
    # host (as in hosts) -> "full" | "read-only" | a policy file's path (see policies());
    # "--policy HOST=POLICY" flags arrive as a list and are turned into this mapping
    policies: dict[str, str] = field(default_factory=dict)
    # the daemon's own log: "text" or "json" (dockerd's --log-format)
    log_format: str = "text"
    # defaults for new containers (berth.engine.containers.defaults)
    log_driver: str = "json-file"
    log_opts: dict[str, str] = field(default_factory=dict)
    dns: list[str] = field(default_factory=list)
    dns_search: list[str] = field(default_factory=list)
    dns_opts: list[str] = field(default_factory=list)
    # daemon.json's form: {"nofile": {"Name": "nofile", "Soft": 1024, "Hard": 2048}}
    default_ulimits: dict[str, Any] = field(default_factory=dict)
    default_shm_size: str = ""
    default_ipc_mode: str = ""
    default_cgroupns_mode: str = ""
    resolv_conf: str = ""
    exec_opts: list[str] = field(default_factory=list)
    features: dict[str, bool] = field(default_factory=dict)
    # host:port of the Prometheus endpoint (GET /metrics); "" serves none
    metrics_addr: str = ""
    # the bridge driver's keys (daemon.json name -> value), for the network service
    network_options: dict[str, Any] = field(default_factory=dict)
    # warnings for the log at start: keys berth accepts but does not implement
    unsupported: list[str] = field(default_factory=list)
