"""A container, modelled once: its config, host config and state."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar

from berth.engine.wire import Duration, Go, GoInt, GoUint, GoUint16, GoUint64

# ---------------------------------------------------------------------------
# Go shapes of the parts berth keeps as JSON (checked by wire, never instantiated):
# dockerd's types, with their Go names for the decoder's messages.


@dataclass
class HealthConfig:
    GO: ClassVar[str] = "v1.HealthcheckConfig"
    test: list[str] | None = None
    interval: Duration = 0
    timeout: Duration = 0
    start_period: Duration = 0
    start_interval: Duration = 0
    retries: GoInt = 0


@dataclass
class PortBinding:
    GO: ClassVar[str] = "nat.PortBinding"
    host_ip: str = field(default="", metadata={"wire": "HostIp"})
    host_port: str = ""


PortMap = Annotated[dict[str, list[PortBinding]], Go("nat.PortMap")]


@dataclass
class EmptyStruct:
    """Go's struct{}: any object (its keys mean nothing); null is {}."""

    GO: ClassVar[str] = "struct {}"


PortSet = Annotated[dict[str, EmptyStruct], Go("nat.PortSet")]
VolumeSet = dict[str, EmptyStruct]


@dataclass
class DeviceMapping:
    GO: ClassVar[str] = "container.DeviceMapping"
    path_on_host: str = ""
    path_in_container: str = ""
    cgroup_permissions: str = ""


@dataclass
class DeviceRequest:
    GO: ClassVar[str] = "container.DeviceRequest"
    driver: str = ""
    count: GoInt = 0
    device_i_ds: list[str] | None = field(default=None, metadata={"wire": "DeviceIDs"})
    capabilities: list[list[str]] | None = None
    options: dict[str, str] | None = None


@dataclass
class Ulimit:
    GO: ClassVar[str] = "units.Ulimit"
    name: str = ""
    hard: int = 0
    soft: int = 0


@dataclass
class WeightDevice:
    GO: ClassVar[str] = "blkiodev.WeightDevice"
    path: str = ""
    weight: GoUint16 = 0


@dataclass
class ThrottleDevice:
    GO: ClassVar[str] = "blkiodev.ThrottleDevice"
    path: str = ""
    rate: GoUint64 = 0


@dataclass
class BindOptions:
    GO: ClassVar[str] = "mount.BindOptions"
    propagation: Annotated[str, Go("mount.Propagation")] = ""
    non_recursive: bool = False
    create_mountpoint: bool = False
    read_only_non_recursive: bool = False
    read_only_force_recursive: bool = False


@dataclass
class MountDriver:
    GO: ClassVar[str] = "mount.Driver"
    name: str = ""
    options: dict[str, str] | None = None


@dataclass
class VolumeOptions:
    GO: ClassVar[str] = "mount.VolumeOptions"
    no_copy: bool = False
    labels: dict[str, str] | None = None
    subpath: str = ""
    driver_config: MountDriver | None = None


@dataclass
class ImageOptions:
    GO: ClassVar[str] = "mount.ImageOptions"
    subpath: str = ""


@dataclass
class TmpfsOptions:
    GO: ClassVar[str] = "mount.TmpfsOptions"
    size_bytes: int = 0
    mode: Annotated[int, Go("fs.FileMode", 0, (1 << 32) - 1)] = 0
    options: list[list[str]] | None = None


@dataclass
class Mount:
    GO: ClassVar[str] = "mount.Mount"
    type: Annotated[str, Go("mount.Type")] = ""
    source: str = ""
    target: str = ""
    read_only: bool = False
    consistency: Annotated[str, Go("mount.Consistency")] = ""
    bind_options: BindOptions | None = None
    volume_options: VolumeOptions | None = None
    image_options: ImageOptions | None = None
    tmpfs_options: TmpfsOptions | None = None
    cluster_options: dict[str, Any] | None = None


@dataclass
class EndpointIPAMConfig:
    GO: ClassVar[str] = "network.EndpointIPAMConfig"
    i_pv4_address: str = field(default="", metadata={"wire": "IPv4Address"})
    i_pv6_address: str = field(default="", metadata={"wire": "IPv6Address"})
    link_local_i_ps: list[str] | None = field(default=None, metadata={"wire": "LinkLocalIPs"})


