"""Work out everything a container's init or an exec needs: the namespaces, cgroups,
filesystem steps, identity, limits and the compiled seccomp filter. The child then only
replays the Plan (child.py).

A container's init is planned in two halves: `entry` in the parent (what the fork itself
needs: the namespaces, the pid namespace only a fork enters, the cgroup it is forked
into) and `complete` in the child, after the fork. The shim then never builds the rest
of the plan: its objects would be ~0.5 MiB of pages copied on write in every shim, for
a plan used once."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from berth.runtime import capabilities, cgroups, rootfs, seccomp
from berth.runtime.executor.errors import PREFIX, StartError
from berth.runtime.seccomp import compiler as seccomp_compiler
from berth.runtime.syscalls import (
    CLONE_NEWCGROUP,
    CLONE_NEWIPC,
    CLONE_NEWNET,
    CLONE_NEWNS,
    CLONE_NEWPID,
    CLONE_NEWUSER,
    CLONE_NEWUTS,
)

_NS_FLAGS = {
    "mount": CLONE_NEWNS,
    "network": CLONE_NEWNET,
    "uts": CLONE_NEWUTS,
    "ipc": CLONE_NEWIPC,
    "pid": CLONE_NEWPID,
    "cgroup": CLONE_NEWCGROUP,
    "user": CLONE_NEWUSER,
}
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_CAP_SYS_RESOURCE = 24


@dataclass
class Plan:
    """Everything the child needs, worked out before fork."""

    unshare_flags: int = 0
    joins: list[tuple[int, str]] = field(default_factory=list)  # (nstype, path) but not pid
    pid_ns: str | None = None  # "new", a path to join, or None (share ours)
    # the v1 hierarchies' `tasks` files the child writes "0" to, and the cgroup2 directory
    # it is forked into ("" if none); see cgroups.entry
    procs_files: list[str] = field(default_factory=list)
    cgroup2_dir: str = ""
    fs_before: list[rootfs.Step] = field(default_factory=list)
    fs_after: list[rootfs.Step] = field(default_factory=list)
    hostname: str = ""
    domainname: str = ""
    loopback: bool = False
    terminal: bool = False
    # with a terminal: the unix socket the console's master goes back on (runc's
    # --console-socket); -1 if the caller hands us the terminal as stdio instead
    console_socket: int = -1
    console_size: tuple[int, int] = (0, 0)  # process.consoleSize (rows, columns)
    # the start gate (startgate.py) waited at before the identity is taken, or -1
    gate: int = -1
    uid: int = 0
    gid: int = 0
    groups: list[int] = field(default_factory=list)
    drop_bounding: list[int] = field(default_factory=list)
    effective: int = 0
    permitted: int = 0
    inheritable: int = 0
    ambient: list[int] = field(default_factory=list)
    no_new_privs: bool = False
    # the compiled linux.seccomp (struct sock_filter[]), empty for none, and seccomp(2) flags
    seccomp: bytes = b""
    seccomp_flags: int = 0
    oom_score_adj: int | None = None
    rlimits: list[tuple[int, int, int]] = field(default_factory=list)
    cwd: str = "/"
    args: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)
    path: str = DEFAULT_PATH


@functools.cache
def _cgroup_links() -> tuple[tuple[str, str], ...]:
    out = []
    try:
        for e in os.scandir(cgroups.ROOT):
            if e.is_symlink():
                out.append((e.name, os.readlink(e.path)))
    except OSError:
        pass
    return tuple(out)


def prepare() -> None:
    """Read the host facts spawn() needs (cgroup layout, capability sets) now, so a
    zygote pays for it once and every shim forked from it starts warm."""
    cgroups.layout()
    cgroups.host_mounts()
    _cgroup_links()
    capabilities.last_cap()
    capabilities.bounding_mask()
    seccomp.prepare()  # the default filter compiled once (10-15 ms), not per start


def _rlimit_number(name: str) -> int:
    import resource  # rare: only configs with rlimits get here

    n = getattr(resource, name, None)
    if not isinstance(n, int):
        raise StartError(f"{PREFIX}unknown rlimit {name!r}")
    return n


def _rlimit(rl: dict) -> tuple[int, int, int]:
    """(resource, soft, hard) for setrlimit. Without CAP_SYS_RESOURCE a hard limit cannot go
    above the one we run with: say so plainly rather than fail with EPERM in the child."""
    import resource

    num = _rlimit_number(rl["type"])
    soft, hard = (
        resource.RLIM_INFINITY if int(v) >= 1 << 63 or int(v) < 0 else int(v)
        for v in (rl["soft"], rl["hard"])
    )
    cur = resource.getrlimit(num)[1]
    inf = resource.RLIM_INFINITY
    above = cur != inf and (hard == inf or hard > cur)
    if above and not _has_cap(_CAP_SYS_RESOURCE):
        raise StartError(
            f"{PREFIX}error setting rlimit type {rl['type']}: hard limit "
            f"{'unlimited' if hard == inf else hard} is above this daemon's hard limit {cur} "
            "and raising it needs CAP_SYS_RESOURCE"
        )
    return num, soft, hard


def _has_cap(cap: int) -> bool:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> cap & 1)
    except OSError:
        pass
    return False


# what completes `entry`'s half of a plan, in the child (launch.spawn makes one)
Finish = Callable[[Plan], Plan]


def plan(config: dict, *, console_socket: int = -1) -> Plan:
    """Work out the child's steps from an OCI config (raises StartError if unusable).
    With `console_socket` a terminal process gets a console made in its own devpts.
    Both halves at once; a launch runs `complete` in the child."""
    return complete(entry(config), config, console_socket=console_socket)


def entry(config: dict) -> Plan:
    """The half of the plan the fork needs, in the parent: the namespaces to enter and the
    cgroup the child is forked into (raises StartError if unusable)."""
    linux = config.get("linux") or {}
    p = Plan()
    _plan_namespaces(p, linux.get("namespaces") or [])
    cg_path = linux.get("cgroupsPath") or ""
    if cg_path:
        p.procs_files, p.cgroup2_dir = cgroups.entry(cg_path)
    return p


def complete(p: Plan, config: dict, *, console_socket: int = -1) -> Plan:
    """The rest of `entry`'s plan: process, identity, limits, seccomp, root filesystem."""
    process = config.get("process") or {}
    linux = config.get("linux") or {}
    _plan_process(p, process)
    if p.terminal and console_socket >= 0:
        p.console_socket = console_socket
        size = process.get("consoleSize") or {}
        p.console_size = (int(size.get("height") or 0), int(size.get("width") or 0))
    _plan_seccomp(p, linux.get("seccomp"))
    _plan_rootfs(p, config, linux.get("cgroupsPath") or "")
    if p.unshare_flags & CLONE_NEWUTS:
        p.hostname = config.get("hostname") or ""
        p.domainname = config.get("domainname") or ""
    return p


