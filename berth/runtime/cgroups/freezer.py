"""Freezing and thawing a container's tasks (v1 freezer controller, v2 cgroup.freeze)."""

from __future__ import annotations

import errno
import os
import time

from berth.runtime.cgroups.files import read, write
from berth.runtime.cgroups.layout import layout
from berth.runtime.cgroups.paths import ROOT


def freeze(path: str, *, root: str = ROOT, timeout: float = 5.0) -> None:
    """Freeze every task of the container and wait until the kernel says FROZEN."""
    _set_frozen(path, True, root, timeout)


def thaw(path: str, *, root: str = ROOT, timeout: float = 5.0) -> None:
    """Undo freeze()."""
    _set_frozen(path, False, root, timeout)


def state(path: str, *, root: str = ROOT) -> str:
    """'FROZEN', 'FREEZING' or 'THAWED'."""
    lay = layout(root)
    if lay.v2:
        d = lay.dirs(path)[0]
        try:
            events = read(os.path.join(d, "cgroup.events"))
        except FileNotFoundError:
            return "THAWED"
        frozen = "frozen 1" in events
        want = read(os.path.join(d, "cgroup.freeze")).strip() == "1"
        if frozen:
            return "FROZEN"
        return "FREEZING" if want else "THAWED"
    fd = lay.controller_dir("freezer", path)
    if fd is None:
        return "THAWED"
    try:
        return read(os.path.join(fd, "freezer.state")).strip()
    except FileNotFoundError:
        return "THAWED"


def _set_frozen(path: str, frozen: bool, root: str, timeout: float) -> None:
    lay = layout(root)
    if lay.v2:
        write(os.path.join(lay.dirs(path)[0], "cgroup.freeze"), "1" if frozen else "0")
    else:
        d = lay.controller_dir("freezer", path)
        if d is None:
            raise OSError(errno.ENOTSUP, "no freezer cgroup hierarchy")
        write(os.path.join(d, "freezer.state"), "FROZEN" if frozen else "THAWED")
    want = "FROZEN" if frozen else "THAWED"
    deadline = time.monotonic() + timeout
    while state(path, root=root) != want:
        if time.monotonic() >= deadline:
            raise TimeoutError(f"cgroup {path} did not become {want}")
        if not lay.v2 and frozen:
            # v1 can stall in FREEZING; writing again retries the stragglers
            write(os.path.join(lay.controller_dir("freezer", path) or "", "freezer.state"), want)
        time.sleep(0.001)
