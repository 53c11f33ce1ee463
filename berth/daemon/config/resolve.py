"""The options turned into what the engine and the API take (container defaults, registry
options, the seccomp profile, each listener's policy), each checked so that a bad one stops
berthd at start rather than failing later."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .keys import FOREIGN_LOG_DRIVERS
from .model import ConfigError, DaemonConfig

if TYPE_CHECKING:
    from berth.api.policy import Policy
    from berth.engine.images.registry.config import RegistryOptions


def _log_defaults(cfg: DaemonConfig) -> tuple[str, dict[str, str]]:
    """The default log driver and its options; a driver berth lacks becomes json-file."""
    from berth.engine.containers import hostopts
    from berth.engine.errors import InvalidParameter

    driver = cfg.log_driver or "json-file"
    opts = dict(cfg.log_opts)
    if driver in FOREIGN_LOG_DRIVERS:
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
    return driver, opts


def _ulimit_defaults(cfg: DaemonConfig) -> tuple[dict[str, Any], ...]:
    from berth.engine.containers import hostopts
    from berth.engine.containers.model import HostConfig
    from berth.engine.errors import InvalidParameter

    ulimits = []
    for name, ul in cfg.default_ulimits.items():
        ul = {"Name": name, **ul}
        try:
            hostopts.validate(HostConfig(ulimits=[ul]))
        except InvalidParameter as exc:
            raise ConfigError(f"invalid default-ulimits: {exc.message}") from exc
        ulimits.append({"Name": ul["Name"], "Soft": ul.get("Soft", 0), "Hard": ul.get("Hard", 0)})
    return tuple(ulimits)


def _shm_size(cfg: DaemonConfig) -> int:
    """default-shm-size in bytes; 0 where none is set."""
    from berth.engine.containers import hostopts

    shm = 0
    if cfg.default_shm_size not in ("", 0):
        try:
            raw = cfg.default_shm_size
            shm = raw if isinstance(raw, int) else hostopts.ram_in_bytes(raw)
        except ValueError as exc:
            raise ConfigError(f"invalid default-shm-size: {exc}") from None
        if shm <= 0:
            raise ConfigError(f"invalid default-shm-size {cfg.default_shm_size!r}")
    return shm


def container_defaults(cfg: DaemonConfig) -> Any:
    """The defaults of new containers (a berth.engine.containers.defaults.ContainerDefaults)
    from the daemon's options, checked as dockerd checks them at start."""
    from berth.engine.containers import defaults

    driver, opts = _log_defaults(cfg)
    ulimits = _ulimit_defaults(cfg)
    shm = _shm_size(cfg)
    return defaults.ContainerDefaults(
        log_driver=driver,
        log_opts=opts,
        ulimits=ulimits,
        shm_size=shm or defaults.SHM_SIZE,
        ipc_mode=cfg.default_ipc_mode,
        cgroupns_mode=cfg.default_cgroupns_mode,
        dns=tuple(cfg.dns),
        dns_search=tuple(cfg.dns_search),
        dns_opts=tuple(cfg.dns_opts),
        resolv_conf=cfg.resolv_conf or defaults.RESOLV_CONF,
    )


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
