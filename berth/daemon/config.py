"""berthd's options: flags modelled on dockerd's, and daemon.json (same key names)."""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from berth.constants import (
    DEFAULT_DATA_ROOT,
    DEFAULT_EXEC_ROOT,
    DEFAULT_GROUP,
    DEFAULT_HOST,
    DEFAULT_PIDFILE,
)

if TYPE_CHECKING:
    from berth.api.policy import Policy
    from berth.engine.images.registry.config import RegistryOptions

DEFAULT_CONFIG_FILE = "/etc/berth/daemon.json"
_LEVELS = ("debug", "info", "warn", "error", "fatal")


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


# daemon.json key -> DaemonConfig attribute
_FILE_KEYS = {
    "hosts": "hosts",
    "group": "group",
    "data-root": "data_root",
    "exec-root": "exec_root",
    "pidfile": "pidfile",
    "debug": "debug",
    "log-level": "log_level",
    "labels": "labels",
    "cgroup-parent": "cgroup_parent",
    "bridge": "bridge",
    "tls": "tls",
    "tlsverify": "tlsverify",
    "tlscacert": "tlscacert",
    "tlscert": "tlscert",
    "tlskey": "tlskey",
    "insecure-registries": "insecure_registries",
    "registry-mirrors": "registry_mirrors",
    "max-concurrent-downloads": "max_concurrent_downloads",
    "max-concurrent-uploads": "max_concurrent_uploads",
    "seccomp-profile": "seccomp_profile",
    "policies": "policies",
    "shutdown-timeout": "shutdown_timeout",
    "live-restore": "live_restore",
    "log-format": "log_format",
    "log-driver": "log_driver",
    "log-opts": "log_opts",
    "dns": "dns",
    "dns-search": "dns_search",
    "dns-opts": "dns_opts",
    "default-ulimits": "default_ulimits",
    "default-shm-size": "default_shm_size",
    "default-ipc-mode": "default_ipc_mode",
    "default-cgroupns-mode": "default_cgroupns_mode",
    "resolv-conf": "resolv_conf",
    "exec-opts": "exec_opts",
    "features": "features",
    "metrics-addr": "metrics_addr",
}

# the bridge driver's daemon.json keys: handed to the network service as they are (it
# reads and checks them); a flag of the same name lands in args as "net_<key>"
NETWORK_KEYS = (
    "bip", "bip6", "default-address-pools", "icc", "ip-forward", "ip-masq", "iptables",
    "ip6tables", "userland-proxy", "userland-proxy-path", "ipv6", "fixed-cidr",
    "fixed-cidr-v6", "mtu", "default-gateway", "default-gateway-v6", "ip",
    "default-network-opts", "ip-forward-no-drop", "allow-direct-routing",
    "bridge-accept-fwmark", "firewall-backend", "network-control-plane-mtu",
    "host-gateway-ip", "host-gateway-ips",
)  # fmt: skip

