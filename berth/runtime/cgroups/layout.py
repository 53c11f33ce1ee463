"""Which cgroup hierarchies the host has (v1 controllers, v2 unified, or both: hybrid),
and its cgroup mounts as a container should see them."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

from berth.runtime.cgroups.paths import ROOT, join

# v1 hierarchies berth manages; others (net_cls, perf_event, ...) are left alone.
V1_MANAGED = ("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids")


V2_CONTROLLERS = ("cpuset", "cpu", "io", "memory", "pids")


@dataclass(frozen=True)
class Layout:
    """Where the hierarchies are: v2 -> one dir; v1 -> controller name -> mount dir."""

    v2: bool
    root: str
    v1: tuple[tuple[str, str], ...] = ()  # (controller, hierarchy dir), one per hierarchy
    # hybrid: the cgroup2 mount beside the v1 hierarchies ("" if none or not v1)
    unified: str = ""

    def dirs(self, path: str) -> list[str]:
        """The container's directory in every hierarchy berth manages (v1 first, so the
        first one has the container's tasks on every layout)."""
        if self.v2:
            return [join(self.root, path)]
        seen: list[str] = []
        for _, mnt in self.v1:
            d = join(mnt, path)
            if d not in seen:
                seen.append(d)
        if self.unified:
            seen.append(join(self.unified, path))
        return seen

    def controller_dir(self, controller: str, path: str) -> str | None:
        """The container's dir for `controller` (None if that controller is absent)."""
        if self.v2:
            return join(self.root, path)
        for c, mnt in self.v1:
            if c == controller:
                return join(mnt, path)
        return None

    def v2_dir(self, path: str) -> str | None:
        """The container's cgroup2 dir, where its device program goes (None on pure v1)."""
        if self.v2:
            return join(self.root, path)
        return join(self.unified, path) if self.unified else None


@functools.cache
def layout(root: str = ROOT) -> Layout:
    """Detect v1 or v2 under `root` (cached: it does not change while we run)."""
    if os.path.exists(os.path.join(root, "cgroup.controllers")):
        return Layout(v2=True, root=root)
    pairs: list[tuple[str, str]] = []
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except FileNotFoundError:
        entries = []
    for e in entries:
        # a combined hierarchy appears once as "cpu,cpuacct" plus symlinks
        if e.is_symlink() or not e.is_dir() or e.name == "unified":
            continue
        for c in e.name.split(","):
            if c in V1_MANAGED:
                pairs.append((c, e.path))
    unified = os.path.join(root, "unified")
    if not pairs or not os.path.exists(os.path.join(unified, "cgroup.controllers")):
        unified = ""
    return Layout(v2=False, root=root, v1=tuple(pairs), unified=unified)


def is_v2(root: str = ROOT) -> bool:
    """True on a pure cgroup v2 (unified) host."""
    return layout(root).v2


def host_mounts() -> list[tuple[str, str, str]]:
    """The host's cgroup mounts directly under /sys/fs/cgroup as (name, fstype, options)
    so a container can get the same layout; v1 options are the superblock's
    controller list ("memory", "cpu,cpuacct", "name=systemd")."""
    return list(_host_mounts())


@functools.cache
def _host_mounts() -> tuple[tuple[str, str, str], ...]:
    out: list[tuple[str, str, str]] = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            mnt = left.split()[4]
            fstype, _src, superopts = (right.split() + ["", "", ""])[:3]
            if fstype not in ("cgroup", "cgroup2") or os.path.dirname(mnt) != ROOT:
                if fstype == "cgroup2" and mnt == ROOT:
                    out.append(("", fstype, ""))
                continue
            opts = [
                o
                for o in superopts.split(",")
                if o not in ("rw", "ro") and (fstype == "cgroup" or o == "nsdelegate")
            ]
            if fstype == "cgroup":
                opts = [o for o in opts if o in _KNOWN_V1 or o.startswith("name=")]
            out.append((os.path.basename(mnt), fstype, ",".join(opts)))
    if any(fstype == "cgroup" for _, fstype, _ in out):
        # hybrid: like runc and crun, show a container the v1 hierarchies only
        out = [m for m in out if m[1] == "cgroup"]
    return tuple(out)


_KNOWN_V1 = frozenset(
    V1_MANAGED + ("hugetlb", "net_cls", "net_prio", "perf_event", "rdma", "misc", "none", "xattr")
)