@dataclass
class EndpointSettings:
    GO: ClassVar[str] = "network.EndpointSettings"
    ipam_config: EndpointIPAMConfig | None = field(default=None, metadata={"wire": "IPAMConfig"})
    links: list[str] | None = None
    aliases: list[str] | None = None
    mac_address: str = ""
    driver_opts: dict[str, str] | None = None
    gw_priority: GoInt = 0
    network_id: str = field(default="", metadata={"wire": "NetworkID"})
    endpoint_id: str = field(default="", metadata={"wire": "EndpointID"})
    gateway: str = ""
    ip_address: str = field(default="", metadata={"wire": "IPAddress"})
    ip_prefix_len: GoInt = field(default=0, metadata={"wire": "IPPrefixLen"})
    ipv6_gateway: str = field(default="", metadata={"wire": "IPv6Gateway"})
    global_ipv6_address: str = field(default="", metadata={"wire": "GlobalIPv6Address"})
    global_ipv6_prefix_len: GoInt = field(default=0, metadata={"wire": "GlobalIPv6PrefixLen"})
    dns_names: list[str] | None = field(default=None, metadata={"wire": "DNSNames"})


@dataclass
class NetworkingConfig:
    GO: ClassVar[str] = "network.NetworkingConfig"
    endpoints_config: dict[str, EndpointSettings | None] | None = None


# ---------------------------------------------------------------------------
# the container


@dataclass
class ContainerConfig:
    """Docker's container `Config` (what the container runs)."""

    GO: ClassVar[str] = "container.Config"

    hostname: str = ""
    domainname: str = ""
    user: str = ""
    attach_stdin: bool = False
    attach_stdout: bool = False
    attach_stderr: bool = False
    exposed_ports: dict[str, Any] | None = field(default=None, metadata={"shape": PortSet})
    tty: bool = False
    open_stdin: bool = False
    stdin_once: bool = False
    env: list[str] | None = None
    # Docker's strslice: a plain string is a one-element list
    cmd: list[str] | None = field(default=None, metadata={"strslice": True})
    healthcheck: dict[str, Any] | None = field(
        default=None, metadata={"shape": HealthConfig | None}
    )
    args_escaped: bool | None = None
    image: str = ""
    volumes: dict[str, Any] | None = field(default=None, metadata={"shape": VolumeSet})
    working_dir: str = ""
    entrypoint: list[str] | None = field(default=None, metadata={"strslice": True})
    network_disabled: bool | None = None
    mac_address: str | None = None
    on_build: list[str] | None = None
    labels: dict[str, str] = field(default_factory=dict)
    stop_signal: str | None = None
    stop_timeout: GoInt | None = None
    shell: list[str] | None = field(default=None, metadata={"strslice": True})


@dataclass
class RestartPolicy:
    GO: ClassVar[str] = "container.RestartPolicy"
    name: Annotated[str, Go("container.RestartPolicyMode")] = "no"
    maximum_retry_count: GoInt = 0


@dataclass
class LogConfig:
    GO: ClassVar[str] = "container.LogConfig"
    type: str = "json-file"
    config: dict[str, str] = field(default_factory=dict)


