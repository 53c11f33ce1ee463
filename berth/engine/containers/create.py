"""Turn a create request (Config + HostConfig) and its image into a Container:
the rules dockerd applies at `docker create` time, kept free of I/O so they
can be tested on their own."""

from __future__ import annotations

import dataclasses
import secrets
import signal as _signal
import typing
from typing import Any

from berth.engine import wire
from berth.engine.clock import rfc3339nano
from berth.engine.containers import defaults, hostopts
from berth.engine.containers.model import (
    Container,
    ContainerConfig,
    CreateRequest,
    HostConfig,
    HostConfigRest,
)
from berth.engine.errors import InvalidParameter
from berth.runtime import capabilities

MIN_MEMORY = 6 * 1024 * 1024


def new_id() -> str:
    return secrets.token_hex(32)


def parse_signal(value: str | int) -> int:
    """A signal given as "SIGTERM", "TERM", "15" or 15."""
    s = str(value).strip()
    if s.isdigit():
        n = int(s)
        if 0 < n < 65:
            return n
    else:
        name = s.upper()
        if not name.startswith("SIG"):
            name = "SIG" + name
        if name.startswith("SIGRTMIN+") or name.startswith("SIGRTMAX-"):
            base = _signal.SIGRTMIN if "MIN" in name else _signal.SIGRTMAX
            off = name[9:]
            if off.isdigit():
                return int(base + int(off)) if "MIN" in name else int(base - int(off))
        try:
            return int(_signal.Signals[name])
        except KeyError:
            pass
    raise InvalidParameter(f"Invalid signal: {value}")


def decode_request(body: Any) -> CreateRequest:
    """The create (and commit) body decoded with Go's rules, as dockerd decodes it into
    container.CreateRequest: a field of the wrong JSON type is a 400 in Go's words and
    nothing else happens."""
    if body is None:
        raise InvalidParameter("config cannot be empty in order to create a container")
    req = typing.cast(CreateRequest, wire.decode_struct(CreateRequest, body))
    _check_rest(body)
    _unset_as_empty(req, body)
    return req


def _unset_as_empty(req: CreateRequest, body: Any) -> None:
    """A LogConfig.Type or ShmSize the client did not send is empty (the model's defaults
    fill them), so that build applies the daemon's defaults, as dockerd's zero values do."""
    raw = _ci(body, "HostConfig") if isinstance(body, dict) else None
    if req.host_config is None:
        req.host_config = HostConfig()
    hc = req.host_config
    if not isinstance(raw, dict) or _ci(raw, "ShmSize") is None:
        hc.shm_size = 0
    lc = _ci(raw, "LogConfig") if isinstance(raw, dict) else None
    if not isinstance(lc, dict) or not _ci(lc, "Type"):
        hc.log_config.type = ""


def _ci(obj: dict[str, Any], key: str) -> Any:
    """OBJ[KEY] matched case-insensitively, as Go's decoder matches it."""
    if key in obj:
        return obj[key]
    return next((v for k, v in obj.items() if k.lower() == key.lower()), None)


def check_request(body: Any) -> dict[str, Any]:
    """The create body checked as `decode_request` checks it, returned as JSON with
    Docker's key spelling: what the edge hands the engine (`{"image": ...}` reads as
    "Image", as in dockerd, whose decoder matches keys case-insensitively)."""
    if body is None:
        raise InvalidParameter("config cannot be empty in order to create a container")
    out = wire.check(CreateRequest, body)
    _check_rest(out)
    return out


def _check_rest(body: dict[str, Any]) -> None:
    """The HostConfig fields berth does not keep are type-checked too, as dockerd does."""
    raw_hc = body.get("HostConfig")
    if raw_hc is None:
        raw_hc = next((v for k, v in body.items() if k.lower() == "hostconfig"), None)
    if isinstance(raw_hc, dict):
        refuse_unsupported(wire.from_wire(HostConfigRest, raw_hc, path="HostConfig"))


def refuse_unsupported(rest: HostConfigRest) -> None:
    """A HostConfig field berth does not implement, set to anything but its zero value
    (an empty list or map is what the docker CLI sends when the flag is not given), is a
    400 that names it: a limit silently dropped would be a promise broken."""
    for f in dataclasses.fields(rest):
        val = getattr(rest, f.name)
        if val:
            key = f.metadata.get("wire") or wire.camel(f.name)
            raise InvalidParameter(f"HostConfig.{key} is not supported by berth")


def parse_request(body: Any) -> tuple[ContainerConfig, HostConfig]:
    req = decode_request(body)
    return req.config, req.host_config or HostConfig()


def validate_cgroup_parent(value: str) -> None:
    """A CgroupParent names a cgroup inside each hierarchy: one whose `..` would climb
    above the hierarchy's root (the runtime would clean it back inside, as runc does)
    is refused, since a request that tries is a mistake or an attack."""
    from berth.runtime import cgroups as rt_cgroups

    if "\x00" in value or rt_cgroups.climbs_out(value):
        raise InvalidParameter(
            f"invalid CgroupParent {value!r}: the cgroup must stay inside the cgroup "
            "hierarchy (a '..' may not climb above its root)"
        )


