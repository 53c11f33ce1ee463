"""berthd's options: flags modelled on dockerd's, and daemon.json (same key names).

One module per concern: `model` (DaemonConfig), `keys` (daemon.json's key tables),
`flags` (the command line), `loading` (flags and daemon.json merged), `checks`
(dockerd's Validate), `resolve` (the options as the engine and the API take them).
"""

from .checks import check, metrics_address
from .flags import parser
from .keys import FILE_KEYS, NETWORK_KEYS, RELOADABLE, UNSUPPORTED, file_key
from .loading import load
from .model import DEFAULT_CONFIG_FILE, ConfigError, DaemonConfig
from .resolve import (
    cgroup_parent,
    container_defaults,
    policies,
    policy_specs,
    registry_options,
    seccomp_profile,
)

__all__ = [
    "DEFAULT_CONFIG_FILE",
    "FILE_KEYS",
    "NETWORK_KEYS",
    "RELOADABLE",
    "UNSUPPORTED",
    "ConfigError",
    "DaemonConfig",
    "cgroup_parent",
    "check",
    "container_defaults",
    "file_key",
    "load",
    "metrics_address",
    "parser",
    "policies",
    "policy_specs",
    "registry_options",
    "seccomp_profile",
]
