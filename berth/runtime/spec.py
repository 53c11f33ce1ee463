"""The engine's request to the runtime, and its OCI runtime spec (config.json).

The engine resolves everything (image config + overrides, user names to ids,
paths) into a RuntimeSpec; `to_oci` turns it into the OCI config.json that the
builtin executor and crun both run."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class BindMount:
    source: str
    destination: str
    readonly: bool = False
    # "rprivate" unless the engine says otherwise
    propagation: str = "rprivate"


@dataclass
class RuntimeSpec:
    id: str
    rootfs: str  # absolute path of the (already mounted) root filesystem
    args: list[str]
    env: list[str]
    cwd: str = "/"
    uid: int = 0
    gid: int = 0
    additional_gids: list[int] = field(default_factory=list)
    hostname: str = ""
    domainname: str = ""
    tty: bool = False
    readonly_rootfs: bool = False
    privileged: bool = False
    mounts: list[BindMount] = field(default_factory=list)  # after the defaults
    # cgroup path relative to each hierarchy's root, e.g. "/berth/<id>"
    cgroup_path: str = ""
    memory: int | None = None  # bytes
    memory_swap: int | None = None  # bytes, -1 for unlimited
    cpu_shares: int | None = None
    cpu_quota: int | None = None  # microseconds per period
    cpu_period: int | None = None  # microseconds
    cpuset_cpus: str | None = None
    pids_limit: int | None = None
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    shm_size: int = 64 * 1024 * 1024
    oom_score_adj: int = 0
    no_new_privileges: bool = False
    # namespaces to join instead of creating: {"network": "/proc/PID/ns/net", ...}
    join_namespaces: dict[str, str] = field(default_factory=dict)
    sysctls: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


def to_oci(spec: RuntimeSpec) -> dict:
    """The OCI runtime spec (config.json, ociVersion 1.0.2) for this container."""
    raise NotImplementedError  # filled by the runtime work