def _plan_namespaces(p: Plan, namespaces: list[dict]) -> None:
    """New namespaces to unshare, existing ones to join, and the pid namespace apart (only
    a fork enters it)."""
    for ns in namespaces:
        typ = ns.get("type")
        flag = _NS_FLAGS.get(typ or "")
        if flag is None or flag == CLONE_NEWUSER:
            raise StartError(f"{PREFIX}namespace {typ!r} is not supported")
        path = ns.get("path")
        if flag == CLONE_NEWPID:
            p.pid_ns = path or "new"
        elif path:
            p.joins.append((flag, path))
        else:
            p.unshare_flags |= flag
    if not p.unshare_flags & CLONE_NEWNS:
        raise StartError(f"{PREFIX}a mount namespace is required")
    p.loopback = bool(p.unshare_flags & CLONE_NEWNET)


def _plan_rootfs(p: Plan, config: dict, cg_path: str) -> None:
    """The root filesystem's steps (rootfs.plan), with the container's cgroup bound in."""
    binds: tuple[tuple[str, str], ...] = ()
    host = tuple(cgroups.host_mounts())
    if cg_path:
        # through cgroups.join, like every other cgroup path: a ".." cannot reach past a
        # hierarchy's root into a host directory that would then be bound in
        binds = tuple(
            (name, cgroups.join(os.path.join(cgroups.ROOT, name), cg_path)) for name, _, _ in host
        )
    p.fs_before, p.fs_after = rootfs.plan(
        config,
        cgroup_host=host,
        cgroup_links=_cgroup_links(),
        cgroup_binds=binds,
        bind_stdio_console=p.console_socket < 0,
    )


