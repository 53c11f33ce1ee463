"""load(): the flags and daemon.json merged into one DaemonConfig, as dockerd merges them
(a key given both ways is refused), then checked."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from berth.constants import DEFAULT_HOST

from .checks import check, check_loaded
from .flags import flag_forms, parser, policy_flags
from .keys import FILE_KEYS, NETWORK_KEYS, NETWORK_UNSUPPORTED, UNSUPPORTED, net_dest
from .model import DEFAULT_CONFIG_FILE, ConfigError, DaemonConfig
from .resolve import cgroup_parent, policies, policy_specs, registry_options, seccomp_profile


def load(argv: list[str] | None) -> tuple[DaemonConfig, argparse.Namespace]:
    args = parser().parse_args(argv)
    args.policies = policy_flags(args.policies)
    cfg = DaemonConfig()
    path = args.config_file or DEFAULT_CONFIG_FILE
    if args.config_file or Path(path).exists():
        _merge_file(cfg, args, _read(path))
    flag_forms(args)
    _merge_flags(cfg, args)
    check(cfg)
    check_loaded(cfg)
    if not cfg.hosts:
        cfg.hosts = [DEFAULT_HOST]
    registry_options(cfg)  # refuse bad registry options at startup, as dockerd does
    seccomp_profile(cfg)
    cgroup_parent(cfg)
    cfg.policies = policy_specs(cfg)
    policies(cfg)  # a bad policy file stops berthd now
    return cfg, args


def _read(path: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text())
    except OSError as exc:
        raise ConfigError(f"unable to read config file {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise ConfigError(f"invalid JSON in config file {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a JSON object")
    return data


def _merge_file(cfg: DaemonConfig, args: argparse.Namespace, data: dict[str, Any]) -> None:
    """daemon.json's keys into CFG; a key also given as a flag is refused."""
    for key, val in data.items():
        attr = FILE_KEYS.get(key)
        if attr is None and key in NETWORK_KEYS:
            attr = net_dest(key)
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


def _merge_flags(cfg: DaemonConfig, args: argparse.Namespace) -> None:
    """The flags given into CFG (their daemon.json shapes: flag_forms() ran)."""
    for attr in FILE_KEYS.values():
        val = getattr(args, attr, None)
        if val not in (None, []):
            setattr(cfg, attr, val)
    for key in NETWORK_KEYS:
        val = getattr(args, net_dest(key), None)
        if val not in (None, []):
            cfg.network_options[key] = val
    for key, harmless in NETWORK_UNSUPPORTED.items():
        if key in cfg.network_options:
            _unsupported(
                cfg, key, cfg.network_options[key], harmless, "berth's bridge does not read it"
            )


def _unsupported(cfg: DaemonConfig, key: str, val: Any, harmless: Any, instead: str) -> None:
    """A key berth reads but does not implement: a value other than the one berth behaves
    as (or an empty one) is noted for the log at start."""
    if val in (None, "", [], {}, False, 0) or val == harmless:
        return
    cfg.unsupported.append(
        f'daemon.json: "{key}" is not supported by berth and is ignored ({key}={val!r}): {instead}'
    )
