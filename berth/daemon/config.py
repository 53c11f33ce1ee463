"""berthd's options: flags modelled on dockerd's, and daemon.json (same key names)."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

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
}

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
            setattr(cfg, attr, val)
    for attr in _FILE_KEYS.values():
        val = getattr(args, attr, None)
        if val not in (None, []):
            setattr(cfg, attr, val)
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
