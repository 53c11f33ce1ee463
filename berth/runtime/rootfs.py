"""The container's filesystem: the overlay root (host side) and, inside the new
mount namespace, the OCI mounts, device nodes, pivot_root, masked and read-only
paths.

`plan()` turns the config into a list of steps in the parent (cheap to run after
fork); `run()` executes them through `syscalls.sys_` so the unit tests can
record the exact order of mounts with a fake.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from typing import Any

from berth.runtime import syscalls
from berth.runtime.syscalls import (
    MNT_DETACH,
    MS_BIND,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_PRIVATE,
    MS_RDONLY,
    MS_REC,
    MS_REMOUNT,
    MS_SHARED,
    MS_SLAVE,
    MS_UNBINDABLE,
    Syscalls,
)

# mount option -> (clears the flag?, flag), as runc parses OCI mount options
_FLAGS: dict[str, tuple[bool, int]] = {
    "ro": (False, MS_RDONLY),
    "rw": (True, MS_RDONLY),
    "suid": (True, MS_NOSUID),
    "nosuid": (False, MS_NOSUID),
    "dev": (True, MS_NODEV),
    "nodev": (False, MS_NODEV),
    "exec": (True, MS_NOEXEC),
    "noexec": (False, MS_NOEXEC),
    "sync": (False, syscalls.MS_SYNCHRONOUS),
    "async": (True, syscalls.MS_SYNCHRONOUS),
    "dirsync": (False, syscalls.MS_DIRSYNC),
    "mand": (False, syscalls.MS_MANDLOCK),
    "nomand": (True, syscalls.MS_MANDLOCK),
    "atime": (True, syscalls.MS_NOATIME),
    "noatime": (False, syscalls.MS_NOATIME),
    "diratime": (True, syscalls.MS_NODIRATIME),
    "nodiratime": (False, syscalls.MS_NODIRATIME),
    "relatime": (False, syscalls.MS_RELATIME),
    "norelatime": (True, syscalls.MS_RELATIME),
    "strictatime": (False, syscalls.MS_STRICTATIME),
    "nostrictatime": (True, syscalls.MS_STRICTATIME),
    "bind": (False, MS_BIND),
    "rbind": (False, MS_BIND | MS_REC),
    "remount": (False, MS_REMOUNT),
}
_PROPAGATION: dict[str, int] = {
    "private": MS_PRIVATE,
    "rprivate": MS_PRIVATE | MS_REC,
    "shared": MS_SHARED,
    "rshared": MS_SHARED | MS_REC,
    "slave": MS_SLAVE,
    "rslave": MS_SLAVE | MS_REC,
    "unbindable": MS_UNBINDABLE,
    "runbindable": MS_UNBINDABLE | MS_REC,
}
# flags a bind remount must carry over
_KEEP_ON_REMOUNT = MS_NOSUID | MS_NODEV | MS_NOEXEC | syscalls.MS_NOATIME | syscalls.MS_RELATIME

# (name, mode, major, minor): the nodes every container gets on its /dev tmpfs
DEFAULT_DEVICES: tuple[tuple[str, int, int, int], ...] = (
    ("null", 0o666, 1, 3),
    ("zero", 0o666, 1, 5),
    ("full", 0o666, 1, 7),
    ("random", 0o666, 1, 8),
    ("urandom", 0o666, 1, 9),
    ("tty", 0o666, 5, 0),
)
DEV_SYMLINKS: tuple[tuple[str, str], ...] = (
    ("/proc/self/fd", "fd"),
    ("/proc/self/fd/0", "stdin"),
    ("/proc/self/fd/1", "stdout"),
    ("/proc/self/fd/2", "stderr"),
    ("pts/ptmx", "ptmx"),
    ("/proc/kcore", "core"),
)

_PAGE = 4096


def parse_options(options: list[str]) -> tuple[int, int, str]:
    """OCI mount options -> (mount flags, propagation flags, data string)."""
    flags = 0
    prop = 0
    data: list[str] = []
    for o in options:
        f = _FLAGS.get(o)
        if f is not None:
            clear, bit = f
            flags = flags & ~bit if clear else flags | bit
        elif o in _PROPAGATION:
            prop = _PROPAGATION[o]
        else:
            data.append(o)
    return flags, prop, ",".join(data)


# ---------------------------------------------------------------------------
# host side: the overlay root


def mount_overlay(lowerdirs: list[str], upper: str, work: str, target: str) -> None:
    """Mount an overlay at `target`. `lowerdirs` are bottom-most first. An empty `upper`
    gives a read-only overlay (a single lower is then bind-mounted read-only)."""
    if not lowerdirs:
        raise ValueError("mount_overlay: no lower directories")
    sys_ = syscalls.sys_
    if not upper and len(lowerdirs) == 1:
        sys_.mount(lowerdirs[0], target, None, MS_BIND)
        sys_.mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY)
        return
    lowers = list(reversed(lowerdirs))
    tail = f",upperdir={upper},workdir={work}" if upper else ""
    data = "lowerdir=" + ":".join(lowers) + tail
    if len(data) < _PAGE - 1:
        sys_.mount("overlay", target, "overlay", 0, data)
        return
    # The options would not fit the kernel's one-page buffer: point short symlinks at
    # the layers. overlayfs resolves them at mount time, so they can go right after.
    import shutil  # rare path: keep the executor's import light
    import tempfile

    tmp = tempfile.mkdtemp(prefix="bo", dir="/run" if os.path.isdir("/run") else "/tmp")
    try:
        names = []
        for i, d in enumerate(lowers):
            os.symlink(d, os.path.join(tmp, str(i)))
            names.append(os.path.join(tmp, str(i)))
        data = "lowerdir=" + ":".join(names) + tail
        if len(data) >= _PAGE - 1:
            raise OSError(errno.E2BIG, f"overlay: {len(lowers)} layers are too many")
        sys_.mount("overlay", target, "overlay", 0, data)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def mount_shm(target: str, size: int) -> None:
    """Mount the tmpfs of a shareable IPC namespace's /dev/shm at `target` (host side, like
    dockerd), so the containers that join the namespace can bind the same directory."""
    syscalls.sys_.mount(
        "shm", target, "tmpfs", MS_NOEXEC | MS_NOSUID | MS_NODEV, f"mode=1777,size={size}"
    )


def unmount(target: str) -> None:
    """Unmount `target`; no error if it is not mounted or does not exist. A busy mount
    is detached lazily."""
    sys_ = syscalls.sys_
    try:
        sys_.umount2(target, 0)
    except OSError as e:
        if e.errno in (errno.EINVAL, errno.ENOENT):
            return
        if e.errno != errno.EBUSY:
            raise
        sys_.umount2(target, MNT_DETACH)


# ---------------------------------------------------------------------------
# container side: steps run in the child, inside its new mount namespace

Step = tuple[Callable[..., None], tuple[Any, ...]]


def resolve_in_root(root: str, path: str) -> str:
    """`root`+`path` with symlinks resolved as if `root` were `/`: a link cannot lead
    outside the container's root. Missing components are kept literally."""
    parts = [p for p in path.split("/") if p and p != "."]
    parts.reverse()
    cur: list[str] = []
    hops = 0
    while parts:
        p = parts.pop()
        if p == "..":
            if cur:
                cur.pop()
            continue
        full = root + "/" + "/".join(cur + [p])
        try:
            st = os.lstat(full)
        except OSError:
            cur.append(p)
            continue
        if stat.S_ISLNK(st.st_mode):
            hops += 1
            if hops > 40:
                raise OSError(errno.ELOOP, f"too many symlinks resolving {path}")
            target = os.readlink(full)
            if target.startswith("/"):
                cur = []
            parts.extend(reversed([t for t in target.split("/") if t and t != "."]))
            continue
        cur.append(p)
    return root + "/" + "/".join(cur) if cur else root