# dockerd's keys (20.10 to 28) that berth reads but does not implement: key -> (the value
# berth behaves as, what berth does instead). Another value is logged as unsupported at
# start; dockerd would run with it, so refusing to start would break working configs.
UNSUPPORTED: dict[str, tuple[Any, str]] = {
    "authorization-plugins": ([], "no authorization plugin is consulted (see --policy)"),
    "storage-driver": ("overlay2", "berth stores images and containers with overlay2"),
    "storage-opts": ([], "overlay2 runs without options"),
    "experimental": (False, "berth has no experimental features"),
    "selinux-enabled": (False, "berth loads no SELinux labels"),
    "userns-remap": ("", "containers run without a user namespace remap"),
    "rootless": (False, "berthd runs as root"),
    "default-runtime": ("runc", "containers run on berth's builtin OCI executor"),
    "runtimes": ({}, "containers run on berth's builtin OCI executor"),
    "init": (False, "give --init per container"),
    "init-path": ("", "berth looks for tini-static or docker-init itself"),
    "default-init": ("", "berth looks for tini-static or docker-init itself"),
    "no-new-privileges": (False, "give --security-opt no-new-privileges per container"),
    "oom-score-adjust": (0, "berthd keeps its own OOM score"),
    "cpu-rt-period": (0, "no realtime CPU cgroup settings"),
    "cpu-rt-runtime": (0, "no realtime CPU cgroup settings"),
    "default-stop-timeout": (0, "containers stop after 10 s unless they set their own"),
    "max-download-attempts": (5, "a layer download is tried once"),
    "allow-nondistributable-artifacts": ([], "foreign layers are pulled from where they say"),
    "raw-logs": (False, "the text log has no colours anyway"),
    "api-cors-header": ("", "no CORS headers are sent"),
    "proxies": ({}, "pulls use the proxy environment of berthd"),
    "http-proxy": ("", "pulls use the proxy environment of berthd"),
    "https-proxy": ("", "pulls use the proxy environment of berthd"),
    "no-proxy": ("", "pulls use the proxy environment of berthd"),
    "builder": ({}, "the classic builder runs without garbage-collection settings"),
    "containerd": ("", "berth runs no containerd"),
    "containerd-namespace": ("", "berth runs no containerd"),
    "containerd-plugin-namespace": ("", "berth runs no containerd"),
    "cri-containerd": (False, "berth runs no containerd"),
    "cdi-spec-dirs": ([], "no CDI devices"),
    "nri-opts": ({}, "no NRI plugins"),
    "min-api-version": ("", "berth serves its own API version range"),
    "node-generic-resources": ([], "berth has no swarm mode"),
    "swarm-default-advertise-addr": ("", "berth has no swarm mode"),
    "swarm-raft-heartbeat-tick": (0, "berth has no swarm mode"),
    "swarm-raft-election-tick": (0, "berth has no swarm mode"),
    "network-diagnostic-port": (0, "berth has no network diagnostic server"),
    "cluster-store": ("", "berth has no cluster store (removed in dockerd 23)"),
    "cluster-store-opts": ({}, "berth has no cluster store (removed in dockerd 23)"),
    "cluster-advertise": ("", "berth has no cluster store (removed in dockerd 23)"),
    "graph": ("", 'use "data-root" (the key dockerd 23 removed)'),
}

# the network keys berth's bridge does not (yet) read: warned about like UNSUPPORTED
_NETWORK_UNSUPPORTED = {
    "bip6": "", "ip6tables": False, "userland-proxy-path": "", "default-network-opts": {},
    "ip-forward-no-drop": False, "allow-direct-routing": False, "bridge-accept-fwmark": "",
    "firewall-backend": "", "network-control-plane-mtu": 0, "host-gateway-ip": "",
    "host-gateway-ips": [],
}  # fmt: skip

# dockerd's log drivers that berth does not have: a default of one of them is warned
# about and new containers log with json-file (dockerd would run with it)
_FOREIGN_LOG_DRIVERS = frozenset(
    {"awslogs", "etwlogs", "fluentd", "gcplogs", "gelf", "journald", "logentries", "splunk",
     "syslog"}
)  # fmt: skip

# what SIGHUP applies to a running berthd (those of dockerd's live-reloadable options that
# berth has); a change to any other key is logged as needing a restart
RELOADABLE = (
    "debug",
    "log_level",
    "labels",
    "max_concurrent_downloads",
    "max_concurrent_uploads",
    "insecure_registries",
    "registry_mirrors",
    "shutdown_timeout",
    "live_restore",
)


def _gobool(text: str) -> bool:
    """A boolean flag's value as Go's strconv.ParseBool reads it (--icc=false)."""
    if text in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if text in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise argparse.ArgumentTypeError(f"parse error on {text!r}: invalid syntax")


