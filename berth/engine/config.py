"""What the engine is configured with: its roots, defaults and listeners (berthd's flags
and daemon.json, decoded by berth.daemon.config)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Listener:
    """One socket berthd serves the API on, as `docker info` reports it."""

    host: str  # as given to -H: unix:///path, tcp://addr:port, fd://
    tls: bool = False
    policy: str = "full"  # "full", "read-only" or a policy file's path
    tlsverify: bool = False


_ATTACK_SURFACE = """
         Access to the remote API is equivalent to root access on the host. Refer
         to the 'Docker daemon attack surface' section in the documentation for
         more information: https://docs.docker.com/go/attack-surface/"""


def listener_warnings(listeners: tuple[Listener, ...]) -> list[str]:
    """dockerd's (20.10+) fillAPIInfo warnings: one per TCP listener without TLS, or with
    TLS but without client verification."""
    out = []
    for ln in listeners:
        proto, _, addr = ln.host.partition("://")
        if proto != "tcp":
            continue
        if not ln.tls:
            out.append(
                f"WARNING: API is accessible on http://{addr} without encryption.{_ATTACK_SURFACE}"
            )
        elif not ln.tlsverify:
            out.append(
                f"WARNING: API is accessible on https://{addr} without TLS client "
                f"verification.{_ATTACK_SURFACE}"
            )
    return out


@dataclass
class EngineConfig:
    data_root: Path
    exec_root: Path
    debug: bool = False
    labels: tuple[str, ...] = ()
    cgroup_parent: str = "berth"
    # berth.engine.images.registry.config.RegistryOptions; None means dockerd's defaults
    registry: Any = None
    # the default bridge network's Linux bridge (dockerd's --bridge)
    bridge: str = "berth0"
    # berthd's --seccomp-profile: "" (builtin), "unconfined" or a profile's JSON text
    seccomp_profile: str = ""
    # what berthd listens on, with each listener's access policy (docker info)
    listeners: tuple[Listener, ...] = ()
    # dockerd's --live-restore: a stop of berthd leaves the containers running
    live_restore: bool = False
    # daemon.json's bridge keys (bip, icc, mtu, ...), as given: the network service's
    network_options: dict[str, Any] = field(default_factory=dict)
    # berth.engine.containers.defaults.ContainerDefaults; None: dockerd's builtin ones
    container_defaults: Any = None