@dataclass
class HostConfig:
    """Docker's `HostConfig` (how the host runs it)."""

    GO: ClassVar[str] = "container.HostConfig"

    binds: list[str] | None = None
    container_id_file: str = field(default="", metadata={"wire": "ContainerIDFile"})
    log_config: LogConfig = field(default_factory=LogConfig)
    network_mode: Annotated[str, Go("container.NetworkMode")] = "default"
    port_bindings: dict[str, Any] | None = field(default=None, metadata={"shape": PortMap})
    restart_policy: RestartPolicy = field(default_factory=RestartPolicy)
    auto_remove: bool = False
    volume_driver: str = ""
    volumes_from: list[str] | None = None
    cap_add: list[str] | None = field(default=None, metadata={"strslice": True})
    cap_drop: list[str] | None = field(default=None, metadata={"strslice": True})
    cgroupns_mode: Annotated[str, Go("container.CgroupnsMode")] = (
        ""  # "" until create fills the daemon default
    )
    dns: list[str] | None = None
    dns_options: list[str] | None = None
    dns_search: list[str] | None = None
    extra_hosts: list[str] | None = None
    group_add: list[str] | None = None
    ipc_mode: Annotated[str, Go("container.IpcMode")] = ""
    cgroup: Annotated[str, Go("container.CgroupSpec")] = ""
    links: list[str] | None = None
    oom_score_adj: GoInt = 0
    pid_mode: Annotated[str, Go("container.PidMode")] = ""
    privileged: bool = False
    publish_all_ports: bool = False
    readonly_rootfs: bool = False
    security_opt: list[str] | None = None
    uts_mode: Annotated[str, Go("container.UTSMode")] = field(
        default="", metadata={"wire": "UTSMode"}
    )
    userns_mode: Annotated[str, Go("container.UsernsMode")] = ""
    shm_size: int = 64 * 1024 * 1024
    runtime: str = "runc"
    isolation: Annotated[str, Go("container.Isolation")] = ""
    cpu_shares: int = 0
    memory: int = 0
    nano_cpus: int = 0
    cgroup_parent: str = ""
    cpu_period: int = 0
    cpu_quota: int = 0
    cpuset_cpus: str = ""
    cpuset_mems: str = ""
    devices: list[dict[str, Any]] | None = field(
        default=None, metadata={"shape": list[DeviceMapping]}
    )
    # "c 1:3 rwm" lines, enforced after the devices' own rules (hostopts.cgroup_rules)
    device_cgroup_rules: list[str] | None = None
    # kept so that inspect shows them; a start refuses any (berth has no device drivers)
    device_requests: list[dict[str, Any]] | None = field(
        default=None, metadata={"shape": list[DeviceRequest]}
    )
    memory_reservation: int = 0
    memory_swap: int = 0
    memory_swappiness: int | None = None
    oom_kill_disable: bool | None = None
    pids_limit: int | None = None
    ulimits: list[dict[str, Any]] | None = field(
        default=None, metadata={"shape": list[Ulimit | None]}
    )
    init: bool | None = None
    sysctls: dict[str, str] | None = None
    tmpfs: dict[str, str] | None = None
    mounts: list[dict[str, Any]] | None = field(default=None, metadata={"shape": list[Mount]})
    masked_paths: list[str] | None = None
    readonly_paths: list[str] | None = None
    console_size: Annotated[list[GoUint], Go("[2]uint")] | None = None  # [height, width]


@dataclass
class HostConfigRest:
    """HostConfig fields dockerd decodes that berth does not implement: checked for their
    type (a 400 like dockerd's), and a request that sets one is refused with a 400 that
    names it (create.refuse_unsupported), never accepted and dropped."""

    GO: ClassVar[str] = "container.HostConfig"
    annotations: dict[str, str] | None = None
    storage_opt: dict[str, str] | None = None
    blkio_weight: GoUint16 = 0
    blkio_weight_device: list[WeightDevice | None] | None = None
    blkio_device_read_bps: list[ThrottleDevice | None] | None = None
    blkio_device_write_bps: list[ThrottleDevice | None] | None = None
    blkio_device_read_i_ops: list[ThrottleDevice | None] | None = field(
        default=None, metadata={"wire": "BlkioDeviceReadIOps"}
    )
    blkio_device_write_i_ops: list[ThrottleDevice | None] | None = field(
        default=None, metadata={"wire": "BlkioDeviceWriteIOps"}
    )
    cpu_realtime_period: int = 0
    cpu_realtime_runtime: int = 0
    kernel_memory: int = 0
    kernel_memory_tcp: int = field(default=0, metadata={"wire": "KernelMemoryTCP"})
    cpu_count: int = 0
    cpu_percent: int = 0
    io_maximum_i_ops: GoUint64 = field(default=0, metadata={"wire": "IOMaximumIOps"})
    io_maximum_bandwidth: GoUint64 = field(default=0, metadata={"wire": "IOMaximumBandwidth"})


@dataclass
class CreateRequest:
    """The body of POST /containers/create (and /commit): dockerd's container.CreateRequest,
    the Config embedded, HostConfig and NetworkingConfig beside it. NetworkingConfig stays
    JSON (checked, keys in Docker's spelling) for the network service."""

    GO: ClassVar[str] = "container.CreateRequest"
    config: ContainerConfig = field(default_factory=ContainerConfig, metadata={"embed": True})
    host_config: HostConfig | None = None
    networking_config: dict[str, Any] | None = field(
        default=None, metadata={"shape": NetworkingConfig | None}
    )


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
