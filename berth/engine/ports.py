"""What the container engine needs from the runtime: the one seam between them.

The engine's container rules (lifecycle, exits and restarts, reconciliation, exec, health)
reach the host only through a `Runtime`: mounting and unmounting a root filesystem, writing
a bundle, spawning a shim and talking to it (`Shim`: the client side of the shim's
protocol, one method per op), freezing, thawing, updating and killing a cgroup. The real
one is `berth.runtime.adapter.RuntimeAdapter`; the unit tests give the engine an in-memory
fake (tests/unit/engine/fake_runtime.py).

The data that crosses the seam is the runtime's own (an OCI spec to write, the shim request,
an exit status) and so are the errors a shim raises: they are re-exported here, so that the
engine names the runtime in this module only. The runtime never imports this module (the
dependency runs engine -> runtime): the adapter satisfies these protocols structurally.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Protocol

from berth.runtime.shim.protocol import start_error_exit_code
from berth.runtime.shim_client import ExitStatus, RuntimeStartError, ShimError, ShimGoneError
from berth.runtime.spec import RuntimeSpec
from berth.runtime.startgate import StartGate
from berth.runtime.zygote import ShimRequest

__all__ = [
    "ExitStatus",
    "Runtime",
    "RuntimeSpec",
    "RuntimeStartError",
    "Shim",
    "StartGate",
    "ShimError",
    "ShimGoneError",
    "ShimRequest",
    "Streams",
    "start_error_exit_code",
]

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class Shim(Protocol):
    """The shim of one container (found by its bundle): its client operations."""

    async def start(self, gate: bool = False, cgroup_made: bool = False) -> int:
        """Start the container's process; its host pid. RuntimeStartError if it cannot.
        GATE: the process waits at the start gate (`Runtime.start_gate`) before its execve.
        CGROUP_MADE: its cgroup exists with its limits (`Runtime.make_cgroup`)."""
        ...

    async def attach(self, stdin: bool, stdout: bool, stderr: bool) -> Streams:
        """The container's stdio: stdcopy frames (raw with a tty) out, stdin in."""
        ...

    async def signal(self, sig: int, exec_id: str | None = None) -> None:
        """Signal the init process (or the exec EXEC_ID)."""
        ...

    async def resize(self, height: int, width: int, exec_id: str | None = None) -> None:
        """Set the tty size of the init process (or of the exec EXEC_ID)."""
        ...

    async def exec(
        self,
        exec_id: str,
        process: dict[str, Any],
        *,
        stdin: bool,
        stdout: bool,
        stderr: bool,
        detach: bool,
        raw: bool,
    ) -> tuple[int, asyncio.StreamReader | None, asyncio.StreamWriter | None]:
        """Start an exec process; its pid and, unless DETACH, its stream."""
        ...

    async def exec_wait(self, exec_id: str) -> int:
        """The exit code of the exec EXEC_ID, once it has exited."""
        ...

    async def wait(self) -> ExitStatus:
        """Once the container has exited: how."""
        ...

    async def state(self) -> dict[str, Any]:
        """{"status": "created"|"running"|"exited", "pid": ..., ...}."""
        ...

    async def shutdown(self) -> None:
        """End a shim whose container never started."""
        ...

    def alive(self, timeout: float = 1.0) -> bool:
        """Whether the shim answers (blocking)."""
        ...


class Runtime(Protocol):
    """The host operations of the container engine."""

    def down(self) -> bool:
        """Whether no shim can be spawned now (the zygote died and is being replaced)."""
        ...

    # ---- root filesystem and /dev/shm ----------------------------------------
    def mount_rootfs(self, lowerdirs: list[str], upper: str, work: str, target: str) -> None:
        """Mount the container's overlay (image layers under its own upper dir)."""
        ...

    def mount_shm(self, target: str, size: int) -> None:
        """Mount a tmpfs for /dev/shm at TARGET (a shareable IPC namespace's)."""
        ...

    def unmount(self, target: str) -> None:
        """Unmount TARGET; nothing mounted there is no error."""
        ...

    # ---- bundle and shim -------------------------------------------------------
    def write_bundle(self, bundle: Path, spec: RuntimeSpec) -> None:
        """Write the OCI bundle's config.json for SPEC."""
        ...

    def start_gate(self, bundle: Path) -> StartGate:
        """The gate the process of BUNDLE's next start waits at (open it, then close it
        once the start has returned; closed unopened, the start is called off)."""
        ...

    def find_init(self) -> str | None:
        """The host's static init binary for --init, if there is one."""
        ...

    async def spawn_shim(self, req: ShimRequest) -> int:
        """Fork the shim for a written bundle; its pid."""
        ...

    def shim(self, bundle: Path) -> Shim:
        """The shim whose bundle is BUNDLE (whether or not it still runs)."""
        ...

    def read_exit(self, bundle: Path) -> ExitStatus | None:
        """The exit the shim recorded in BUNDLE, if any."""
        ...

    # ---- cgroups ---------------------------------------------------------------
    def freeze(self, cgroup: str) -> None:
        """Freeze every process of the cgroup (docker pause)."""
        ...

    def thaw(self, cgroup: str) -> None:
        """Undo freeze."""
        ...

    def make_cgroup(self, spec: RuntimeSpec) -> None:
        """Create SPEC's cgroup with its limits (OSError if it cannot: nothing is left)."""
        ...

    def update_resources(self, cgroup: str, resources: dict[str, Any]) -> None:
        """Apply OCI linux.resources to a live cgroup (docker update)."""
        ...

    def kill_cgroup(self, cgroup: str, timeout: float = 5.0) -> bool:
        """SIGKILL everything in the cgroup; True once it is empty."""
        ...

    def remove_cgroup(self, cgroup: str, timeout: float = 2.0) -> None:
        """Remove the cgroup; OSError if it stays busy."""
        ...

    def cgroup_children(self, parent: str) -> set[str]:
        """The names of the cgroups directly under PARENT."""
        ...

    def cgroup_pids(self, cgroup: str) -> list[int]:
        """The processes in the cgroup."""
        ...

    def cgroup_age(self, cgroup: str) -> float:
        """Seconds since the cgroup was made (0 if it is not there)."""
        ...

    # ---- processes -------------------------------------------------------------
    def all_capabilities(self) -> list[str]:
        """Every capability this host may hand out (a privileged exec's set)."""
        ...
