"""The options of one build, as typed values (decoded from POST /build's query at the
edge, berth/api/routes/build.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Ulimit:
    name: str
    soft: int
    hard: int


@dataclass
class BuildOptions:
    tags: list[str] = field(default_factory=list)
    dockerfile: str = "Dockerfile"
    build_args: dict[str, str | None] = field(default_factory=dict)
    target: str = ""
    no_cache: bool = False
    pull: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    network_mode: str = ""
    extra_hosts: list[str] = field(default_factory=list)
    shm_size: int = 0
    ulimits: list[Ulimit] = field(default_factory=list)
    cache_from: list[str] = field(default_factory=list)
    remove: bool = True
    force_remove: bool = False
    quiet: bool = False
    platform: str = ""
    memory: int = 0
    memory_swap: int = 0
    cpu_shares: int = 0
    cpu_period: int = 0
    cpu_quota: int = 0
    cpuset_cpus: str = ""
    cpuset_mems: str = ""
    cgroup_parent: str = ""
    # X-Registry-Config: registry host -> its auth config, for FROM of private images
    registry_auth: dict[str, dict[str, Any]] = field(default_factory=dict)
