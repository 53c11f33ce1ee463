"""dockerd's Validate for the daemon.json keys berth implements: a ConfigError stops
berthd; a key berth accepts but ignores is noted in `cfg.unsupported` for the log."""

from __future__ import annotations

import ipaddress
import re

from .keys import FILE_KEYS, TYPES
from .model import LEVELS, ConfigError, DaemonConfig
from .resolve import container_defaults

_RESERVED_LABELS = ("com.docker.", "io.docker.", "org.dockerproject.")
_DOMAIN = re.compile(
    r"^(:?(:?[a-zA-Z0-9]|(:?[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9]))"
    r"(:?\.(:?[a-zA-Z0-9]|(:?[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9])))*)\.?\s*$"
)


def check(cfg: DaemonConfig) -> None:
    """dockerd's Validate for the keys berth implements (a ConfigError stops berthd)."""
    _typed(cfg)
    if cfg.log_format not in ("text", "json"):
        raise ConfigError(f"invalid log format: {cfg.log_format}")
    _check_labels(cfg.labels)
    _check_dns(cfg)
    for opt in cfg.exec_opts:
        _check_exec_opt(opt)
    _check_namespace_modes(cfg)
    container_defaults(cfg)  # log-driver, log-opts, ulimits, shm size
    if cfg.metrics_addr:
        metrics_address(cfg.metrics_addr)
    _note_features(cfg)


def check_loaded(cfg: DaemonConfig) -> None:
    """What load() checks once the flags and daemon.json are merged, after check()."""
    if cfg.log_level not in LEVELS:
        raise ConfigError(f"unable to parse logging level: {cfg.log_level}")
    if not isinstance(cfg.live_restore, bool):
        raise ConfigError(f"invalid live-restore {cfg.live_restore!r}: expected true or false")
    if not isinstance(cfg.shim_memory_merge, bool):
        raise ConfigError(
            f"invalid shim-memory-merge {cfg.shim_memory_merge!r}: expected true or false"
        )
    if not isinstance(cfg.shutdown_timeout, int) or isinstance(cfg.shutdown_timeout, bool):
        raise ConfigError(f"invalid shutdown-timeout {cfg.shutdown_timeout!r}: expected seconds")


def _typed(cfg: DaemonConfig) -> None:
    key = {a: k for k, a in FILE_KEYS.items()}
    for attr, kind in TYPES.items():
        val = getattr(cfg, attr)
        if not isinstance(val, kind) or isinstance(val, bool):
            raise ConfigError(f"invalid {key[attr]} {val!r}: wrong type")
        items = val.values() if isinstance(val, dict) else val if isinstance(val, list) else ()
        want = {"features": bool, "default_ulimits": dict}.get(attr, str)
        if any(not isinstance(v, want) for v in items):
            raise ConfigError(f"invalid {key[attr]} {val!r}: wrong type of an element")


def _check_labels(labels: list[str]) -> None:
    for label in labels:
        if "=" not in label:
            raise ConfigError(f"bad attribute format: {label}")
        if label.lower().startswith(_RESERVED_LABELS):
            raise ConfigError(
                f"label {label} is not allowed: the namespaces com.docker.*, io.docker.*, "
                "and org.dockerproject.* are reserved for internal use"
            )


def _check_dns(cfg: DaemonConfig) -> None:
    for ip in cfg.dns:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise ConfigError(f"IP address is not correctly formatted: {ip}") from None
    for domain in cfg.dns_search:
        if domain.strip(" ") != "." and not _valid_domain(domain):
            raise ConfigError(f"{domain} is not a valid domain")


def _valid_domain(val: str) -> bool:
    """dockerd's validateDomain (opts.ValidateDNSSearch)."""
    if not re.search(r"[a-zA-Z]", val):
        return False
    m = _DOMAIN.match(val)
    return m is not None and len(m.group(1)) < 255


def _check_exec_opt(opt: str) -> None:
    """One exec-opt: berth knows only native.cgroupdriver=cgroupfs."""
    k, sep, v = opt.partition("=")
    k, v = k.strip().lower(), v.strip()
    if not sep or not k or not v:
        raise ConfigError(f"invalid exec-opt ({opt}): must be formatted 'opt=value'")
    if k == "isolation":
        raise ConfigError(f"invalid exec-opt ({opt}): option '{k}' is only supported on windows")
    if k != "native.cgroupdriver":
        raise ConfigError(f"invalid exec-opt ({opt}): unknown option: '{k}'")
    if v == "systemd":
        raise ConfigError(
            "native.cgroupdriver option systemd not supported: berth has no systemd cgroup "
            "driver (use native.cgroupdriver=cgroupfs)"
        )
    if v == "none":
        raise ConfigError(
            f"native.cgroupdriver option {v} is internally used and cannot be specified manually"
        )
    if v != "cgroupfs":
        raise ConfigError(f"native.cgroupdriver option {v} not supported")


def _check_namespace_modes(cfg: DaemonConfig) -> None:
    """default-ipc-mode and default-cgroupns-mode."""
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


def _note_features(cfg: DaemonConfig) -> None:
    """features berth does not have are noted, not refused (dockerd would run with them)."""
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


def metrics_address(addr: str) -> tuple[str, int]:
    """--metrics-addr HOST:PORT as (host, port); [::1]:9323 for IPv6."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"invalid metrics-addr {addr!r}: expected HOST:PORT")
    return host.strip("[]"), int(port)