def _makedirs(sys_: Syscalls, path: str) -> None:
    if os.path.isdir(path):
        return
    parent = os.path.dirname(path)
    if parent != path:
        _makedirs(sys_, parent)
    try:
        sys_.mkdir(path, 0o755)
    except FileExistsError:
        pass


def _prepare_target(sys_: Syscalls, root: str, dest: str, is_file: bool) -> str:
    target = resolve_in_root(root, dest)
    if is_file:
        _makedirs(sys_, os.path.dirname(target))
        if not os.path.exists(target):
            sys_.create_file(target)
    else:
        _makedirs(sys_, target)
    return target


def _do_mount(
    sys_: Syscalls,
    root: str,
    dest: str,
    source: str,
    fstype: str,
    flags: int,
    prop: int,
    data: str,
    is_file: bool,
) -> None:
    target = _prepare_target(sys_, root, dest, is_file)
    if flags & MS_BIND:
        sys_.mount(source, target, None, flags & (MS_BIND | MS_REC))
        extra = flags & ~(MS_BIND | MS_REC)
        if extra:
            sys_.mount(source, target, None, extra | MS_BIND | MS_REMOUNT)
    else:
        sys_.mount(source, target, fstype, flags, data or None)
    if prop:
        sys_.mount(None, target, None, prop)


