"""Container cgroups on v1 (one hierarchy per controller) and v2 (unified).

A container's cgroup is named by a path relative to each hierarchy's root
("/berth/<id>"). Every function takes `root` (default /sys/fs/cgroup) so tests
can point it at a directory tree that imitates cgroupfs.

Paths come from requests (HostConfig.CgroupParent), so every directory this package
makes, writes or removes is built by join(): the path is cleaned as runc's CleanPath
does (lexically, as if absolute) and put under the hierarchy's root, which no `..`
can climb out of.

Device access: v1 has the devices controller; v2 has none, the kernel asks a
BPF_PROG_TYPE_CGROUP_DEVICE program attached to the cgroup (devicefilter.py builds it,
bpf.py loads it). On a hybrid host (v1 controllers plus cgroup2 at <root>/unified) the
container also joins the unified hierarchy, as runc does, and gets the program there
too: a second guard behind the v1 devices controller.

The parts: `paths` (cleaning and joining), `layout` (which hierarchies), `lifecycle`
(create, update, membership, kill, remove: the interface callers use), `v1` and `v2`
(each version's files), `devices`, `freezer`, `stats`.
"""

from __future__ import annotations

from berth.runtime.cgroups.devices import (
    attach_device_program,
    device_program,
    device_rules,
    with_implicit,
)
from berth.runtime.cgroups.freezer import freeze, state, thaw
from berth.runtime.cgroups.layout import Layout, _host_mounts, host_mounts, is_v2, layout
from berth.runtime.cgroups.lifecycle import (
    add_process,
    age,
    children,
    create,
    entry,
    kill_all,
    pids,
    procs_files,
    remove,
    update,
)
from berth.runtime.cgroups.paths import ROOT, clean_path, climbs_out, join
from berth.runtime.cgroups.stats import memory_usage, oom_kill_count, read_stats, system_cpu_usage

__all__ = [
    "ROOT",
    "Layout",
    "_host_mounts",
    "add_process",
    "entry",
    "age",
    "attach_device_program",
    "children",
    "clean_path",
    "climbs_out",
    "create",
    "device_program",
    "device_rules",
    "freeze",
    "host_mounts",
    "is_v2",
    "join",
    "kill_all",
    "layout",
    "memory_usage",
    "oom_kill_count",
    "pids",
    "procs_files",
    "read_stats",
    "remove",
    "state",
    "system_cpu_usage",
    "thaw",
    "update",
    "with_implicit",
]