def _plan_process(p: Plan, process: dict) -> None:
    """The steps the OCI `process` object asks for, shared by a container's init and an exec."""
    args = process.get("args") or []
    if not args:
        raise StartError(f"{PREFIX}args must not be empty")
    p.args = list(args)
    p.env = list(process.get("env") or [])
    for e in p.env:
        if e.startswith("PATH="):
            p.path = e[5:]
    p.terminal = bool(process.get("terminal"))
    user = process.get("user") or {}
    p.uid = int(user.get("uid") or 0)
    p.gid = int(user.get("gid") or 0)
    p.groups = [int(g) for g in user.get("additionalGids") or []]
    _plan_capabilities(p, process.get("capabilities") or {})
    p.no_new_privs = bool(process.get("noNewPrivileges"))
    if process.get("oomScoreAdj") is not None:
        p.oom_score_adj = int(process["oomScoreAdj"])
    for rl in process.get("rlimits") or []:
        p.rlimits.append(_rlimit(rl))
    p.cwd = process.get("cwd") or "/"


def _plan_capabilities(p: Plan, caps: dict) -> None:
    """The OCI capability sets, each limited to what we hold ourselves."""
    own = capabilities.bounding_mask()
    bounding = capabilities.mask(caps.get("bounding") or []) & own
    p.drop_bounding = [i for i in range(capabilities.last_cap() + 1) if not bounding >> i & 1]
    p.effective = capabilities.mask(caps.get("effective") or []) & own
    p.permitted = capabilities.mask(caps.get("permitted") or []) & own
    p.inheritable = capabilities.mask(caps.get("inheritable") or []) & own
    amb = capabilities.mask(caps.get("ambient") or []) & own
    p.ambient = [i for i in range(capabilities.last_cap() + 1) if amb >> i & 1]


def _plan_seccomp(p: Plan, oci: dict | None) -> None:
    """Compile the OCI linux.seccomp object now, in the parent; {} or None is no filter."""
    if not oci:
        return
    if not oci.get("defaultAction"):
        raise StartError(f"{PREFIX}unable to init seccomp: invalid default action")
    try:
        p.seccomp = seccomp_compiler.compile_bpf(oci)
        p.seccomp_flags = seccomp_compiler.filter_flags(oci)
    except (seccomp_compiler.SeccompError, OSError, ValueError, TypeError) as e:
        raise StartError(f"{PREFIX}unable to init seccomp: {e}") from None


# The order runc joins an existing container's namespaces in: the cgroup namespace after the
# cgroup itself, the mount namespace last (the other /proc/PID/ns paths are resolved in ours).
_EXEC_JOINS = (
    ("cgroup", CLONE_NEWCGROUP),
    ("ipc", CLONE_NEWIPC),
    ("uts", CLONE_NEWUTS),
    ("net", CLONE_NEWNET),
    ("mnt", CLONE_NEWNS),
)


def _same_ns(name: str, pid: int) -> bool:
    try:
        a = os.stat(f"/proc/self/ns/{name}")
        b = os.stat(f"/proc/{pid}/ns/{name}")
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def plan_exec(config: dict, process: dict, init_pid: int) -> Plan:
    """Steps for a process joining the running container whose init is `init_pid`: its cgroup,
    every namespace it does not share with us, then `process` (a full OCI process object)."""
    p = Plan()
    _plan_process(p, process)
    # as runc exec: the container's filter, and no_new_privs if the container has it even
    # when the exec's own process object does not ask for it
    p.no_new_privs = p.no_new_privs or bool((config.get("process") or {}).get("noNewPrivileges"))
    _plan_seccomp(p, (config.get("linux") or {}).get("seccomp"))
    cg_path = (config.get("linux") or {}).get("cgroupsPath") or ""
    if cg_path:
        p.procs_files, p.cgroup2_dir = cgroups.entry(cg_path)
    for name, flag in _EXEC_JOINS:
        if not _same_ns(name, init_pid):
            p.joins.append((flag, f"/proc/{init_pid}/ns/{name}"))
    if not _same_ns("pid", init_pid):
        p.pid_ns = f"/proc/{init_pid}/ns/pid"
    return p
