"""The container lifecycle: create, start, stop, kill, wait, remove, rename, attach, logs,
and reconciling with surviving shims after a daemon restart.

`ContainerService` is the facade the API, the build service and the engine call; its parts
live one concern per module (core.py says which)."""

from __future__ import annotations

from berth.engine.containers.core import AttachRequest, Streams
from berth.engine.containers.exits import Exits
from berth.engine.containers.reconcile import Reconciler
from berth.engine.containers.removal import Removal
from berth.engine.containers.starting import Starting
from berth.engine.containers.streams import StreamsPart
from berth.engine.containers.verbs import Verbs

__all__ = ["AttachRequest", "ContainerService", "Streams"]


class ContainerService(Starting, Exits, Verbs, Removal, StreamsPart, Reconciler):
    """The containers of one berthd: ContainerService(store, images, runtime, data_root,
    exec_root, *, cgroup_parent, network, volumes, events, seccomp_profile), all given
    at construction (engine/engine.py); it owns its ExecService (`execs`)."""