def validate_host_config(hc: HostConfig) -> None:
    if hc.memory and hc.memory < MIN_MEMORY:
        raise InvalidParameter("Minimum memory limit allowed is 6MB")
    if hc.memory_swap and hc.memory_swap > 0 and hc.memory and hc.memory_swap < hc.memory:
        raise InvalidParameter(
            "Minimum memoryswap limit should be larger than memory limit, see usage"
        )
    sw = hc.memory_swappiness
    if sw is not None and sw != -1 and not 0 <= sw <= 100:
        raise InvalidParameter(f"Invalid value: {sw}, valid memory swappiness range is 0-100")
    if hc.memory_reservation and hc.memory_reservation < MIN_MEMORY:
        raise InvalidParameter("Minimum memory reservation allowed is 6MB")
    if hc.memory and hc.memory_reservation and hc.memory < hc.memory_reservation:
        raise InvalidParameter(
            "Minimum memory limit can not be less than memory reservation limit, see usage"
        )
    if hc.nano_cpus and (hc.cpu_quota or hc.cpu_period):
        raise InvalidParameter("Conflicting options: Nano CPUs and CPU Period cannot both be set")
    if hc.nano_cpus < 0:
        raise InvalidParameter("Range of CPUs is from 0.01 to available CPUs")
    if hc.shm_size < 0:
        raise InvalidParameter("SHM size can not be less than 0")
    # a named network is checked by the network service (it knows the networks)
    if hc.restart_policy.name not in ("", "no", "always", "on-failure", "unless-stopped"):
        raise InvalidParameter(f"invalid restart policy '{hc.restart_policy.name}'")
    if hc.auto_remove and hc.restart_policy.name not in ("", "no"):
        raise InvalidParameter("can't create 'AutoRemove' container with restart policy")
    for kind, caps in (("CAP_ADD", hc.cap_add), ("CAP_DROP", hc.cap_drop)):
        for cap in caps or []:
            try:
                capabilities.normalize(cap)
            except ValueError:
                name = cap.upper() if cap.upper().startswith("CAP_") else "CAP_" + cap.upper()
                raise InvalidParameter(f'invalid {kind}: unknown capability: "{name}"') from None
    validate_cgroup_parent(hc.cgroup_parent)
    if hc.isolation not in ("", "default"):
        raise InvalidParameter(
            f"Invalid isolation: {_go_quote(hc.isolation)} - linux only supports 'default'"
        )
    if hc.userns_mode not in ("", "host"):
        # dockerd without --userns-remap: a namespace of its own needs the remapping
        raise InvalidParameter(f"invalid USERNS mode: {hc.userns_mode}")
    if hc.runtime not in ("", "runc", "berth"):
        raise InvalidParameter(f"Unknown runtime specified {hc.runtime}")
    hostopts.validate(hc)


def _go_quote(s: str) -> str:
    """Go's %q for the plain strings that reach an error message."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def validate_config(cfg: ContainerConfig) -> None:
    """The Config fields berth does not implement are refused when set."""
    if cfg.network_disabled:
        raise InvalidParameter("Config.NetworkDisabled is not supported by berth")


def build(
    cfg: ContainerConfig,
    hc: HostConfig,
    *,
    name: str,
    image_id: str,
    image_config: Any,
) -> Container:
    """Apply the image's defaults under the request's overrides, as dockerd does."""
    defaults.current().apply(hc)  # the daemon's (daemon.json), before they are checked
    validate_host_config(hc)
    validate_config(cfg)
    if cfg.stop_signal:
        parse_signal(cfg.stop_signal)
    cid = new_id()
    if not cfg.hostname:
        cfg.hostname = cid[:12]
    argv = _command(cfg, image_config)
    _apply_image_defaults(cfg, image_config)
    if not hc.log_config.type:
        hc.log_config.type = "json-file"
    hostopts.apply_defaults(hc)
    if not hc.network_mode:
        hc.network_mode = "default"
    return Container(
        id=cid,
        name=name,
        created=rfc3339nano(),
        image_id=image_id,
        path=argv[0],
        args=argv[1:],
        config=cfg,
        host_config=hc,
    )


def _command(cfg: ContainerConfig, ic: Any) -> list[str]:
    """The process's argv; sets CFG's Entrypoint and Cmd to what it is made of. An
    explicit entrypoint resets the image's Cmd."""
    if cfg.entrypoint is None or cfg.entrypoint == []:
        entrypoint = list(ic.entrypoint or []) if cfg.entrypoint is None else []
    else:
        entrypoint = list(cfg.entrypoint)
    if cfg.cmd:
        cmd = list(cfg.cmd)
    elif cfg.entrypoint is None:
        cmd = list(ic.cmd or [])
    else:
        cmd = []
    argv = entrypoint + cmd
    if not argv:
        raise InvalidParameter("no command specified")
    cfg.cmd = cmd or None
    cfg.entrypoint = entrypoint or None
    return argv


def _apply_image_defaults(cfg: ContainerConfig, ic: Any) -> None:
    """The image's Env (overridden key by key), WorkingDir, User, Labels, StopSignal,
    Volumes, ExposedPorts and Healthcheck under the request's."""
    env: dict[str, str] = {}
    for item in list(ic.env or []) + list(cfg.env or []):
        k, _, v = item.partition("=")
        env[k] = item
    cfg.env = list(env.values())
    cfg.working_dir = cfg.working_dir or ic.working_dir or ""
    if cfg.working_dir and not cfg.working_dir.startswith("/"):
        raise InvalidParameter(
            f"the working directory '{cfg.working_dir}' is invalid, it needs to be an absolute path"
        )
    cfg.user = cfg.user or ic.user or ""
    labels = dict(ic.labels or {})
    labels.update(cfg.labels or {})
    cfg.labels = labels
    if not cfg.stop_signal and ic.stop_signal:
        cfg.stop_signal = ic.stop_signal
    if ic.volumes:
        # dockerd merges: the image's VOLUMEs come on top of the request's
        cfg.volumes = {**(cfg.volumes or {}), **ic.volumes}
    if cfg.exposed_ports is None and ic.exposed_ports:
        cfg.exposed_ports = dict(ic.exposed_ports)
    if cfg.healthcheck is None and ic.healthcheck:
        cfg.healthcheck = ic.healthcheck
