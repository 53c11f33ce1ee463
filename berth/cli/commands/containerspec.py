"""run/create flags and how they become the POST /containers/create body."""

from __future__ import annotations

import json
import os
from types import SimpleNamespace
from typing import Any

from berth.cli.context import StatusError
from berth.cli.flags import Command, Flag, UsageError

CREATE_FLAGS = [
    Flag("add-host", "", "list", help="Add a custom host-to-IP mapping (host:ip)"),
    Flag("attach", "a", "list", help="Attach to STDIN, STDOUT or STDERR"),
    Flag("cap-add", "", "list", help="Add Linux capabilities"),
    Flag("cap-drop", "", "list", help="Drop Linux capabilities"),
    Flag("cgroupns", "", "str", "", help="Cgroup namespace to use (host|private)"),
    Flag("cpu-shares", "c", "int", 0, help="CPU shares (relative weight)"),
    Flag("cpus", "", "str", "", help="Number of CPUs"),
    Flag("detach-keys", "", "str", "", help="Override the key sequence for detaching"),
    Flag("device", "", "list", help="Add a host device to the container"),
    Flag("dns", "", "list", help="Set custom DNS servers"),
    Flag("entrypoint", "", "str", None, help="Overwrite the default ENTRYPOINT of the image"),
    Flag("env", "e", "list", help="Set environment variables"),
    Flag("env-file", "", "list", help="Read in a file of environment variables"),
    Flag("expose", "", "list", help="Expose a port or a range of ports"),
    Flag("health-cmd", "", "str", "", help="Command to run to check health"),
    Flag("health-interval", "", "str", "", help="Time between running the check (ms|s|m|h)"),
    Flag("health-retries", "", "int", 0, help="Consecutive failures needed to report unhealthy"),
    Flag(
        "health-start-interval", "", "str", "", help="Time between checks during the start period"
    ),
    Flag("health-start-period", "", "str", "", help="Start period before retries count"),
    Flag("health-timeout", "", "str", "", help="Maximum time to allow one check to run"),
    Flag("hostname", "h", "str", "", help="Container host name"),
    Flag("init", "", help="Run an init inside the container"),
    Flag("ip", "", "str", "", help="IPv4 address (e.g., 172.30.100.104)"),
    Flag("ipc", "", "str", "", help="IPC mode to use"),
    Flag("interactive", "i", help="Keep STDIN open even if not attached"),
    Flag("label", "l", "list", help="Set meta data on a container"),
    Flag("label-file", "", "list", help="Read in a line delimited file of labels"),
    Flag("log-driver", "", "str", "", help="Logging driver for the container"),
    Flag("log-opt", "", "list", help="Log driver options"),
    Flag("memory", "m", "str", "", help="Memory limit"),
    Flag("memory-swap", "", "str", "", help="Swap limit equal to memory plus swap: -1 unlimited"),
    Flag("name", "", "str", "", help="Assign a name to the container"),
    Flag("mac-address", "", "str", "", help="Container MAC address (e.g., 92:d0:c6:0a:29:33)"),
    Flag("network", "", "str", "", help="Connect a container to a network"),
    Flag("network-alias", "", "list", help="Add network-scoped alias for the container"),
    Flag("no-healthcheck", "", help="Disable any container-specified HEALTHCHECK"),
    Flag("net", "", "str", "", help="Connect a container to a network"),
    Flag("pid", "", "str", "", help="PID namespace to use"),
    Flag("pids-limit", "", "int", 0, help="Tune container pids limit (set -1 for unlimited)"),
    Flag("platform", "", "str", "", help="Set platform if server is multi-platform capable"),
    Flag("privileged", "", help="Give extended privileges to this container"),
    Flag("publish", "p", "list", help="Publish a container's port(s) to the host"),
    Flag(
        "pull",
        "",
        "str",
        "missing",
        help='Pull image before creating ("always", "missing", "never")',
    ),
    Flag("read-only", "", help="Mount the container's root filesystem as read only"),
    Flag("restart", "", "str", "", help="Restart policy to apply when a container exits"),
    Flag("rm", "", help="Automatically remove the container when it exits"),
    Flag("security-opt", "", "list", help="Security Options"),
    Flag("shm-size", "", "str", "", help="Size of /dev/shm"),
    Flag("stop-signal", "", "str", "", help="Signal to stop the container"),
    Flag("stop-timeout", "", "int", None, help="Timeout (in seconds) to stop a container"),
    Flag("sysctl", "", "list", help="Sysctl options"),
    Flag("tmpfs", "", "list", help="Mount a tmpfs directory"),
    Flag("tty", "t", help="Allocate a pseudo-TTY"),
    Flag("ulimit", "", "list", help="Ulimit options"),
    Flag("user", "u", "str", "", help="Username or UID (format: <name|uid>[:<group|gid>])"),
    Flag("uts", "", "str", "", help="UTS namespace to use"),
    Flag("volume", "v", "list", help="Bind mount a volume"),
    Flag("volume-driver", "", "str", "", help="Optional volume driver for the container"),
    Flag("volumes-from", "", "list", help="Mount volumes from the specified container(s)"),
    Flag("mount", "", "list", help="Attach a filesystem mount to the container"),
    Flag("workdir", "w", "str", "", help="Working directory inside the container"),
    # resources, namespaces and networking (issue 12): encoded as cli/command/container/opts.go
    Flag("annotation", "", "list", help="Add an annotation to the container", metavar="map"),
    Flag(
        "blkio-weight",
        "",
        "int",
        0,
        help="Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)",
        metavar="uint16",
    ),
    Flag("blkio-weight-device", "", "list", help="Block IO weight (relative device weight)"),
    Flag("cgroup-parent", "", "str", "", help="Optional parent cgroup for the container"),
    Flag("cidfile", "", "str", "", help="Write the container ID to the file"),
    Flag("cpu-period", "", "int", 0, help="Limit CPU CFS (Completely Fair Scheduler) period"),
    Flag("cpu-quota", "", "int", 0, help="Limit CPU CFS (Completely Fair Scheduler) quota"),
    Flag("cpu-rt-period", "", "int", 0, help="Limit CPU real-time period in microseconds"),
    Flag("cpu-rt-runtime", "", "int", 0, help="Limit CPU real-time runtime in microseconds"),
    Flag("cpuset-cpus", "", "str", "", help="CPUs in which to allow execution (0-3, 0,1)"),
    Flag("cpuset-mems", "", "str", "", help="MEMs in which to allow execution (0-3, 0,1)"),
    Flag("device-cgroup-rule", "", "list", help="Add a rule to the cgroup allowed devices list"),
    Flag("device-read-bps", "", "list", help="Limit read rate (bytes per second) from a device"),
    Flag("device-read-iops", "", "list", help="Limit read rate (IO per second) from a device"),
    Flag("device-write-bps", "", "list", help="Limit write rate (bytes per second) to a device"),
    Flag("device-write-iops", "", "list", help="Limit write rate (IO per second) to a device"),
    Flag("dns-option", "", "list", help="Set DNS options"),
    Flag("dns-search", "", "list", help="Set custom DNS search domains"),
    Flag("domainname", "", "str", "", help="Container NIS domain name"),
    Flag(
        "gpus",
        "",
        "list",
        help="GPU devices to add to the container ('all' to pass all GPUs)",
        metavar="gpu-request",
    ),
    Flag("group-add", "", "list", help="Add additional groups to join"),
    Flag("ip6", "", "str", "", help="IPv6 address (e.g., 2001:db8::33)"),
    Flag("isolation", "", "str", "", help="Container isolation technology"),
    Flag("link", "", "list", help="Add link to another container"),
    Flag("link-local-ip", "", "list", help="Container IPv4/IPv6 link-local addresses"),
    Flag("memory-reservation", "", "str", "", help="Memory soft limit", metavar="bytes"),
    Flag(
        "memory-swappiness",
        "",
        "int",
        -1,
        help="Tune container memory swappiness (0 to 100) (default -1)",
    ),
    Flag("oom-kill-disable", "", help="Disable OOM Killer"),
    Flag("oom-score-adj", "", "int", 0, help="Tune host's OOM preferences (-1000 to 1000)"),
    Flag("publish-all", "P", help="Publish all exposed ports to random ports"),
    Flag("quiet", "q", help="Suppress the pull output"),
    Flag("runtime", "", "str", "", help="Runtime to use for this container"),
    Flag("storage-opt", "", "list", help="Storage driver options for the container"),
    Flag("userns", "", "str", "", help="User namespace to use"),
]
# --help lists the flags in docker's (alphabetical) order
CREATE_FLAGS.sort(key=lambda f: f.long)


