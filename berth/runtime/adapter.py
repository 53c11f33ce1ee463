"""The runtime as the container engine uses it (the protocol `berth.engine.ports.Runtime`):
each method calls the module that does the work (rootfs, spec, zygote, shim_client,
cgroups, capabilities) and nothing else. The engine's unit tests use a fake instead."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from berth.runtime import capabilities, cgroups, rootfs, spec, startgate
from berth.runtime.shim_client import ExitStatus, ShimClient, read_exit_file
from berth.runtime.zygote import ShimRequest


class ShimSpawner(Protocol):
    """What forks the shims: a Zygote, or the Supervised one berthd replaces when it dies."""

    down: bool

    async def spawn_shim(self, req: ShimRequest) -> int: ...


class RuntimeAdapter:
    """The host's runtime. ZYGOTE forks the shims."""

    def __init__(self, zygote: ShimSpawner) -> None:
        self.zygote = zygote

    def down(self) -> bool:
        return self.zygote.down

    # ---- root filesystem and /dev/shm ----------------------------------------
    def mount_rootfs(self, lowerdirs: list[str], upper: str, work: str, target: str) -> None:
        rootfs.mount_overlay(lowerdirs, upper, work, target)

    def mount_shm(self, target: str, size: int) -> None:
        rootfs.mount_shm(target, size)

    def unmount(self, target: str) -> None:
        rootfs.unmount(target)

    # ---- bundle and shim -------------------------------------------------------
    def write_bundle(self, bundle: Path, runtime_spec: spec.RuntimeSpec) -> None:
        spec.write_bundle(bundle, runtime_spec)

    def start_gate(self, bundle: Path) -> startgate.StartGate:
        return startgate.StartGate(bundle)

    def find_init(self) -> str | None:
        return spec.find_init()

    async def spawn_shim(self, req: ShimRequest) -> int:
        return await self.zygote.spawn_shim(req)

    def shim(self, bundle: Path) -> ShimClient:
        return ShimClient(bundle)

    def read_exit(self, bundle: Path) -> ExitStatus | None:
        return read_exit_file(bundle)

    # ---- cgroups ---------------------------------------------------------------
    def make_cgroup(self, runtime_spec: spec.RuntimeSpec) -> None:
        cgroups.create(runtime_spec.cgroup_path, spec.resources(runtime_spec))

    def freeze(self, cgroup: str) -> None:
        cgroups.freeze(cgroup)

    def thaw(self, cgroup: str) -> None:
        cgroups.thaw(cgroup)

    def update_resources(self, cgroup: str, resources: dict[str, Any]) -> None:
        cgroups.update(cgroup, resources)

    def kill_cgroup(self, cgroup: str, timeout: float = 5.0) -> bool:
        return cgroups.kill_all(cgroup, timeout=timeout)

    def remove_cgroup(self, cgroup: str, timeout: float = 2.0) -> None:
        cgroups.remove(cgroup, timeout=timeout)

    def cgroup_children(self, parent: str) -> set[str]:
        return cgroups.children(parent)

    def cgroup_pids(self, cgroup: str) -> list[int]:
        return cgroups.pids(cgroup)

    def cgroup_age(self, cgroup: str) -> float:
        return cgroups.age(cgroup)

    # ---- processes -------------------------------------------------------------
    def all_capabilities(self) -> list[str]:
        return capabilities.all_caps()