def _do_cgroup_mount(
    sys_: Syscalls,
    root: str,
    dest: str,
    flags: int,
    host: tuple[tuple[str, str, str], ...],
    links: tuple[tuple[str, str], ...],
    own_ns: bool,
    binds: tuple[tuple[str, str], ...],
) -> None:
    """The cgroup filesystems at `dest`: with a cgroup namespace mount them fresh
    (their root is the container's cgroup); without one bind the container's dirs."""
    target = _prepare_target(sys_, root, dest, False)
    base = flags & (MS_NOSUID | MS_NODEV | MS_NOEXEC | syscalls.MS_RELATIME)
    if len(host) == 1 and host[0][0] == "":
        if own_ns:
            sys_.mount("cgroup2", target, "cgroup2", flags, host[0][2] or None)
        else:
            sys_.mount(binds[0][1], target, None, MS_BIND | MS_REC)
            sys_.mount(None, target, None, flags | MS_BIND | MS_REMOUNT)
        return
    sys_.mount("tmpfs", target, "tmpfs", base, "mode=755")
    bind_src = dict(binds)
    for name, fstype, opts in host:
        sub = target + "/" + name
        sys_.mkdir(sub, 0o755)
        if own_ns:
            sys_.mount("cgroup", sub, fstype, flags, opts or None)
        elif name in bind_src and os.path.isdir(bind_src[name]):
            # a hierarchy berth does not manage (name=systemd) has no dir for the container
            sys_.mount(bind_src[name], sub, None, MS_BIND | MS_REC)
            sys_.mount(None, sub, None, flags | MS_BIND | MS_REMOUNT)
    for link, to in links:
        sys_.symlink(to, target + "/" + link)
    if flags & MS_RDONLY:
        sys_.mount(None, target, None, MS_REMOUNT | MS_RDONLY | base, "mode=755")


def _do_devices(
    sys_: Syscalls, root: str, devices: tuple[tuple[str, int, int, int, int, int], ...]
) -> None:
    dev = resolve_in_root(root, "/dev")
    for path, mode, major, minor, uid, gid in devices:
        target = resolve_in_root(root, path)
        _makedirs(sys_, os.path.dirname(target))
        try:
            # exact modes: the executor runs this step with umask 0
            sys_.mknod(target, mode, os.makedev(major, minor))
        except FileExistsError:
            continue
        if uid or gid:
            sys_.chown(target, uid, gid)
    for to, name in DEV_SYMLINKS:
        try:
            sys_.symlink(to, dev + "/" + name)
        except FileExistsError:
            pass