_BOOL_FLAG = {"nargs": "?", "const": True, "type": _gobool}
# dockerd's network flags (the names of their daemon.json keys), kept out of --help: the
# network service documents what it reads
_NETWORK_FLAGS: dict[str, dict[str, Any]] = {
    "bip": {}, "fixed-cidr": {}, "fixed-cidr-v6": {}, "mtu": {"type": int},
    "default-gateway": {}, "default-gateway-v6": {}, "ip": {},
    "icc": _BOOL_FLAG, "ip-forward": _BOOL_FLAG, "ip-masq": _BOOL_FLAG,
    "iptables": _BOOL_FLAG, "ip6tables": _BOOL_FLAG, "userland-proxy": _BOOL_FLAG,
    "ipv6": _BOOL_FLAG, "default-address-pool": {"action": "append"},
}  # fmt: skip


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="berthd", description="The berth container engine daemon")
    p.add_argument(
        "-H",
        "--host",
        action="append",
        dest="hosts",
        metavar="HOST",
        help="daemon socket(s) to listen on: unix:///path, tcp://ADDR:PORT, fd://",
    )
    p.add_argument("-G", "--group", help=f"group for the unix socket (default {DEFAULT_GROUP})")
    p.add_argument("--data-root", help=f"root of persistent state (default {DEFAULT_DATA_ROOT})")
    p.add_argument("--exec-root", help=f"root of runtime state (default {DEFAULT_EXEC_ROOT})")
    p.add_argument("-p", "--pidfile", help=f"pid file (default {DEFAULT_PIDFILE})")
    p.add_argument(
        "--config-file", default=None, help=f"daemon.json (default {DEFAULT_CONFIG_FILE})"
    )
    p.add_argument("-D", "--debug", action="store_true", default=None, help="debug mode")
    p.add_argument("-l", "--log-level", choices=_LEVELS, help="logging level")
    p.add_argument("--label", action="append", dest="labels", help="engine label key=value")
    p.add_argument("--cgroup-parent", help="parent cgroup of all containers (default berth)")
    p.add_argument("-b", "--bridge", help="Linux bridge of the default network (default berth0)")
    p.add_argument("--tls", action="store_true", default=None, help="use TLS")
    p.add_argument(
        "--tlsverify",
        action="store_true",
        default=None,
        help="use TLS and verify the client certificate",
    )
    p.add_argument("--tlscacert", help="trust certs signed only by this CA")
    p.add_argument("--tlscert", help="path to the TLS certificate")
    p.add_argument("--tlskey", help="path to the TLS key")
    p.add_argument(
        "--insecure-registry",
        action="append",
        dest="insecure_registries",
        metavar="REGISTRY",
        help="registry (host[:port] or CIDR) to reach without TLS verification",
    )
    p.add_argument(
        "--registry-mirror",
        action="append",
        dest="registry_mirrors",
        metavar="URL",
        help="preferred Docker Hub mirror",
    )
    p.add_argument(
        "--max-concurrent-downloads",
        type=int,
        metavar="N",
        help="max concurrent layer downloads per pull (default 3)",
    )
    p.add_argument(
        "--max-concurrent-uploads",
        type=int,
        metavar="N",
        help="max concurrent layer uploads per push (default 5)",
    )
    p.add_argument(
        "--seccomp-profile",
        metavar="PATH",
        help='default seccomp profile: a JSON file, "builtin" or "unconfined" (default builtin)',
    )
    p.add_argument(
        "--policy",
        action="append",
        dest="policies",
        metavar="HOST=POLICY",
        help="access policy of a listener (-H HOST): full (default), read-only, or the path "
        "of a policy file (.json, .yaml, .yml); repeatable",
    )
    p.add_argument(
        "--shutdown-timeout",
        type=int,
        metavar="SECONDS",
        help="time the containers get to stop when berthd stops (default 15)",
    )
    p.add_argument(
        "--live-restore",
        action="store_true",
        default=None,
        help="keep the containers running while berthd is down",
    )
    p.add_argument(
        "--log-format", choices=("text", "json"), help="format of berthd's log (default text)"
    )
    p.add_argument("--log-driver", help="default log driver of containers (default json-file)")
    p.add_argument(
        "--log-opt", action="append", dest="log_opts", metavar="KEY=VALUE",
        help="default log driver options of containers",
    )  # fmt: skip
    p.add_argument("--dns", action="append", metavar="IP", help="DNS server for containers")
    p.add_argument("--dns-search", action="append", metavar="DOMAIN", help="DNS search domain")
    p.add_argument("--dns-opt", action="append", dest="dns_opts", metavar="OPT", help="DNS option")
    p.add_argument(
        "--default-ulimit", action="append", dest="default_ulimits", metavar="NAME=SOFT[:HARD]",
        help="default ulimit of containers",
    )  # fmt: skip
    p.add_argument("--default-shm-size", metavar="SIZE", help="default /dev/shm size (64M)")
    p.add_argument("--default-ipc-mode", help='default IPC mode: "private" or "shareable"')
    p.add_argument("--default-cgroupns-mode", help='default cgroup namespace: "host" or "private"')
    p.add_argument("--exec-opt", action="append", dest="exec_opts", help="runtime options")
    p.add_argument(
        "--metrics-addr", metavar="HOST:PORT", help="serve Prometheus metrics at /metrics"
    )
    for key, kind in _NETWORK_FLAGS.items():
        p.add_argument(
            f"--{key}",
            dest="net_" + key.replace("-", "_"),
            help=argparse.SUPPRESS,
            **kind,  # type: ignore[arg-type]
        )
    p.add_argument("--validate", action="store_true", help="check the configuration and exit")
    p.add_argument("-v", "--version", action="store_true", help="print version and exit")
    return p


