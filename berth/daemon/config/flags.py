"""berthd's command line, modelled on dockerd's flags, and the list flags turned into the
shapes their daemon.json keys have."""

from __future__ import annotations

import argparse
from typing import Any

from berth.constants import DEFAULT_DATA_ROOT, DEFAULT_EXEC_ROOT, DEFAULT_GROUP, DEFAULT_PIDFILE

from .model import DEFAULT_CONFIG_FILE, LEVELS, ConfigError


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

_ON = {"action": "store_true", "default": None}  # a switch that may also come from daemon.json
_LIST = {"action": "append"}

# the flags in --help's order: (names, add_argument's keywords)
_FLAGS: tuple[tuple[tuple[str, ...], dict[str, Any]], ...] = (
    (("-H", "--host"), {**_LIST, "dest": "hosts", "metavar": "HOST",
        "help": "daemon socket(s) to listen on: unix:///path, tcp://ADDR:PORT, fd://"}),
    (("-G", "--group"), {"help": f"group for the unix socket (default {DEFAULT_GROUP})"}),
    (("--data-root",), {"help": f"root of persistent state (default {DEFAULT_DATA_ROOT})"}),
    (("--exec-root",), {"help": f"root of runtime state (default {DEFAULT_EXEC_ROOT})"}),
    (("-p", "--pidfile"), {"help": f"pid file (default {DEFAULT_PIDFILE})"}),
    (("--config-file",), {"default": None, "help": f"daemon.json (default {DEFAULT_CONFIG_FILE})"}),
    (("-D", "--debug"), {**_ON, "help": "debug mode"}),
    (("-l", "--log-level"), {"choices": LEVELS, "help": "logging level"}),
    (("--label",), {**_LIST, "dest": "labels", "help": "engine label key=value"}),
    (("--cgroup-parent",), {"help": "parent cgroup of all containers (default berth)"}),
    (("-b", "--bridge"), {"help": "Linux bridge of the default network (default berth0)"}),
    (("--tls",), {**_ON, "help": "use TLS"}),
    (("--tlsverify",), {**_ON, "help": "use TLS and verify the client certificate"}),
    (("--tlscacert",), {"help": "trust certs signed only by this CA"}),
    (("--tlscert",), {"help": "path to the TLS certificate"}),
    (("--tlskey",), {"help": "path to the TLS key"}),
    (("--insecure-registry",), {**_LIST, "dest": "insecure_registries", "metavar": "REGISTRY",
        "help": "registry (host[:port] or CIDR) to reach without TLS verification"}),
    (("--registry-mirror",), {**_LIST, "dest": "registry_mirrors", "metavar": "URL",
        "help": "preferred Docker Hub mirror"}),
    (("--max-concurrent-downloads",), {"type": int, "metavar": "N",
        "help": "max concurrent layer downloads per pull (default 3)"}),
    (("--max-concurrent-uploads",), {"type": int, "metavar": "N",
        "help": "max concurrent layer uploads per push (default 5)"}),
    (("--seccomp-profile",), {"metavar": "PATH",
        "help": 'default seccomp profile: a JSON file, "builtin" or "unconfined" (default '
        'builtin)'}),
    (("--policy",), {**_LIST, "dest": "policies", "metavar": "HOST=POLICY",
        "help": "access policy of a listener (-H HOST): full (default), read-only, or the path "
        "of a policy file (.json, .yaml, .yml); repeatable"}),
    (("--shutdown-timeout",), {"type": int, "metavar": "SECONDS",
        "help": "time the containers get to stop when berthd stops (default 15)"}),
    (("--live-restore",), {**_ON, "help": "keep the containers running while berthd is down"}),
    (("--shim-memory-merge",), {**_ON, "help": "let the kernel's KSM merge the identical pages "
        "of container shims (needs /sys/kernel/mm/ksm/run = 1; containers are never merged)"}),
    (("--log-format",), {"choices": ("text", "json"),
        "help": "format of berthd's log (default text)"}),
    (("--log-driver",), {"help": "default log driver of containers (default json-file)"}),
    (("--log-opt",), {**_LIST, "dest": "log_opts", "metavar": "KEY=VALUE",
        "help": "default log driver options of containers"}),
    (("--dns",), {**_LIST, "metavar": "IP", "help": "DNS server for containers"}),
    (("--dns-search",), {**_LIST, "metavar": "DOMAIN", "help": "DNS search domain"}),
    (("--dns-opt",), {**_LIST, "dest": "dns_opts", "metavar": "OPT", "help": "DNS option"}),
    (("--default-ulimit",), {**_LIST, "dest": "default_ulimits", "metavar": "NAME=SOFT[:HARD]",
        "help": "default ulimit of containers"}),
    (("--default-shm-size",), {"metavar": "SIZE", "help": "default /dev/shm size (64M)"}),
    (("--default-ipc-mode",), {"help": 'default IPC mode: "private" or "shareable"'}),
    (("--default-cgroupns-mode",), {"help": 'default cgroup namespace: "host" or "private"'}),
    (("--exec-opt",), {**_LIST, "dest": "exec_opts", "help": "runtime options"}),
    (("--metrics-addr",), {"metavar": "HOST:PORT", "help": "serve Prometheus metrics at /metrics"}),
) + tuple(
    ((f"--{key}",), {"dest": "net_" + key.replace("-", "_"), "help": argparse.SUPPRESS, **kind})
    for key, kind in _NETWORK_FLAGS.items()
) + (
    (("--validate",), {"action": "store_true", "help": "check the configuration and exit"}),
    (("-v", "--version"), {"action": "store_true", "help": "print version and exit"}),
)  # fmt: skip


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="berthd", description="The berth container engine daemon")
    for names, kwargs in _FLAGS:
        p.add_argument(*names, **kwargs)
    return p


def policy_flags(items: list[str] | None) -> dict[str, str] | None:
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


def _pairs(items: list[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        k, sep, v = item.partition("=")
        if not sep or not k:
            raise ConfigError(f"invalid {what} {item!r}: expected KEY=VALUE")
        out[k] = v
    return out


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


def _address_pool(item: str) -> dict[str, Any]:
    """--default-address-pool base=10.10.0.0/16,size=24 as daemon.json writes it."""
    pool: dict[str, Any] = {}
    for part in item.split(","):
        k, _, v = part.partition("=")
        pool[k] = int(v) if k == "size" and v.isdigit() else v
    return pool


def flag_forms(args: argparse.Namespace) -> None:
    """The list flags turned into their daemon.json shapes (--log-opt k=v: log-opts)."""
    if args.log_opts:
        args.log_opts = _pairs(args.log_opts, "--log-opt")
    if args.default_ulimits:
        args.default_ulimits = {u["Name"]: u for u in map(_ulimit_flag, args.default_ulimits)}
    pools = getattr(args, "net_default_address_pool", None)
    if pools:
        args.net_default_address_pool = [_address_pool(item) for item in pools]