def _do_console(sys_: Syscalls, root: str) -> None:
    # The terminal (our fd 0 by now) shows up as /dev/console, as runc arranges. Bind
    # its path, not the fd: the fd's mount belongs to the host's mount namespace, which
    # mount(2) refuses (EINVAL); our copy of that mount has the same path.
    src = os.readlink("/proc/self/fd/0")
    if not src.startswith("/"):
        return
    target = _prepare_target(sys_, root, "/dev/console", True)
    sys_.mount(src, target, None, MS_BIND)


def _do_root_propagation(sys_: Syscalls, root: str, prop: int) -> None:
    # nothing mounted from here on may propagate back to the host
    sys_.mount(None, "/", None, prop)
    sys_.mount(root, root, None, MS_BIND | MS_REC)


def _do_pivot(sys_: Syscalls, root: str) -> None:
    sys_.chdir(root)
    sys_.pivot_root(".", ".")
    # the old root sits on top of the new one; detach it without touching the host
    sys_.mount(None, ".", None, MS_SLAVE | MS_REC)
    sys_.umount2(".", MNT_DETACH)
    sys_.chdir("/")


def _do_sysctl(sys_: Syscalls, key: str, value: str) -> None:
    sys_.write_file("/proc/sys/" + key.replace(".", "/"), value)


def _do_mask(sys_: Syscalls, path: str) -> None:
    try:
        sys_.mount("/dev/null", path, None, MS_BIND)
    except OSError as e:
        if e.errno == errno.ENOENT:
            return
        if e.errno != errno.ENOTDIR:
            raise
        sys_.mount("tmpfs", path, "tmpfs", MS_RDONLY, None)


def _do_readonly(sys_: Syscalls, path: str) -> None:
    try:
        sys_.mount(path, path, None, MS_BIND | MS_REC)
    except OSError as e:
        if e.errno == errno.ENOENT:
            return
        raise
    keep = sys_.mount_flags(path) & _KEEP_ON_REMOUNT
    sys_.mount(path, path, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC | keep)


def _do_readonly_root(sys_: Syscalls) -> None:
    keep = sys_.mount_flags("/") & _KEEP_ON_REMOUNT
    sys_.mount(None, "/", None, MS_BIND | MS_REMOUNT | MS_RDONLY | keep)


def plan(
    config: dict,
    *,
    cgroup_host: tuple[tuple[str, str, str], ...] = (),
    cgroup_links: tuple[tuple[str, str], ...] = (),
    cgroup_binds: tuple[tuple[str, str], ...] = (),
    bind_stdio_console: bool = True,
) -> tuple[list[Step], list[Step]]:
    """Steps to build the container's filesystem: (before pivot_root, after it).

    `cgroup_host` is cgroups.host_mounts(); `cgroup_links` the symlinks under the
    host's /sys/fs/cgroup; `cgroup_binds` (name, host dir of the container's cgroup)
    used when the container has no cgroup namespace. `bind_stdio_console`: a terminal's
    /dev/console is the pty the caller gave as stdin (False: the executor makes the
    console in the container's own devpts after pivot_root)."""
    root = os.path.abspath(config["root"]["path"])
    linux = config.get("linux") or {}
    terminal = bool((config.get("process") or {}).get("terminal"))
    rprop = _PROPAGATION.get(linux.get("rootfsPropagation") or "rslave", MS_SLAVE | MS_REC)
    before: list[Step] = [(_do_root_propagation, (root, rprop))]
    mounts, dev_tmpfs = _plan_mounts(
        root,
        config.get("mounts") or [],
        linux,
        cgroup_host=cgroup_host,
        cgroup_links=cgroup_links,
        cgroup_binds=cgroup_binds,
    )
    before += mounts
    devices = _plan_devices(linux, dev_tmpfs)
    if devices or dev_tmpfs:
        before.append((_do_devices, (root, tuple(devices))))
    if terminal and dev_tmpfs and bind_stdio_console:
        before.append((_do_console, (root,)))
    cwd = (config.get("process") or {}).get("cwd") or "/"
    if cwd != "/":
        before.append((_do_mkcwd_in_root, (root, cwd)))
    before.append((_do_pivot, (root,)))
    return before, _plan_after(config, linux)