def load(argv: list[str] | None) -> tuple[DaemonConfig, argparse.Namespace]:
    args = parser().parse_args(argv)
    args.policies = _policy_flags(args.policies)
    cfg = DaemonConfig()
    path = args.config_file or DEFAULT_CONFIG_FILE
    if args.config_file or Path(path).exists():
        try:
            data = json.loads(Path(path).read_text())
        except OSError as exc:
            raise ConfigError(f"unable to read config file {path}: {exc.strerror}") from exc
        except ValueError as exc:
            raise ConfigError(f"invalid JSON in config file {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"config file {path} must hold a JSON object")
        for key, val in data.items():
            attr = _FILE_KEYS.get(key)
            if attr is None and key in NETWORK_KEYS:
                attr = _net_dest(key)
                cfg.network_options[key] = val
            elif attr is None and key in UNSUPPORTED:
                _unsupported(cfg, key, val, UNSUPPORTED[key][0], UNSUPPORTED[key][1])
                continue
            if attr is None:
                raise ConfigError(
                    f"the following directives don't match any configuration option: {key}"
                )
            flag_val = getattr(args, attr, None)
            if flag_val not in (None, []):
                raise ConfigError(
                    "the following directives are specified both as a flag and in the "
                    f"configuration file: {key}: (from flag: {flag_val}, from file: {val})"
                )
            if hasattr(cfg, attr):
                setattr(cfg, attr, val)
    _flag_forms(args)
    for attr in _FILE_KEYS.values():
        val = getattr(args, attr, None)
        if val not in (None, []):
            setattr(cfg, attr, val)
    for key in NETWORK_KEYS:
        val = getattr(args, _net_dest(key), None)
        if val not in (None, []):
            cfg.network_options[key] = val
    for key, harmless in _NETWORK_UNSUPPORTED.items():
        if key in cfg.network_options:
            _unsupported(
                cfg, key, cfg.network_options[key], harmless, "berth's bridge does not read it"
            )
    check(cfg)
    if cfg.log_level not in _LEVELS:
        raise ConfigError(f"unable to parse logging level: {cfg.log_level}")
    if not isinstance(cfg.live_restore, bool):
        raise ConfigError(f"invalid live-restore {cfg.live_restore!r}: expected true or false")
    if not isinstance(cfg.shutdown_timeout, int) or isinstance(cfg.shutdown_timeout, bool):
        raise ConfigError(f"invalid shutdown-timeout {cfg.shutdown_timeout!r}: expected seconds")
    if not cfg.hosts:
        cfg.hosts = [DEFAULT_HOST]
    registry_options(cfg)  # refuse bad registry options at startup, as dockerd does
    seccomp_profile(cfg)
    cgroup_parent(cfg)
    cfg.policies = policy_specs(cfg)
    policies(cfg)  # a bad policy file stops berthd now
    return cfg, args


def _net_dest(key: str) -> str:
    flag = "default-address-pool" if key == "default-address-pools" else key
    return "net_" + flag.replace("-", "_")


def _unsupported(cfg: DaemonConfig, key: str, val: Any, harmless: Any, instead: str) -> None:
    """A key berth reads but does not implement: a value other than the one berth behaves
    as (or an empty one) is noted for the log at start."""
    if val in (None, "", [], {}, False, 0) or val == harmless:
        return
    cfg.unsupported.append(
        f'daemon.json: "{key}" is not supported by berth and is ignored ({key}={val!r}): {instead}'
    )


def _pairs(items: list[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        k, sep, v = item.partition("=")
        if not sep or not k:
            raise ConfigError(f"invalid {what} {item!r}: expected KEY=VALUE")
        out[k] = v
    return out


def _flag_forms(args: argparse.Namespace) -> None:
    """The list flags turned into their daemon.json shapes (--log-opt k=v: log-opts)."""
    if args.log_opts:
        args.log_opts = _pairs(args.log_opts, "--log-opt")
    if args.default_ulimits:
        args.default_ulimits = {u["Name"]: u for u in map(_ulimit_flag, args.default_ulimits)}
    pools = getattr(args, "net_default_address_pool", None)
    if pools:
        out = []
        for item in pools:
            pool: dict[str, Any] = {}
            for part in item.split(","):
                k, _, v = part.partition("=")
                pool[k] = int(v) if k == "size" and v.isdigit() else v
            out.append(pool)
        args.net_default_address_pool = out


def _ulimit_flag(text: str) -> dict[str, Any]:
    """go-units ParseUlimit: NAME=SOFT[:HARD]."""
    name, sep, limits = text.partition("=")
    if not sep:
        raise ConfigError(f"invalid ulimit argument: {text}")
    soft, _, hard = limits.partition(":")
    try:
        s = int(soft)
        h = int(hard) if hard else s
    except ValueError:
        raise ConfigError(f"invalid ulimit argument: {text}") from None
    return {"Name": name, "Soft": s, "Hard": h}


def check(cfg: DaemonConfig) -> None:
    """dockerd's Validate for the keys berth implements (a ConfigError stops berthd)."""
    _typed(cfg)
    if cfg.log_format not in ("text", "json"):
        raise ConfigError(f"invalid log format: {cfg.log_format}")
    for label in cfg.labels:
        if "=" not in label:
            raise ConfigError(f"bad attribute format: {label}")
        if label.lower().startswith(("com.docker.", "io.docker.", "org.dockerproject.")):
            raise ConfigError(
                f"label {label} is not allowed: the namespaces com.docker.*, io.docker.*, "
                "and org.dockerproject.* are reserved for internal use"
            )
    import ipaddress

    for ip in cfg.dns:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise ConfigError(f"IP address is not correctly formatted: {ip}") from None
    for domain in cfg.dns_search:
        if domain.strip(" ") != "." and not _valid_domain(domain):
            raise ConfigError(f"{domain} is not a valid domain")
    for opt in cfg.exec_opts:
        k, sep, v = opt.partition("=")
        k, v = k.strip().lower(), v.strip()
        if not sep or not k or not v:
            raise ConfigError(f"invalid exec-opt ({opt}): must be formatted 'opt=value'")
        if k == "isolation":
            raise ConfigError(
                f"invalid exec-opt ({opt}): option '{k}' is only supported on windows"
            )
        if k != "native.cgroupdriver":
            raise ConfigError(f"invalid exec-opt ({opt}): unknown option: '{k}'")
        if v == "systemd":
            raise ConfigError(
                "native.cgroupdriver option systemd not supported: berth has no systemd cgroup "
                "driver (use native.cgroupdriver=cgroupfs)"
            )
        if v == "none":
            raise ConfigError(
                f"native.cgroupdriver option {v} is internally used and cannot be specified "
                "manually"
            )
        if v != "cgroupfs":
            raise ConfigError(f"native.cgroupdriver option {v} not supported")
    ipc = cfg.default_ipc_mode
    if ipc and ipc not in ("private", "shareable"):
        valid = ipc in ("host", "none") or ipc.startswith("container:")
        raise ConfigError(
            f'IPC mode "{ipc}" is not supported as default value; use "shareable" or "private"'
            if valid
            else f'default IPC mode setting ({ipc}) is invalid; use "shareable" or "private"'
        )
    if cfg.default_cgroupns_mode not in ("", "host", "private"):
        raise ConfigError(
            f"invalid default cgroup namespace ({cfg.default_cgroupns_mode}): "
            'use "host" or "private"'
        )
    container_defaults(cfg)  # log-driver, log-opts, ulimits, shm size
    if cfg.metrics_addr:
        metrics_address(cfg.metrics_addr)
    if cfg.features.get("buildkit"):
        cfg.unsupported.append(
            'daemon.json: features "buildkit": true is not supported by berth: builds use '
            "the classic builder"
        )
    for name, on in cfg.features.items():
        if name != "buildkit" and on:
            cfg.unsupported.append(
                f'daemon.json: feature "{name}" is not supported by berth and is ignored'
            )


_DOMAIN = re.compile(
    r"^(:?(:?[a-zA-Z0-9]|(:?[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9]))"
    r"(:?\.(:?[a-zA-Z0-9]|(:?[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9])))*)\.?\s*$"
)


def _valid_domain(val: str) -> bool:
    """dockerd's validateDomain (opts.ValidateDNSSearch)."""
    if not re.search(r"[a-zA-Z]", val):
        return False
    m = _DOMAIN.match(val)
    return m is not None and len(m.group(1)) < 255


# what each implemented daemon.json key must decode to (as dockerd's typed struct does)
_TYPES: dict[str, type | tuple[type, ...]] = {
    "log_format": str, "log_driver": str, "log_opts": dict, "dns": list, "dns_search": list,
    "dns_opts": list, "default_ulimits": dict, "default_shm_size": (str, int),
    "default_ipc_mode": str, "default_cgroupns_mode": str, "resolv_conf": str,
    "exec_opts": list, "features": dict, "metrics_addr": str, "labels": list,
}  # fmt: skip


def _typed(cfg: DaemonConfig) -> None:
    key = {a: k for k, a in _FILE_KEYS.items()}
    for attr, kind in _TYPES.items():
        val = getattr(cfg, attr)
        if not isinstance(val, kind) or isinstance(val, bool):
            raise ConfigError(f"invalid {key[attr]} {val!r}: wrong type")
        items = val.values() if isinstance(val, dict) else val if isinstance(val, list) else ()
        want = {"features": bool, "default_ulimits": dict}.get(attr, str)
        if any(not isinstance(v, want) for v in items):
            raise ConfigError(f"invalid {key[attr]} {val!r}: wrong type of an element")


def metrics_address(addr: str) -> tuple[str, int]:
    """--metrics-addr HOST:PORT as (host, port); [::1]:9323 for IPv6."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"invalid metrics-addr {addr!r}: expected HOST:PORT")
    return host.strip("[]"), int(port)


def container_defaults(cfg: DaemonConfig) -> Any:
    """The defaults of new containers (a berth.engine.containers.defaults.ContainerDefaults)
    from the daemon's options, checked as dockerd checks them at start."""
    from berth.engine.containers import defaults, hostopts
    from berth.engine.containers.model import HostConfig
    from berth.engine.errors import InvalidParameter

    driver = cfg.log_driver or "json-file"
    opts = dict(cfg.log_opts)
    if driver in _FOREIGN_LOG_DRIVERS:
        note = (
            f'daemon.json: log-driver "{driver}" is not supported by berth: new containers '
            "log with json-file"
        )
        if note not in cfg.unsupported:
            cfg.unsupported.append(note)
        driver, opts = "json-file", {}
    try:
        hostopts.validate_log_config(driver, opts)
        # the values too: a bad one would fail every container's start
        if "max-size" in opts:
            hostopts.ram_in_bytes(opts["max-size"])
        if "max-file" in opts:
            int(opts["max-file"])
    except InvalidParameter as exc:
        raise ConfigError(f"failed to set log opts: {exc.message}") from exc
    except ValueError as exc:
        raise ConfigError(f"failed to set log opts: {exc}") from exc
    ulimits = []
    for name, ul in cfg.default_ulimits.items():
        ul = {"Name": name, **ul}
        try:
            hostopts.validate(HostConfig(ulimits=[ul]))
        except InvalidParameter as exc:
            raise ConfigError(f"invalid default-ulimits: {exc.message}") from exc
        ulimits.append({"Name": ul["Name"], "Soft": ul.get("Soft", 0), "Hard": ul.get("Hard", 0)})
    shm = 0
    if cfg.default_shm_size not in ("", 0):
        try:
            raw = cfg.default_shm_size
            shm = raw if isinstance(raw, int) else hostopts.ram_in_bytes(raw)
        except ValueError as exc:
            raise ConfigError(f"invalid default-shm-size: {exc}") from None
        if shm <= 0:
            raise ConfigError(f"invalid default-shm-size {cfg.default_shm_size!r}")
    return defaults.ContainerDefaults(
        log_driver=driver,
        log_opts=opts,
        ulimits=tuple(ulimits),
        shm_size=shm or defaults.SHM_SIZE,
        ipc_mode=cfg.default_ipc_mode,
        cgroupns_mode=cfg.default_cgroupns_mode,
        dns=tuple(cfg.dns),
        dns_search=tuple(cfg.dns_search),
        dns_opts=tuple(cfg.dns_opts),
        resolv_conf=cfg.resolv_conf or defaults.RESOLV_CONF,
    )


def _policy_flags(items: list[str] | None) -> dict[str, str] | None:
    """The "--policy HOST=POLICY" flags as daemon.json's "policies" object."""
    if not items:
        return None
    out: dict[str, str] = {}
    for item in items:
        host, sep, spec = item.partition("=")
        if not sep or not host or not spec:
            raise ConfigError(f"invalid --policy {item!r}: expected HOST=POLICY")
        if host in out:
            raise ConfigError(f"--policy given twice for {host}")
        out[host] = spec
    return out


def policy_specs(cfg: DaemonConfig) -> dict[str, str]:
    """host -> policy spec ("--policy" flags or daemon.json's "policies"), checked: every
    host must be one berthd listens on, spelled as it is given to -H."""
    raw: object = cfg.policies
    if not isinstance(raw, dict):
        raise ConfigError('"policies" must be an object: {"HOST": "POLICY"}')
    out: dict[str, str] = {}
    for host, spec in raw.items():
        if not isinstance(spec, str) or not spec:
            raise ConfigError(
                f'invalid "policies" entry for {host}: expected "full", "read-only" or '
                "the path of a policy file"
            )
        out[str(host)] = spec
    for host in out:
        if host not in cfg.hosts:
            raise ConfigError(
                f"policy for {host}, which berthd does not listen on (hosts: "
                f"{', '.join(cfg.hosts)}): a policy's host must be given as it is to -H"
            )
    return out


def policies(cfg: DaemonConfig) -> dict[str, Policy]:
    """Each listener's policy (host as given to -H -> Policy; `full` where none is set),
    loaded now: an unknown name or a missing or invalid policy file is a ConfigError."""
    from berth.api import policy

    specs = policy_specs(cfg)
    out: dict[str, Policy] = {}
    for host in cfg.hosts:
        spec = specs.get(host, "full")
        try:
            out[host] = policy.load(spec)
        except policy.PolicyError as exc:
            raise ConfigError(f"invalid policy for {host}: {exc}") from exc
    return out


def cgroup_parent(cfg: DaemonConfig) -> str:
    """The parent cgroup of all containers, refused at start if a `..` in it would climb
    above the cgroup hierarchy's root."""
    value = cfg.cgroup_parent
    from berth.runtime import cgroups

    if not isinstance(value, str) or "\x00" in value or cgroups.climbs_out(value):
        raise ConfigError(
            f"invalid --cgroup-parent {value!r}: the cgroup must stay inside the cgroup "
            "hierarchy (a '..' may not climb above its root)"
        )
    return value


def seccomp_profile(cfg: DaemonConfig) -> str:
    """The daemon's default seccomp profile as the engine takes it: "", "unconfined", or
    the profile file's text, checked now so that a bad file stops berthd at start."""
    value = cfg.seccomp_profile or ""
    if value in ("", "builtin", "unconfined"):
        return "" if value == "builtin" else value
    from berth.runtime.seccomp import profile

    try:
        text = Path(value).read_text()
    except OSError as exc:
        raise ConfigError(f"opening seccomp profile ({value}) failed: {exc.strerror}") from exc
    try:
        profile.parse_profile(text)
    except profile.ProfileError as exc:
        raise ConfigError(f"loading seccomp profile ({value}) failed: {exc}") from exc
    return text


def registry_options(cfg: DaemonConfig) -> RegistryOptions:
    from berth.engine.errors import EngineError
    from berth.engine.images.registry.config import RegistryOptions

    try:
        return RegistryOptions.build(
            cfg.insecure_registries,
            cfg.registry_mirrors,
            cfg.max_concurrent_downloads,
            cfg.max_concurrent_uploads,
        )
    except EngineError as exc:
        raise ConfigError(exc.message) from exc
