"""A container's cgroup from creation to removal, whatever the hierarchy: make it and apply
limits, change them (docker update), move processes in, list and kill them, remove it."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import time

from berth.runtime.cgroups import v1, v2
from berth.runtime.cgroups.devices import apply_device_program
from berth.runtime.cgroups.files import read, write
from berth.runtime.cgroups.freezer import freeze, thaw
from berth.runtime.cgroups.layout import layout
from berth.runtime.cgroups.paths import ROOT, clean_path


def create(path: str, resources: dict | None = None, *, root: str = ROOT) -> None:
    """Create the container's cgroup in every hierarchy and apply OCI linux.resources
    (on v2, and in a hybrid host's unified hierarchy, devices by an eBPF program)."""
    lay = layout(root)
    res = resources or {}
    if not clean_path(path):
        # the hierarchy's own root: its limits and device rules are the whole host's
        raise OSError(errno.EINVAL, f"cgroup path {path!r} names the root cgroup")
    if lay.v2:
        v2.enable_controllers(lay, path)
    else:
        v1.make_dirs(lay, path)
    try:
        (v2.apply if lay.v2 else v1.apply)(lay, path, res)
        apply_device_program(lay, path, res)
    except BaseException:
        try:
            remove(path, root=root, timeout=0)
        except OSError:
            pass  # the first error says what went wrong; this one would hide it
        raise


def update(path: str, resources: dict, *, root: str = ROOT) -> None:
    """Apply OCI linux.resources to a live cgroup (docker update)."""
    lay = layout(root)
    res = dict(resources)
    if not lay.v2:
        res = v1.before_update(lay, path, res)
    (v2.apply if lay.v2 else v1.apply)(lay, path, res)


def procs_files(path: str, *, root: str = ROOT) -> list[str]:
    """The cgroup.procs file of the container's cgroup in every hierarchy."""
    return [os.path.join(d, "cgroup.procs") for d in layout(root).dirs(path)]


def entry(path: str, *, root: str = ROOT) -> tuple[list[str], str]:
    """How a new single-threaded process joins the container's cgroups: the v1
    hierarchies' `tasks` files, to write "0" to, and the cgroup2 directory ("" on pure
    v1), to be forked into (clone3's CLONE_INTO_CGROUP) or to write cgroup.procs of.

    Moving a whole thread group (cgroup.procs) takes the cgroup core's threadgroup lock for
    writing, which waits out an RCU grace period when the lock was idle: ~10 ms on each
    container start and exec. Moving the calling thread (`tasks` "0") and a fork into
    the cgroup take no such lock; for a process of one thread they are the same move."""
    lay = layout(root)
    v2 = lay.v2_dir(path) or ""
    return [os.path.join(d, "tasks") for d in lay.dirs(path) if d != v2], v2


def add_process(path: str, pid: int, *, root: str = ROOT) -> None:
    """Move `pid` (0: the calling process) into the container's cgroups."""
    for f in procs_files(path, root=root):
        write(f, str(pid))


def pids(path: str, *, root: str = ROOT) -> list[int]:
    """Processes in the container's cgroup (from the first hierarchy)."""
    dirs = layout(root).dirs(path)
    if not dirs:
        return []
    try:
        return [int(x) for x in read(os.path.join(dirs[0], "cgroup.procs")).split()]
    except FileNotFoundError:
        return []


def children(path: str, *, root: str = ROOT) -> set[str]:
    """The names of the cgroups directly under PATH, in any hierarchy berth manages
    (a crash can leave a container's cgroup in some hierarchies only)."""
    names: set[str] = set()
    for d in layout(root).dirs(path):
        with contextlib.suppress(OSError):
            names |= {e.name for e in os.scandir(d) if e.is_dir(follow_symlinks=False)}
    return names


def age(path: str, *, root: str = ROOT) -> float:
    """Seconds since the container's cgroup was made (from its first hierarchy); 0 if
    it is not there."""
    dirs = layout(root).dirs(path)
    try:
        return max(0.0, time.time() - os.stat(dirs[0]).st_ctime) if dirs else 0.0
    except OSError:
        return 0.0


def kill_all(path: str, *, root: str = ROOT, timeout: float = 5.0) -> bool:
    """SIGKILL every process in the container's cgroup (the container outlived its shim):
    frozen first, so that nothing forks past the kill. True once the cgroup is empty."""
    if not clean_path(path):
        return False  # never the hierarchy's root
    frozen = False
    try:
        freeze(path, root=root, timeout=1.0)
        frozen = True
    except OSError:
        pass  # no freezer: kill in rounds until nothing is left
    deadline = time.monotonic() + timeout
    try:
        while (procs := pids(path, root=root)) and time.monotonic() < deadline:
            for pid in procs:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if frozen:
                with contextlib.suppress(OSError):
                    thaw(path, root=root, timeout=1.0)  # a frozen task dies on thaw
                frozen = False
            time.sleep(0.01)
    finally:
        if frozen:
            with contextlib.suppress(OSError):
                thaw(path, root=root, timeout=1.0)
    return not pids(path, root=root)


def remove(path: str, *, root: str = ROOT, timeout: float = 2.0) -> None:
    """Remove the container's cgroup dirs; retry while exiting tasks drain (EBUSY).
    Missing dirs are fine. Raises OSError if still busy after `timeout` seconds."""
    if not clean_path(path):
        return  # never the hierarchy's root
    deadline = time.monotonic() + timeout
    for d in layout(root).dirs(path):
        delay = 0.001
        while True:
            try:
                os.rmdir(d)
                break
            except FileNotFoundError:
                break
            except OSError as e:
                if e.errno != errno.EBUSY or time.monotonic() >= deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
