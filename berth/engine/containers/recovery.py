"""What berthd finds at start besides its database: shims, bundles, root filesystems and
cgroups that a crash left behind (berthd can be killed between any two lines).

The store says what berth meant; the exec root, the overlay directory and the cgroup tree
say what exists. For a container the store knows but does not think running, a shim that
still answers is ended: an idle one (spawned, never started) is shut down, a running one
(the crash fell between the process's start and the state write) is killed, so that its
netns can go and its address be handed out again without being in use twice. For an id
the store does not know at all, everything of it that berth makes is taken away."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import signal
from pathlib import Path

from berth.engine.containers import hostopts
from berth.engine.ports import Runtime, ShimError

log = logging.getLogger("berth.containers")

_ID = re.compile(r"^[0-9a-f]{64}$")
# an empty cgroup younger than this may be a start under way (seconds)
_YOUNG = 30.0


async def end_stray_shim(runtime: Runtime, bundle: Path, cgroup_path: str) -> bool:
    """End the shim in BUNDLE, if one answers, and the container it holds. True if there
    was one."""
    if not (bundle / "shim.sock").exists():
        return False
    shim = runtime.shim(bundle)
    if not await asyncio.to_thread(shim.alive, 0.5):
        return False
    try:
        state = await shim.state()
        if state.get("status") == "created":
            await shim.shutdown()
            return True
        if state.get("status") == "running":
            await shim.signal(signal.SIGKILL)
            await asyncio.wait_for(shim.wait(), 10)
        return True
    except (ShimError, OSError, TimeoutError) as exc:
        log.warning("ending the stray shim in %s: %s", bundle, exc)
    # whatever the shim could not do, the cgroup does
    await asyncio.to_thread(runtime.kill_cgroup, cgroup_path)
    return True


async def sweep_orphans(
    runtime: Runtime,
    known: set[str],
    exec_root: Path,
    overlay_dir: Path,
    containers_dir: Path,
    cgroup_parent: str,
) -> set[str]:
    """Take away what belongs to container ids the store does not know; return those ids
    (the caller removes their netns, which other daemons' containers may share the
    directory of)."""
    found: set[str] = set()
    for root in (exec_root, overlay_dir, containers_dir):
        with contextlib.suppress(OSError):
            found |= {n for n in os.listdir(root) if _ID.match(n) and n not in known}
    for cid in sorted(found):
        cgroup = f"/{cgroup_parent.strip('/')}/{cid}"
        log.warning("container %s: not in the store, removing what is left of it", cid)
        if await end_stray_shim(runtime, exec_root / cid, cgroup):
            log.warning("container %s: ended its shim", cid)
        await asyncio.to_thread(
            _remove_leftovers, runtime, cid, cgroup, exec_root, overlay_dir, containers_dir
        )
    found |= await asyncio.to_thread(_sweep_cgroups, runtime, known | found, cgroup_parent)
    return found


def _sweep_cgroups(runtime: Runtime, known: set[str], cgroup_parent: str) -> set[str]:
    """Container cgroups under berth's parent whose id nothing on disk knows (the exec
    root, the data root and the store were lost, or were never written): their processes
    run on with no one to stop them. The parent may be shared with another berthd on this
    host, so a cgroup whose processes still have a live shim is that shim's (a shim of
    ours has a bundle in our exec root, found above); only an empty cgroup or one whose
    shim is gone is taken."""
    parent = "/" + cgroup_parent.strip("/")
    taken: set[str] = set()
    for cid in sorted(runtime.cgroup_children(parent)):
        if not _ID.match(cid) or cid in known:
            continue
        path = f"{parent}/{cid}"
        procs = runtime.cgroup_pids(path)
        if procs and any(_shim_of(pid) for pid in procs):
            continue  # another daemon's container, in its shim's care
        if not procs and runtime.cgroup_age(path) < _YOUNG:
            continue  # maybe another daemon's start, between making it and joining it
        if procs:
            log.warning("container %s: unknown, its shim gone: killing its processes", cid)
            runtime.kill_cgroup(path, timeout=2)
        try:
            runtime.remove_cgroup(path, timeout=1)
        except OSError as exc:
            log.warning("container %s: its cgroup stays: %s", cid, exc)
            continue
        taken.add(cid)
    return taken


def _shim_of(pid: int, depth: int = 3) -> str:
    """The bundle of the shim that PID runs under (a shim's working directory is its
    bundle, with its socket), or "" if none of its nearest ancestors is one."""
    for _ in range(depth):
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                # the command name may hold spaces and parentheses: the fields after it
                ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return ""
        if ppid <= 1:
            return ""
        try:
            cwd = os.readlink(f"/proc/{ppid}/cwd")
        except OSError:
            return ""
        if os.path.exists(os.path.join(cwd, "shim.sock")):
            return cwd
        pid = ppid
    return ""


def _remove_leftovers(
    runtime: Runtime,
    cid: str,
    cgroup: str,
    exec_root: Path,
    overlay_dir: Path,
    containers_dir: Path,
) -> None:
    runtime.kill_cgroup(cgroup, timeout=2)
    with contextlib.suppress(OSError):
        runtime.remove_cgroup(cgroup)
    runtime.unmount(str(overlay_dir / cid / "merged"))
    shm = hostopts.shm_dir(containers_dir / cid)
    if shm.exists():
        runtime.unmount(str(shm))
    for d in (exec_root / cid, overlay_dir / cid, containers_dir / cid):
        shutil.rmtree(d, ignore_errors=True)