def env_value(item: str) -> str:
    """docker's ValidateEnv: "FOO" alone takes FOO from this environment when it is set."""
    if "=" in item:
        return item
    val = os.environ.get(item)
    return f"{item}={val}" if val is not None else item


def read_kv_file(path: str) -> list[str]:
    """Lines of an --env-file / --label-file, minus blanks and comments."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as exc:
        raise StatusError(125, f"open {path}: {(exc.strerror or str(exc)).lower()}") from None
    out = []
    for line in lines:
        line = line.lstrip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


def _ports(cmd: Command, specs: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    exposed: dict[str, Any] = {}
    bindings: dict[str, list[dict[str, str]]] = {}
    for spec in specs:
        body, _, proto = spec.partition("/")
        proto = proto or "tcp"
        if body.startswith("["):  # [::1]:8080:80
            end = body.index("]")
            ip, rest = body[1:end], body[end + 2 :]
            parts = [ip, *rest.split(":")]
        else:
            parts = body.split(":")
        if len(parts) == 1:
            ip, host, cport = "", "", parts[0]
        elif len(parts) == 2:
            ip, (host, cport) = "", parts
        elif len(parts) == 3:
            ip, host, cport = parts
        else:
            raise cmd.usage_error(f'invalid argument "{spec}" for "-p, --publish" flag')
        if not cport or not cport.replace("-", "").isdigit():
            raise cmd.usage_error(f'invalid argument "{spec}" for "-p, --publish" flag')
        key = f"{cport}/{proto}"
        exposed[key] = {}
        bindings.setdefault(key, []).append({"HostIp": ip, "HostPort": host})
    return exposed, bindings


def _restart(cmd: Command, value: str) -> dict[str, Any] | None:
    if not value:
        return None
    name, _, count = value.partition(":")
    if name not in ("no", "always", "on-failure", "unless-stopped"):
        raise cmd.usage_error(f"invalid restart policy {value!r}")
    policy: dict[str, Any] = {"Name": name}
    if count:
        if not count.isdigit():
            raise cmd.usage_error(f"maximum retry count must be an integer: {count!r}")
        policy["MaximumRetryCount"] = int(count)
    return policy


def _healthcheck(cmd: Command, opts: SimpleNamespace) -> dict[str, Any] | None:
    """The docker CLI's HealthConfig from the --health-* flags (None: the image's)."""
    from berth.cli.units import parse_go_duration

    durations: dict[str, int] = {}
    for key, flag in (
        ("Interval", "health_interval"),
        ("Timeout", "health_timeout"),
        ("StartPeriod", "health_start_period"),
        ("StartInterval", "health_start_interval"),
    ):
        text = getattr(opts, flag)
        if not text:
            durations[key] = 0
            continue
        secs = parse_go_duration(text)
        name = "--" + flag.replace("_", "-")
        if secs is None:
            raise cmd.usage_error(f'invalid argument "{text}" for "{name}" flag: time: invalid '
                                  f'duration "{text}"')  # fmt: skip
        if secs < 0:
            raise cmd.usage_error(f"{name} cannot be negative")
        durations[key] = round(secs * 1_000_000_000)
    have = bool(opts.health_cmd or any(durations.values()) or opts.health_retries)
    if opts.no_healthcheck:
        if have:
            raise cmd.usage_error("--no-healthcheck conflicts with --health-* options")
        return {"Test": ["NONE"]}
    if not have:
        return None
    if opts.health_retries < 0:
        raise cmd.usage_error("--health-retries cannot be negative")
    test = ["CMD-SHELL", opts.health_cmd] if opts.health_cmd else None
    return {"Test": test, **durations, "Retries": opts.health_retries}


def build(cmd: Command, opts: SimpleNamespace, args: list[str], detach: bool) -> dict[str, Any]:
    """The create body for these flags; args is IMAGE [COMMAND] [ARG...]."""
    from berth.cli.units import ram_in_bytes

    image, command = args[0], args[1:]
    attach = [a.lower() for a in opts.attach]
    for a in attach:
        if a not in ("stdin", "stdout", "stderr"):
            raise cmd.usage_error(f"invalid argument {a!r} for -a: must be stdin, stdout, stderr")
    if detach and attach:
        raise cmd.usage_error("Conflicting options: -a and -d")
    if detach:
        a_in = a_out = a_err = False
    elif attach:
        a_in, a_out, a_err = ("stdin" in attach), ("stdout" in attach), ("stderr" in attach)
    else:
        a_in, a_out, a_err = opts.interactive, True, True
    env: list[str] = []
    for path in opts.env_file:
        env += [env_value(x) for x in read_kv_file(path)]
    env += [env_value(e) for e in opts.env]
    labels: dict[str, str] = {}
    for item in [*(x for p in opts.label_file for x in read_kv_file(p)), *opts.label]:
        k, _, v = item.partition("=")
        labels[k] = v
    config: dict[str, Any] = {
        "Hostname": opts.hostname,
        "User": opts.user,
        "AttachStdin": a_in,
        "AttachStdout": a_out,
        "AttachStderr": a_err,
        "Tty": opts.tty,
        "OpenStdin": opts.interactive,
        "StdinOnce": bool(opts.interactive and a_in and not detach),
        "Env": env,
        "Cmd": command or None,
        "Image": image,
        "WorkingDir": opts.workdir,
        "Entrypoint": None if opts.entrypoint is None else [opts.entrypoint],
        "Labels": labels,
    }
    if opts.stop_signal:
        config["StopSignal"] = opts.stop_signal
    if opts.stop_timeout is not None:
        config["StopTimeout"] = opts.stop_timeout
    health = _healthcheck(cmd, opts)
    if health is not None:
        config["Healthcheck"] = health
    exposed, bindings = _ports(cmd, opts.publish)
    for e in opts.expose:
        exposed[e if "/" in e else e + "/tcp"] = {}
    if exposed:
        config["ExposedPorts"] = exposed
    from berth.cli.commands import mountspec

    binds, volumes = mountspec.split_volumes(opts.volume)
    if volumes:
        config["Volumes"] = volumes
    host: dict[str, Any] = {"AutoRemove": opts.rm}
    try:
        if opts.memory:
            host["Memory"] = ram_in_bytes(opts.memory)
        if opts.memory_swap:
            host["MemorySwap"] = -1 if opts.memory_swap == "-1" else ram_in_bytes(opts.memory_swap)
        if opts.shm_size:
            host["ShmSize"] = ram_in_bytes(opts.shm_size)
    except ValueError as exc:
        raise cmd.usage_error(str(exc)) from None
    if opts.cpus:
        try:
            host["NanoCpus"] = int(round(float(opts.cpus) * 1e9))
        except ValueError:
            raise cmd.usage_error(f'invalid argument "{opts.cpus}" for "--cpus" flag') from None
    if opts.cpu_shares:
        host["CpuShares"] = opts.cpu_shares
    if opts.pids_limit:
        host["PidsLimit"] = opts.pids_limit
    if opts.log_driver or opts.log_opt:
        host["LogConfig"] = {
            "Type": opts.log_driver,
            "Config": dict(o.partition("=")[::2] for o in opts.log_opt),
        }
    if binds:
        host["Binds"] = binds
    if opts.mount:
        host["Mounts"] = [mountspec.parse_mount(cmd, m) for m in opts.mount]
    if opts.volumes_from:
        host["VolumesFrom"] = list(opts.volumes_from)
    if opts.volume_driver:
        host["VolumeDriver"] = opts.volume_driver
    if bindings:
        host["PortBindings"] = bindings
    network = opts.network or opts.net
    if network:
        host["NetworkMode"] = network
    if opts.ip or opts.network_alias or opts.mac_address:
        ep: dict[str, Any] = {}
        if opts.ip:
            ep["IPAMConfig"] = {"IPv4Address": opts.ip}
        if opts.network_alias:
            ep["Aliases"] = list(opts.network_alias)
        if opts.mac_address:
            ep["MacAddress"] = opts.mac_address
        config["NetworkingConfig"] = {"EndpointsConfig": {network or "default": ep}}
    restart = _restart(cmd, opts.restart)
    if restart:
        host["RestartPolicy"] = restart
    for key, flag in (
        ("Privileged", opts.privileged),
        ("ReadonlyRootfs", opts.read_only),
        ("Init", opts.init or None),
    ):
        if flag:
            host[key] = flag
    for key, vals in (
        ("CapAdd", opts.cap_add),
        ("CapDrop", opts.cap_drop),
        ("Dns", opts.dns),
        ("ExtraHosts", opts.add_host),
    ):
        if vals:
            host[key] = vals
    # as the docker CLI: systempaths=unconfined travels as empty masked/read-only path lists
    sec = [o for o in opts.security_opt if o != "systempaths=unconfined"]
    if len(sec) != len(opts.security_opt):
        host["MaskedPaths"], host["ReadonlyPaths"] = [], []
    if sec:
        host["SecurityOpt"] = [security_opt(cmd, o) for o in sec]
    if opts.tmpfs:
        host["Tmpfs"] = dict((t.partition(":")[0], t.partition(":")[2]) for t in opts.tmpfs)
    if opts.ulimit:
        host["Ulimits"] = [_ulimit(cmd, u) for u in opts.ulimit]
    if opts.device:
        host["Devices"] = [_device(cmd, d) for d in opts.device]
    if opts.sysctl:
        sysctls = {}
        for item in opts.sysctl:
            k, eq, v = item.partition("=")
            if not eq or not k:
                raise cmd.usage_error(f'invalid argument "{item}" for "--sysctl" flag')
            sysctls[k] = v
        host["Sysctls"] = sysctls
    for key, val in (
        ("IpcMode", opts.ipc),
        ("PidMode", opts.pid),
        ("UTSMode", opts.uts),
        ("CgroupnsMode", opts.cgroupns),
    ):
        if val:
            host[key] = val
    _more_host_options(cmd, opts, config, host, network)
    config["HostConfig"] = host
    return config


_DEVICE_CGROUP_RULE = r"^[acb] ([0-9]+|\*):([0-9]+|\*) [rwm]{1,3}$"
_DOMAIN = (
    r"^(:?(:?[a-zA-Z0-9]|(:?[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9]))"
    r"(:?\.(:?[a-zA-Z0-9]|(:?[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9])))*)\.?\s*$"
)


def _more_host_options(
    cmd: Command, opts: SimpleNamespace, config: dict[str, Any], host: dict[str, Any], network: str
) -> None:
    """The resource, namespace and networking flags, each validated with the docker CLI's
    message (a bad value never reaches the daemon) and set only when given, so a create
    body without them is what it was before."""
    import re

    from berth.cli.units import ram_in_bytes

    def bad(flag: str, value: str, why: str) -> UsageError:
        return cmd.usage_error(f'invalid argument "{value}" for "{flag}" flag: {why}')

    if opts.domainname:
        config["Domainname"] = opts.domainname
    for key, val in (
        ("CgroupParent", opts.cgroup_parent),
        ("ContainerIDFile", opts.cidfile),
        ("CpusetCpus", opts.cpuset_cpus),
        ("CpusetMems", opts.cpuset_mems),
        ("Runtime", opts.runtime),
        ("Isolation", opts.isolation),
        ("CpuPeriod", opts.cpu_period),
        ("CpuQuota", opts.cpu_quota),
        ("CpuRealtimePeriod", opts.cpu_rt_period),
        ("CpuRealtimeRuntime", opts.cpu_rt_runtime),
        ("OomScoreAdj", opts.oom_score_adj),
        ("PublishAllPorts", opts.publish_all),
        ("OomKillDisable", opts.oom_kill_disable),
    ):
        if val:
            host[key] = val
    if opts.userns:
        # container.UsernsMode.Valid(): only "host" (or "") travels
        if opts.userns != "host":
            raise cmd.usage_error("--userns: invalid USER mode")
        host["UsernsMode"] = opts.userns
    if not 0 <= opts.blkio_weight <= 0xFFFF:
        raise bad("--blkio-weight", str(opts.blkio_weight), "value out of range")
    if opts.blkio_weight:
        host["BlkioWeight"] = opts.blkio_weight
    if opts.memory_swappiness != -1:
        if not 0 <= opts.memory_swappiness <= 100:
            raise cmd.usage_error(
                f"invalid value: {opts.memory_swappiness}. Valid memory swappiness range is 0-100"
            )
        host["MemorySwappiness"] = opts.memory_swappiness
    if opts.memory_reservation:
        try:
            host["MemoryReservation"] = ram_in_bytes(opts.memory_reservation)
        except ValueError as exc:
            raise cmd.usage_error(str(exc)) from None
    if opts.blkio_weight_device:
        host["BlkioWeightDevice"] = [_weight_device(cmd, v) for v in opts.blkio_weight_device]
    for key, flag, values, bps in (
        ("BlkioDeviceReadBps", "--device-read-bps", opts.device_read_bps, True),
        ("BlkioDeviceWriteBps", "--device-write-bps", opts.device_write_bps, True),
        ("BlkioDeviceReadIOps", "--device-read-iops", opts.device_read_iops, False),
        ("BlkioDeviceWriteIOps", "--device-write-iops", opts.device_write_iops, False),
    ):
        if values:
            host[key] = [_throttle_device(cmd, flag, v, bps) for v in values]
    for rule in opts.device_cgroup_rule:
        if not re.match(_DEVICE_CGROUP_RULE, rule):
            raise bad("--device-cgroup-rule", rule, f"invalid device cgroup format '{rule}'")
    if opts.device_cgroup_rule:
        host["DeviceCgroupRules"] = list(opts.device_cgroup_rule)
    search = []
    for d in opts.dns_search:
        d = d.strip(" ")
        m = re.match(_DOMAIN, d)
        if d != "." and (not re.search("[a-zA-Z]", d) or not m or len(m.group(1)) >= 255):
            raise bad("--dns-search", d, f"{d} is not a valid domain")
        search.append(d if d == "." else m.group(1) if m else d)
    if search:
        host["DnsSearch"] = search
    if opts.dns_option:
        host["DnsOptions"] = list(opts.dns_option)
    if opts.group_add:
        host["GroupAdd"] = list(opts.group_add)
    for link in opts.link:
        if not link or link.count(":") > 1:
            why = (
                "empty string specified for links" if not link else f"bad format for links: {link}"
            )
            raise bad("--link", link, why)
    if opts.link:
        host["Links"] = list(opts.link)
    if opts.gpus:
        host["DeviceRequests"] = [_gpu_request(cmd, g) for g in opts.gpus]
    if opts.storage_opt:
        storage: dict[str, str] = {}
        for item in opts.storage_opt:
            k, eq, v = item.partition("=")
            if not eq:
                raise cmd.usage_error("invalid storage option")
            storage[k] = v
        host["StorageOpt"] = storage
    if opts.annotation:
        host["Annotations"] = dict(a.partition("=")[::2] for a in opts.annotation)
    _endpoint_options(cmd, opts, config, network)


def _endpoint_options(
    cmd: Command, opts: SimpleNamespace, config: dict[str, Any], network: str
) -> None:
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


def _weight_device(cmd: Command, val: str) -> dict[str, Any]:
    """opts.ValidateWeightDevice: /dev/PATH:WEIGHT, the weight 10-1000 (0: unset)."""
    path, colon, raw = val.partition(":")
    flag = "--blkio-weight-device"
    if not colon or not path:
        raise cmd.usage_error(f'invalid argument "{val}" for "{flag}" flag: bad format: {val}')
    if not path.startswith("/dev/"):
        msg = f"bad format for device path: {val}"
        raise cmd.usage_error(f'invalid argument "{val}" for "{flag}" flag: {msg}')
    weight = int(raw) if raw.isdigit() else -1
    if not 0 <= weight <= 0xFFFF or (weight and not 10 <= weight <= 1000):
        msg = f"invalid weight for device: {val}"
        raise cmd.usage_error(f'invalid argument "{val}" for "{flag}" flag: {msg}')
    return {"Path": path, "Weight": weight}


def _throttle_device(cmd: Command, flag: str, val: str, bps: bool) -> dict[str, Any]:
    """opts.ValidateThrottle{Bps,IOps}Device: /dev/PATH:RATE (bps: a size like 1mb)."""
    from berth.cli.units import ram_in_bytes

    path, colon, raw = val.partition(":")

    def bad(msg: str) -> UsageError:
        return cmd.usage_error(f'invalid argument "{val}" for "{flag}" flag: {msg}')

    if not colon or not path:
        raise bad(f"bad format: {val}")
    if not path.startswith("/dev/"):
        raise bad(f"bad format for device path: {val}")
    try:
        rate = ram_in_bytes(raw) if bps else (int(raw) if raw.isdigit() else -1)
    except ValueError:
        rate = -1
    if rate < 0:
        if bps:
            raise bad(
                f"invalid rate for device: {val}. The correct format is "
                "<device-path>:<number>[<unit>]. Number must be a positive integer. "
                "Unit is optional and can be kb, mb, or gb"
            )
        raise bad(
            f"invalid rate for device: {val}. The correct format is <device-path>:<number>. "
            "Number must be a positive integer"
        )
    return {"Path": path, "Rate": rate}


def _gpu_request(cmd: Command, value: str) -> dict[str, Any]:
    """opts.GpuOpts.Set: all | N | driver=,count=,device=,capabilities=,options= (CSV)."""
    import csv

    def bad(msg: str) -> UsageError:
        return cmd.usage_error(f'invalid argument "{value}" for "--gpus" flag: {msg}')

    def count(s: str) -> int:
        if s == "all":
            return -1
        try:
            return int(s)
        except ValueError:
            raise bad(
                f'invalid count ({s}): value must be either "all" or an integer: invalid syntax'
            ) from None

    fields = next(csv.reader([value]), [])
    req: dict[str, Any] = {"Driver": "", "Count": 0, "DeviceIDs": None, "Capabilities": None,
                           "Options": None}  # fmt: skip
    seen: set[str] = set()
    for item in fields:
        key, eq, val = item.partition("=")
        if key in seen:
            raise bad(f"gpu request key '{key}' can be specified only once")
        seen.add(key)
        if not eq:
            seen.add("count")
            req["Count"] = count(key)
        elif key == "driver":
            req["Driver"] = val
        elif key == "count":
            req["Count"] = count(val)
        elif key == "device":
            req["DeviceIDs"] = val.split(",")
        elif key == "capabilities":
            req["Capabilities"] = [[*val.split(","), "gpu"]]
        elif key == "options":
            pairs = next(csv.reader([val]), [])
            req["Options"] = dict(p.partition("=")[::2] for p in pairs)
        else:
            raise bad(f"unexpected key '{key}' in '{item}'")
    if "count" not in seen and req["DeviceIDs"] is None:
        req["Count"] = 1
    req["Options"] = req["Options"] or {}
    req["Capabilities"] = req["Capabilities"] or [["gpu"]]
    return req


def security_opt(cmd: Command, opt: str) -> str:
    """The docker CLI's parseSecurityOpts: a seccomp=FILE is sent as the file's compact JSON
    (the daemon never reads a client's files); "builtin" and "unconfined" go as they are."""
    key, eq, val = opt.partition("=")
    if not eq and key != "no-new-privileges":
        key, eq, val = opt.partition(":")
    if (not eq or not val) and key != "no-new-privileges":
        raise cmd.usage_error(f"Invalid --security-opt: {json.dumps(opt)}")
    if key != "seccomp" or val in ("builtin", "unconfined"):
        return opt
    try:
        with open(val, "rb") as f:
            raw = f.read()
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        msg = f"opening seccomp profile ({val}) failed: open {val}: {reason}"
        raise StatusError(125, msg) from None
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise StatusError(
            125, f"compacting json for seccomp profile ({val}) failed: {exc}"
        ) from None
    return "seccomp=" + json.dumps(doc, separators=(",", ":"))


def _device(cmd: Command, spec: str) -> dict[str, str]:
    """--device /dev/x[:/dev/y][:rwm], as the docker CLI parses it."""
    parts = spec.split(":")
    perms = "rwm"
    if len(parts) == 3:
        src, dst, perms = parts
    elif len(parts) == 2 and parts[1] and set(parts[1]) <= set("rwm"):
        src, dst, perms = parts[0], parts[0], parts[1]
    elif len(parts) == 2:
        src, dst = parts
    elif len(parts) == 1:
        src = dst = parts[0]
    else:
        raise cmd.usage_error(f'invalid argument "{spec}" for "--device" flag')
    if not perms or not set(perms) <= set("rwm"):
        raise cmd.usage_error(f"bad mode specified: {perms}")
    return {"PathOnHost": src, "PathInContainer": dst or src, "CgroupPermissions": perms}


def _ulimit(cmd: Command, spec: str) -> dict[str, Any]:
    name, _, vals = spec.partition("=")
    soft, _, hard = vals.partition(":")
    try:
        return {"Name": name, "Soft": int(soft), "Hard": int(hard or soft)}
    except ValueError:
        raise cmd.usage_error(f"invalid ulimit argument: {spec}") from None
