"""The HostConfig (and the networking part) of the create body, flag group by flag group.

The groups run in one fixed order because the order of the body's keys, and which of two bad
flags is reported, is what the docker CLI's encoding gives (tests/unit/cli/data/
containerspec-golden.json records it): the tables below are in that order."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from berth.cli.commands import hostvalues as hv
from berth.cli.commands.specfields import Field, apply, as_list, each, key_values
from berth.cli.flags import Command

_LIMITS = (
    Field("memory", "Memory", hv.ram),
    Field("memory_swap", "MemorySwap", hv.memory_swap),
    Field("shm_size", "ShmSize", hv.ram),
    Field("cpus", "NanoCpus", hv.nano_cpus),
    Field("cpu_shares", "CpuShares"),
    Field("pids_limit", "PidsLimit"),
)


def _mounts() -> tuple[Field, ...]:
    from berth.cli.commands import mountspec

    return (
        Field("mount", "Mounts", each(mountspec.parse_mount)),
        Field("volumes_from", "VolumesFrom", as_list),
        Field("volume_driver", "VolumeDriver"),
    )


_PRIVILEGES = (
    Field("restart", "RestartPolicy", hv.restart_policy),
    Field("privileged", "Privileged"),
    Field("read_only", "ReadonlyRootfs"),
    Field("init", "Init"),
    Field("cap_add", "CapAdd"),
    Field("cap_drop", "CapDrop"),
    Field("dns", "Dns"),
    Field("add_host", "ExtraHosts"),
)
_PROCESS = (
    Field("tmpfs", "Tmpfs", hv.tmpfs),
    Field("ulimit", "Ulimits", each(hv.ulimit)),
    Field("device", "Devices", each(hv.device)),
    Field("sysctl", "Sysctls", hv.sysctls),
    Field("ipc", "IpcMode"),
    Field("pid", "PidMode"),
    Field("uts", "UTSMode"),
    Field("cgroupns", "CgroupnsMode"),
)
_CGROUP = (
    Field("cgroup_parent", "CgroupParent"),
    Field("cidfile", "ContainerIDFile"),
    Field("cpuset_cpus", "CpusetCpus"),
    Field("cpuset_mems", "CpusetMems"),
    Field("runtime", "Runtime"),
    Field("isolation", "Isolation"),
    Field("cpu_period", "CpuPeriod"),
    Field("cpu_quota", "CpuQuota"),
    Field("cpu_rt_period", "CpuRealtimePeriod"),
    Field("cpu_rt_runtime", "CpuRealtimeRuntime"),
    Field("oom_score_adj", "OomScoreAdj"),
    Field("publish_all", "PublishAllPorts"),
    Field("oom_kill_disable", "OomKillDisable"),
    Field("userns", "UsernsMode", hv.userns),
    Field("blkio_weight", "BlkioWeight", hv.blkio_weight),
    Field("memory_swappiness", "MemorySwappiness", hv.swappiness, unset=-1),
    Field("memory_reservation", "MemoryReservation", hv.ram),
    Field("blkio_weight_device", "BlkioWeightDevice", each(hv.weight_device)),
    Field("device_read_bps", "BlkioDeviceReadBps", hv.throttle("--device-read-bps", True)),
    Field("device_write_bps", "BlkioDeviceWriteBps", hv.throttle("--device-write-bps", True)),
    Field("device_read_iops", "BlkioDeviceReadIOps", hv.throttle("--device-read-iops", False)),
    Field("device_write_iops", "BlkioDeviceWriteIOps", hv.throttle("--device-write-iops", False)),
    Field("device_cgroup_rule", "DeviceCgroupRules", hv.device_cgroup_rules),
)
_RESOLVER_AND_EXTRAS = (
    Field("dns_search", "DnsSearch", hv.dns_search),
    Field("dns_option", "DnsOptions", as_list),
    Field("group_add", "GroupAdd", as_list),
    Field("link", "Links", hv.links),
    Field("gpus", "DeviceRequests", each(hv.gpu_request)),
    Field("storage_opt", "StorageOpt", hv.storage_opts),
    Field("annotation", "Annotations", key_values),
)


def host_config(
    cmd: Command,
    opts: SimpleNamespace,
    config: dict[str, Any],
    binds: list[str],
    bindings: dict[str, Any],
) -> dict[str, Any]:
    """HostConfig for these flags; the endpoint settings and --domainname go into config."""
    host: dict[str, Any] = {"AutoRemove": opts.rm}
    apply(cmd, opts, host, _LIMITS)
    if opts.log_driver or opts.log_opt:
        host["LogConfig"] = {"Type": opts.log_driver, "Config": key_values(cmd, opts.log_opt)}
    if binds:
        host["Binds"] = binds
    apply(cmd, opts, host, _mounts())
    if bindings:
        host["PortBindings"] = bindings
    network = opts.network or opts.net
    if network:
        host["NetworkMode"] = network
    _endpoint(opts, config, network)
    apply(cmd, opts, host, _PRIVILEGES)
    _security(cmd, opts, host)
    apply(cmd, opts, host, _PROCESS)
    if opts.domainname:
        config["Domainname"] = opts.domainname
    apply(cmd, opts, host, _CGROUP)
    apply(cmd, opts, host, _RESOLVER_AND_EXTRAS)
    _endpoint_extras(opts, config, network)
    return host


def _security(cmd: Command, opts: SimpleNamespace, host: dict[str, Any]) -> None:
    # as the docker CLI: systempaths=unconfined travels as empty masked/read-only path lists
    sec = [o for o in opts.security_opt if o != "systempaths=unconfined"]
    if len(sec) != len(opts.security_opt):
        host["MaskedPaths"], host["ReadonlyPaths"] = [], []
    if sec:
        host["SecurityOpt"] = [hv.security_opt(cmd, o) for o in sec]


def _endpoint(opts: SimpleNamespace, config: dict[str, Any], network: str) -> None:
    """--ip, --network-alias and --mac-address: the endpoint on the container's network."""
    if not (opts.ip or opts.network_alias or opts.mac_address):
        return
    ep: dict[str, Any] = {}
    if opts.ip:
        ep["IPAMConfig"] = {"IPv4Address": opts.ip}
    if opts.network_alias:
        ep["Aliases"] = list(opts.network_alias)
    if opts.mac_address:
        ep["MacAddress"] = opts.mac_address
    config["NetworkingConfig"] = {"EndpointsConfig": {network or "default": ep}}


def _endpoint_extras(opts: SimpleNamespace, config: dict[str, Any], network: str) -> None:
    """--ip6, --link-local-ip and (on a user-defined network) --link go on the endpoint,
    as applyContainerOptions puts them."""
    user_defined = (
        bool(network)
        and network not in ("default", "bridge", "host", "none")
        and (not network.startswith("container:"))
    )
    if not (opts.ip6 or opts.link_local_ip or (opts.link and user_defined)):
        return
    eps = config.setdefault("NetworkingConfig", {"EndpointsConfig": {}})["EndpointsConfig"]
    ep = eps.setdefault(network or "default", {})
    if opts.link and user_defined:
        ep["Links"] = list(opts.link)
    if opts.ip6 or opts.link_local_ip:
        ipam = ep.setdefault("IPAMConfig", {})
        if opts.ip6:
            ipam["IPv6Address"] = opts.ip6
        if opts.link_local_ip:
            ipam["LinkLocalIPs"] = list(opts.link_local_ip)