def _plan_mounts(
    root: str,
    mounts: list[dict],
    linux: dict,
    *,
    cgroup_host: tuple[tuple[str, str, str], ...],
    cgroup_links: tuple[tuple[str, str], ...],
    cgroup_binds: tuple[tuple[str, str], ...],
) -> tuple[list[Step], bool]:
    """A step per OCI mount, and whether /dev is a tmpfs (which then needs its nodes)."""
    ns_types = {n["type"] for n in linux.get("namespaces", [])}
    own_cgroupns = any(
        n["type"] == "cgroup" and not n.get("path") for n in linux.get("namespaces", [])
    )
    steps: list[Step] = []
    dev_tmpfs = False
    for m in mounts:
        dest = m["destination"]
        fstype = m.get("type") or ""
        flags, prop, data = parse_options(m.get("options") or [])
        if fstype == "cgroup":
            args = (root, dest, flags, cgroup_host, cgroup_links, own_cgroupns, cgroup_binds)
            steps.append((_do_cgroup_mount, args))
            continue
        if fstype == "bind":
            flags |= MS_BIND
        if fstype == "sysfs" and "network" not in ns_types:
            # sysfs of a shared network namespace: runc binds the host's instead
            flags |= MS_BIND | MS_REC
            m = dict(m, source="/sys")
        source = m.get("source") or fstype
        is_file = bool(flags & MS_BIND) and not os.path.isdir(source)
        steps.append((_do_mount, (root, dest, source, fstype, flags, prop, data, is_file)))
        if os.path.normpath(dest) == "/dev" and fstype == "tmpfs":
            dev_tmpfs = True
    return steps, dev_tmpfs


def _plan_devices(linux: dict, dev_tmpfs: bool) -> list[tuple[str, int, int, int, int, int]]:
    """The nodes to make: the defaults on a /dev tmpfs, then linux.devices."""
    devices: list[tuple[str, int, int, int, int, int]] = []
    if dev_tmpfs:
        devices = [
            ("/dev/" + n, stat.S_IFCHR | mode, ma, mi, 0, 0) for n, mode, ma, mi in DEFAULT_DEVICES
        ]
    for d in linux.get("devices") or []:
        kind = stat.S_IFBLK if d.get("type") == "b" else stat.S_IFCHR
        devices.append(
            (
                d["path"],
                kind | (d.get("fileMode") or 0o666),
                d.get("major", 0),
                d.get("minor", 0),
                d.get("uid") or 0,
                d.get("gid") or 0,
            )
        )
    return devices


def _plan_after(config: dict, linux: dict) -> list[Step]:
    """What is done after pivot_root: sysctls, read-only and masked paths, a read-only root."""
    after: list[Step] = []
    for k, v in (linux.get("sysctl") or {}).items():
        after.append((_do_sysctl, (k, v)))
    for p in linux.get("readonlyPaths") or []:
        after.append((_do_readonly, (p,)))
    for p in linux.get("maskedPaths") or []:
        after.append((_do_mask, (p,)))
    if (config.get("root") or {}).get("readonly"):
        after.append((_do_readonly_root, ()))
    return after


def _do_mkcwd_in_root(sys_: Syscalls, root: str, cwd: str) -> None:
    _makedirs(sys_, resolve_in_root(root, cwd))


def run(steps: list[Step], sys_: Syscalls) -> None:
    """Execute planned steps in order."""
    for fn, args in steps:
        fn(sys_, *args)
