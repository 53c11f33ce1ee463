"""A container, modelled once: its config, host config and state."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from berth.engine import wire


@dataclass
class ContainerConfig:
    """Docker's container `Config` (what the container runs)."""

    hostname: str = ""
    domainname: str = ""
    user: str = ""
    attach_stdin: bool = False
    attach_stdout: bool = False
    attach_stderr: bool = False
    exposed_ports: dict[str, Any] | None = None
    tty: bool = False
    open_stdin: bool = False
    stdin_once: bool = False
    env: list[str] | None = None
    # Docker's strslice: a plain string is a one-element list
    cmd: list[str] | None = field(default=None, metadata={"strslice": True})
    healthcheck: dict[str, Any] | None = None
    args_escaped: bool | None = None
    image: str = ""
    volumes: dict[str, Any] | None = None
    working_dir: str = ""
    entrypoint: list[str] | None = field(default=None, metadata={"strslice": True})
    network_disabled: bool | None = None
    mac_address: str | None = None
    on_build: list[str] | None = None
    labels: dict[str, str] = field(default_factory=dict)
    stop_signal: str | None = None
    stop_timeout: int | None = None
    shell: list[str] | None = field(default=None, metadata={"strslice": True})


@dataclass
class RestartPolicy:
    name: str = "no"
    maximum_retry_count: int = 0


@dataclass
class LogConfig:
    type: str = "json-file"
    config: dict[str, str] = field(default_factory=dict)


@dataclass
class HostConfig:
    """Docker's `HostConfig` (how the host runs it)."""

    binds: list[str] | None = None
    container_id_file: str = field(default="", metadata={"wire": "ContainerIDFile"})
    log_config: LogConfig = field(default_factory=LogConfig)
    network_mode: str = "default"
    port_bindings: dict[str, Any] | None = None
    restart_policy: RestartPolicy = field(default_factory=RestartPolicy)
    auto_remove: bool = False
    volume_driver: str = ""
    volumes_from: list[str] | None = None
    cap_add: list[str] | None = None
    cap_drop: list[str] | None = None
    cgroupns_mode: str = ""  # "" until create fills the daemon default
    dns: list[str] | None = None
    dns_options: list[str] | None = None
    dns_search: list[str] | None = None
    extra_hosts: list[str] | None = None
    group_add: list[str] | None = None
    ipc_mode: str = ""
    cgroup: str = ""
    links: list[str] | None = None
    oom_score_adj: int = 0
    pid_mode: str = ""
    privileged: bool = False
    publish_all_ports: bool = False
    readonly_rootfs: bool = False
    security_opt: list[str] | None = None
    uts_mode: str = field(default="", metadata={"wire": "UTSMode"})
    userns_mode: str = ""
    shm_size: int = 64 * 1024 * 1024
    runtime: str = "runc"
    isolation: str = ""
    cpu_shares: int = 0
    memory: int = 0
    nano_cpus: int = 0
    cgroup_parent: str = ""
    cpu_period: int = 0
    cpu_quota: int = 0
    cpuset_cpus: str = ""
    cpuset_mems: str = ""
    devices: list[dict[str, Any]] | None = None
    memory_reservation: int = 0
    memory_swap: int = 0
    memory_swappiness: int | None = None
    oom_kill_disable: bool | None = None
    pids_limit: int | None = None
    ulimits: list[dict[str, Any]] | None = None
    init: bool | None = None
    sysctls: dict[str, str] | None = None
    tmpfs: dict[str, str] | None = None
    mounts: list[dict[str, Any]] | None = None
    masked_paths: list[str] | None = None
    readonly_paths: list[str] | None = None
    console_size: list[int] | None = None  # [height, width]


wire.nested("HostConfig", "log_config", LogConfig)
wire.nested("HostConfig", "restart_policy", RestartPolicy)


@dataclass
class State:
    status: str = "created"  # created running paused restarting removing exited dead
    pid: int = 0
    exit_code: int = 0
    error: str = ""
    oom_killed: bool = field(default=False, metadata={"wire": "OOMKilled"})
    started_at: str = "0001-01-01T00:00:00Z"
    finished_at: str = "0001-01-01T00:00:00Z"
    # dockerd's Health {Status, FailingStreak, Log} in wire form; None without a healthcheck
    health: dict[str, Any] | None = None

    @property
    def running(self) -> bool:
        return self.status in ("running", "paused", "restarting")


@dataclass
class Container:
    id: str
    name: str  # without the leading "/"
    created: str  # RFC3339Nano
    image_id: str
    path: str
    args: list[str]
    config: ContainerConfig
    host_config: HostConfig
    state: State = field(default_factory=State)
    restart_count: int = 0
    # stopped or killed by the user (not by its own exit or a daemon shutdown): decides
    # whether an unless-stopped container is started with the daemon
    manually_stopped: bool = False
    log_path: str = ""
    hostname_path: str = ""
    hosts_path: str = ""
    resolv_conf_path: str = ""
    rootfs: str = ""  # merged overlay dir while running
    # resolved at create (berth.engine.containers.mounts.MountPoint as dicts): inspect's
    # "Mounts", the volumes this container references, what start mounts
    mount_points: list[dict[str, Any]] = field(default_factory=list)
    # network name -> endpoint (inspect's NetworkSettings.Networks entry; the address
    # fields are set while running) and published ports while running ("80/tcp" -> [...])
    networks: dict[str, dict[str, Any]] = field(default_factory=dict)
    ports: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_storage(cls, d: dict[str, Any]) -> Container:
        hc = dict(d["host_config"])
        hc["log_config"] = LogConfig(**hc.get("log_config") or {})
        hc["restart_policy"] = RestartPolicy(**hc.get("restart_policy") or {})
        return cls(
            **{
                **d,
                "config": ContainerConfig(**d["config"]),
                "host_config": HostConfig(**hc),
                "state": State(**d["state"]),
            }
        )
