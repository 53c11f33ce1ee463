"""Container cgroups on v1 (one hierarchy per controller) and v2 (unified).

A container's cgroup is named by a path relative to each hierarchy's root
("/berth/<id>"). Every function takes `root` (default /sys/fs/cgroup) so tests
can point it at a directory tree that imitates cgroupfs.

Paths come from requests (HostConfig.CgroupParent), so every directory this module
makes, writes or removes is built by join(): the path is cleaned as runc's CleanPath
does (lexically, as if absolute) and put under the hierarchy's root, which no `..`
can climb out of.

Device access: v1 has the devices controller; v2 has none, the kernel asks a
BPF_PROG_TYPE_CGROUP_DEVICE program attached to the cgroup (devicefilter.py builds it,
bpf.py loads it). On a hybrid host (v1 controllers plus cgroup2 at <root>/unified) the
container also joins the unified hierarchy, as runc does, and gets the program there
too: a second guard behind the v1 devices controller.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import posixpath
import signal
import time
from dataclasses import dataclass

from berth.runtime import bpf, devicefilter
from berth.runtime.spec import DEFAULT_DEVICE_RULES

ROOT = "/sys/fs/cgroup"
# v1 hierarchies berth manages; others (net_cls, perf_event, ...) are left alone.
_V1_MANAGED = ("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids")
_V2_CONTROLLERS = ("cpuset", "cpu", "io", "memory", "pids")


def clean_path(path: str) -> str:
    """A cgroup path cleaned as runc's utils.CleanPath does, lexically and as if it were
    absolute (so `..` stops at the root), returned relative: "a/../../b" -> "b",
    "/../x" -> "x", "x/./y" -> "x/y", "//x" -> "x", "" -> "" (the root)."""
    # normpath keeps exactly two leading slashes (POSIX); the lstrip drops them too
    return posixpath.normpath("/" + path).lstrip("/")


def climbs_out(path: str) -> bool:
    """Whether `path`, read relative to a hierarchy's root, has a `..` that would climb
    above that root: what clean_path() quietly stops, and what a request is refused for."""
    depth = 0
    for part in path.split("/"):
        if part == "..":
            if depth == 0:
                return True
            depth -= 1
        elif part not in ("", "."):
            depth += 1
    return False


def join(base: str, path: str) -> str:
    """The cgroup `path` under the hierarchy directory `base`, never outside it, whatever
    `path` holds: the one way this module turns a cgroup path into a directory."""
    rel = clean_path(path)
    if not rel:
        return base
    out = os.path.join(base, rel)
    # clean_path leaves no ".." and no leading "/": this holds by construction, and is
    # checked all the same since a path that got out would be written to as root
    if not out.startswith(base.rstrip("/") + "/"):
        raise ValueError(f"cgroup path {path!r} leaves {base}")
    return out


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
            if c in _V1_MANAGED:
                pairs.append((c, e.path))
    unified = os.path.join(root, "unified")
    if not pairs or not os.path.exists(os.path.join(unified, "cgroup.controllers")):
        unified = ""
    return Layout(v2=False, root=root, v1=tuple(pairs), unified=unified)


def is_v2(root: str = ROOT) -> bool:
    """True on a pure cgroup v2 (unified) host."""
    return layout(root).v2


def _write(path: str, value: str) -> None:
    # O_CREAT is a no-op on cgroupfs (the kernel made the file) and lets tests use a
    # plain directory tree
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, value.encode())
    except OSError as e:
        raise OSError(e.errno, f"write {value!r} to {path}: {os.strerror(e.errno or 0)}") from None
    finally:
        os.close(fd)


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _mkdir_cpuset(mnt: str, path: str) -> None:
    """mkdir -p for a v1 cpuset dir below the hierarchy `mnt`: each new level inherits
    cpus/mems from its parent, or the kernel refuses to attach tasks to it."""
    if path == mnt:
        return
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        _mkdir_cpuset(mnt, parent)
    try:
        os.mkdir(path, 0o755)
    except FileExistsError:
        return
    for f in ("cpuset.cpus", "cpuset.mems"):
        src = os.path.join(parent, f)
        if os.path.exists(src):
            val = _read(src).strip()
            if val:
                _write(os.path.join(path, f), val)


def _enable_v2_controllers(lay: Layout, path: str) -> None:
    """Make the container's dir and its ancestors, turning on the controllers we use in
    the cgroup.subtree_control of each level above the container's."""
    rel = clean_path(path)
    parts = rel.split("/") if rel else []
    for depth in range(len(parts)):
        cur = join(lay.root, "/".join(parts[:depth]))
        sc = os.path.join(cur, "cgroup.subtree_control")
        avail = _read(os.path.join(cur, "cgroup.controllers")).split()
        enabled = _read(sc).split()
        want = [c for c in _V2_CONTROLLERS if c in avail and c not in enabled]
        if want:
            _write(sc, " ".join("+" + c for c in want))
        os.makedirs(join(lay.root, "/".join(parts[: depth + 1])), exist_ok=True)


def _v2_cpu_weight(shares: int) -> int:
    # the formula runc and crun use to map v1 shares (2..262144) to weight (1..10000)
    return 1 + ((max(2, min(shares, 262144)) - 2) * 9999) // 262142


def create(path: str, resources: dict | None = None, *, root: str = ROOT) -> None:
    """Create the container's cgroup in every hierarchy and apply OCI linux.resources
    (on v2, and in a hybrid host's unified hierarchy, devices by an eBPF program)."""
    lay = layout(root)
    res = resources or {}
    if not clean_path(path):
        # the hierarchy's own root: its limits and device rules are the whole host's
        raise OSError(errno.EINVAL, f"cgroup path {path!r} names the root cgroup")
    if lay.v2:
        _enable_v2_controllers(lay, path)
    else:
        for c, mnt in lay.v1:
            d = join(mnt, path)
            if c == "cpuset":
                _mkdir_cpuset(mnt, d)
            else:
                os.makedirs(d, exist_ok=True)
        if lay.unified:
            os.makedirs(join(lay.unified, path), exist_ok=True)
    try:
        (_apply_v2 if lay.v2 else _apply_v1)(lay, path, res)
        _apply_device_program(lay, path, res)
    except BaseException:
        try:
            remove(path, root=root, timeout=0)
        except OSError:
            pass  # the first error says what went wrong; this one would hide it
        raise


def _apply_v1(lay: Layout, path: str, res: dict) -> None:
    mem = res.get("memory") or {}
    d = lay.controller_dir("memory", path)
    if d and mem:
        if mem.get("limit") is not None:
            _write(os.path.join(d, "memory.limit_in_bytes"), str(mem["limit"]))
        swap = mem.get("swap")
        memsw = os.path.join(d, "memory.memsw.limit_in_bytes")
        if swap is not None and swap != 0 and os.path.exists(memsw):
            _write(memsw, str(swap))
        if mem.get("reservation") is not None:
            _write(os.path.join(d, "memory.soft_limit_in_bytes"), str(mem["reservation"]))
        if mem.get("swappiness") is not None:
            _write(os.path.join(d, "memory.swappiness"), str(mem["swappiness"]))
        if mem.get("oom_kill_disable"):
            _write(os.path.join(d, "memory.oom_control"), "1")
    cpu = res.get("cpu") or {}
    d = lay.controller_dir("cpu", path)
    if d and cpu:
        if cpu.get("shares"):
            _write(os.path.join(d, "cpu.shares"), str(cpu["shares"]))
        # the period first: the kernel checks quota against the current period
        if cpu.get("period"):
            _write(os.path.join(d, "cpu.cfs_period_us"), str(cpu["period"]))
        if cpu.get("quota"):
            _write(os.path.join(d, "cpu.cfs_quota_us"), str(cpu["quota"]))
    d = lay.controller_dir("cpuset", path)
    if d:
        if cpu.get("cpus"):
            _write(os.path.join(d, "cpuset.cpus"), cpu["cpus"])
        if cpu.get("mems"):
            _write(os.path.join(d, "cpuset.mems"), cpu["mems"])
    pids = res.get("pids") or {}
    d = lay.controller_dir("pids", path)
    if d and pids.get("limit") is not None:
        lim = pids["limit"]
        _write(os.path.join(d, "pids.max"), "max" if lim <= 0 else str(lim))
    d = lay.controller_dir("devices", path)
    if d and res.get("devices"):
        for rule in device_rules(res["devices"]):
            allow, text = rule
            _write(os.path.join(d, "devices.allow" if allow else "devices.deny"), text)


def with_implicit(devices: list[dict]) -> list[dict]:
    """The container's device rules as enforced: as runc does, the rules every container
    needs (mknod anywhere, ptys, /dev/ptmx) follow the configured ones, so they win."""
    return list(devices) + _IMPLICIT_DEVICES


def device_rules(devices: list[dict]) -> list[tuple[bool, str]]:
    """OCI linux.resources.devices -> (allow?, 'c 1:3 rwm') lines for v1 devices.*
    (with_implicit() rules)."""
    out: list[tuple[bool, str]] = []
    for d in with_implicit(devices):
        typ = d.get("type") or "a"
        major = d.get("major")
        minor = d.get("minor")
        access = d.get("access") or "rwm"
        if typ == "a":
            text = "a"
        else:
            text = (
                f"{typ} {'*' if major is None or major < 0 else major}:"
                f"{'*' if minor is None or minor < 0 else minor} {access}"
            )
        out.append((bool(d.get("allow")), text))
    return out


_IMPLICIT_DEVICES: list[dict] = [
    {"allow": True, "type": "c", "access": "m"},
    {"allow": True, "type": "b", "access": "m"},
    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 7, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 8, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 9, "access": "rwm"},
    {"allow": True, "type": "c", "major": 5, "minor": 0, "access": "rwm"},
    {"allow": True, "type": "c", "major": 5, "minor": 1, "access": "rwm"},
    {"allow": True, "type": "c", "major": 5, "minor": 2, "access": "rwm"},
    {"allow": True, "type": "c", "major": 136, "access": "rwm"},
]


def _apply_v2(lay: Layout, path: str, res: dict) -> None:
    d = lay.dirs(path)[0]
    mem = res.get("memory") or {}
    if mem.get("limit") is not None:
        _write(os.path.join(d, "memory.max"), "max" if mem["limit"] < 0 else str(mem["limit"]))
        swap = mem.get("swap")
        swap_file = os.path.join(d, "memory.swap.max")
        if swap is not None and swap != 0 and os.path.exists(swap_file):
            # OCI swap is memory+swap; v2 limits swap alone
            val = "max" if swap < 0 else str(max(0, swap - mem["limit"]))
            _write(swap_file, val)
    if mem.get("reservation") is not None:
        _write(os.path.join(d, "memory.low"), str(mem["reservation"]))
    cpu = res.get("cpu") or {}
    if cpu.get("shares"):
        _write(os.path.join(d, "cpu.weight"), str(_v2_cpu_weight(cpu["shares"])))
    if cpu.get("quota") or cpu.get("period"):
        quota = cpu.get("quota") or 0
        period = cpu.get("period") or 100000
        _write(os.path.join(d, "cpu.max"), f"{quota if quota > 0 else 'max'} {period}")
    if cpu.get("cpus"):
        _write(os.path.join(d, "cpuset.cpus"), cpu["cpus"])
    if cpu.get("mems"):
        _write(os.path.join(d, "cpuset.mems"), cpu["mems"])
    pids = res.get("pids") or {}
    if pids.get("limit") is not None:
        lim = pids["limit"]
        _write(os.path.join(d, "pids.max"), "max" if lim <= 0 else str(lim))


# bpf(2) failing so on a hybrid host means the kernel offers no cgroup device programs
# here (or a sandbox forbids them); the v1 devices controller still guards the container
_NO_BPF = frozenset({errno.ENOSYS, errno.EPERM, errno.EACCES, errno.EOPNOTSUPP, 524})


def _compiled(devices: list[dict]) -> tuple[list[dict], bytes]:
    return devices, devicefilter.program(with_implicit(devices))


# The programs for the rule lists nearly every container has, compiled at import: the
# zygote imports this module, so a shim forked from it finds them ready instead of
# compiling after fork, cold (a few hundred microseconds more per container start).
_PRECOMPILED = (
    _compiled(list(DEFAULT_DEVICE_RULES)),
    _compiled([{"allow": True, "access": "rwm"}]),
)


def device_program(devices: list[dict]) -> bytes:
    """The encoded cgroup device program enforcing with_implicit(devices)."""
    for known, code in _PRECOMPILED:
        if devices == known:
            return code
    return devicefilter.program(with_implicit(devices))


def _apply_device_program(lay: Layout, path: str, res: dict) -> None:
    """Attach the program enforcing res["devices"] to the container's cgroup2 dir.

    Called on a fresh cgroup only: a second attach would add a program (ALLOW_MULTI),
    not replace the first, and docker update has no device rules to change."""
    devices = res.get("devices")
    d = lay.v2_dir(path)
    if not devices or d is None:
        return
    try:
        code = device_program(devices)
    except ValueError as e:
        raise OSError(errno.EINVAL, f"device rules: {e}") from None
    try:
        attach_device_program(d, code)
    except OSError as e:
        if lay.v2 or e.errno not in _NO_BPF or lay.controller_dir("devices", path) is None:
            raise


def attach_device_program(cgroup_dir: str, code: bytes) -> None:
    """Load the encoded cgroup device program and attach it to `cgroup_dir` (a cgroup2
    directory). The attachment keeps the program alive until the cgroup goes, so the
    program's fd is closed at once."""
    dfd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        prog = bpf.prog_load_cgroup_device(code)
        try:
            bpf.prog_attach(prog, dfd)
        finally:
            os.close(prog)
    finally:
        os.close(dfd)


def procs_files(path: str, *, root: str = ROOT) -> list[str]:
    """The cgroup.procs file of the container's cgroup in every hierarchy."""
    return [os.path.join(d, "cgroup.procs") for d in layout(root).dirs(path)]


def add_process(path: str, pid: int, *, root: str = ROOT) -> None:
    """Move `pid` (0: the calling process) into the container's cgroups."""
    for f in procs_files(path, root=root):
        _write(f, str(pid))


def pids(path: str, *, root: str = ROOT) -> list[int]:
    """Processes in the container's cgroup (from the first hierarchy)."""
    dirs = layout(root).dirs(path)
    if not dirs:
        return []
    try:
        return [int(x) for x in _read(os.path.join(dirs[0], "cgroup.procs")).split()]
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


def oom_kill_count(path: str, *, root: str = ROOT) -> int:
    """How many times the kernel OOM-killed a task of this cgroup (0 if unknown)."""
    lay = layout(root)
    d = lay.controller_dir("memory", path)
    if d is None:
        return 0
    name = "memory.events" if lay.v2 else "memory.oom_control"
    try:
        text = _read(os.path.join(d, name))
    except FileNotFoundError:
        return 0
    for line in text.splitlines():
        k, _, v = line.partition(" ")
        if k == "oom_kill":
            return int(v)
    return 0


def memory_usage(path: str, *, root: str = ROOT) -> int:
    """Current memory charge of the container in bytes (0 if unknown)."""
    lay = layout(root)
    d = lay.controller_dir("memory", path)
    if d is None:
        return 0
    name = "memory.current" if lay.v2 else "memory.usage_in_bytes"
    try:
        return int(_read(os.path.join(d, name)))
    except (FileNotFoundError, ValueError):
        return 0


def update(path: str, resources: dict, *, root: str = ROOT) -> None:
    """Apply OCI linux.resources to a live cgroup (docker update).

    On v1 the kernel refuses memory.limit_in_bytes above memory.memsw.limit_in_bytes,
    so when the limit grows the swap limit is written first."""
    lay = layout(root)
    res = dict(resources)
    mem = dict(res.get("memory") or {})
    d = lay.controller_dir("memory", path)
    if not lay.v2 and d and mem.get("limit") is not None:
        memsw = os.path.join(d, "memory.memsw.limit_in_bytes")
        swap = mem.get("swap")
        if swap and os.path.exists(memsw):
            cur = _read_int(os.path.join(d, "memory.limit_in_bytes"))
            if cur is not None and (swap < 0 or mem["limit"] > cur):
                _write(memsw, str(swap))
                _write(os.path.join(d, "memory.limit_in_bytes"), str(mem["limit"]))
                mem.pop("swap")
                mem.pop("limit")
        res["memory"] = mem
    cpu = res.get("cpu") or {}
    cd = lay.controller_dir("cpu", path)
    if not lay.v2 and cd and cpu.get("quota") is not None and cpu["quota"] <= 0:
        # 0 clears a quota: the kernel's "no limit" is -1
        _write(os.path.join(cd, "cpu.cfs_quota_us"), "-1")
    (_apply_v2 if lay.v2 else _apply_v1)(lay, path, res)


def _read_int(path: str) -> int | None:
    try:
        text = _read(path).strip()
    except (FileNotFoundError, OSError):
        return None
    if text == "max":
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _read_kv(path: str) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        text = _read(path)
    except (FileNotFoundError, OSError):
        return out
    for line in text.splitlines():
        k, _, v = line.partition(" ")
        try:
            out[k] = int(v)
        except ValueError:
            continue
    return out


_USER_HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def read_stats(path: str, *, root: str = ROOT) -> dict:
    """The raw counters `docker stats` shows, from v1 or v2 files:
    {"cpu": {total, percpu, user, system, periods, throttled_periods, throttled_time}
     (nanoseconds), "memory": {usage, max_usage, limit, failcnt, stat},
     "pids": {current, limit}, "blkio": {name: [{major, minor, op, value}]}}.
    Missing files give missing keys (None), never an error."""
    lay = layout(root)
    return _stats_v2(lay, path) if lay.v2 else _stats_v1(lay, path)


def _stats_v1(lay: Layout, path: str) -> dict:
    out: dict = {"cpu": {}, "memory": {}, "pids": {}, "blkio": {}}
    d = lay.controller_dir("cpuacct", path)
    if d:
        cpu = out["cpu"]
        cpu["total"] = _read_int(os.path.join(d, "cpuacct.usage"))
        try:
            cpu["percpu"] = [int(x) for x in _read(os.path.join(d, "cpuacct.usage_percpu")).split()]
        except (OSError, ValueError):
            cpu["percpu"] = None
        ticks = _read_kv(os.path.join(d, "cpuacct.stat"))
        tick_ns = 1_000_000_000 // _USER_HZ
        cpu["user"] = ticks.get("user", 0) * tick_ns
        cpu["system"] = ticks.get("system", 0) * tick_ns
    d = lay.controller_dir("cpu", path)
    if d:
        st = _read_kv(os.path.join(d, "cpu.stat"))
        out["cpu"]["periods"] = st.get("nr_periods", 0)
        out["cpu"]["throttled_periods"] = st.get("nr_throttled", 0)
        out["cpu"]["throttled_time"] = st.get("throttled_time", 0)
    d = lay.controller_dir("memory", path)
    if d:
        out["memory"] = {
            "usage": _read_int(os.path.join(d, "memory.usage_in_bytes")),
            "max_usage": _read_int(os.path.join(d, "memory.max_usage_in_bytes")),
            "limit": _read_int(os.path.join(d, "memory.limit_in_bytes")),
            "failcnt": _read_int(os.path.join(d, "memory.failcnt")),
            "stat": _read_kv(os.path.join(d, "memory.stat")),
        }
    d = lay.controller_dir("pids", path)
    if d:
        out["pids"] = {
            "current": _read_int(os.path.join(d, "pids.current")),
            "limit": _read_int(os.path.join(d, "pids.max")),
        }
    d = lay.controller_dir("blkio", path)
    if d:
        for name in ("io_service_bytes_recursive", "io_serviced_recursive"):
            # runc's order: the CFQ scheduler's counters, then BFQ's, then the throttle
            # layer's (which every blk-mq kernel keeps)
            for prefix in ("blkio.", "blkio.bfq.", "blkio.throttle."):
                entries = _blkio_v1(os.path.join(d, prefix + name))
                if entries:
                    break
            out["blkio"][name] = entries
    return out


def _blkio_v1(path: str) -> list[dict]:
    entries: list[dict] = []
    try:
        text = _read(path)
    except (FileNotFoundError, OSError):
        return entries
    for line in text.splitlines():
        f = line.split()
        if len(f) != 3 or ":" not in f[0]:
            continue  # the "Total N" line
        major, _, minor = f[0].partition(":")
        entries.append({"major": int(major), "minor": int(minor), "op": f[1], "value": int(f[2])})
    return entries


def _stats_v2(lay: Layout, path: str) -> dict:
    d = lay.dirs(path)[0]
    st = _read_kv(os.path.join(d, "cpu.stat"))
    out: dict = {
        "cpu": {
            "total": st["usage_usec"] * 1000 if "usage_usec" in st else None,
            "percpu": None,
            "user": st.get("user_usec", 0) * 1000,
            "system": st.get("system_usec", 0) * 1000,
            "periods": st.get("nr_periods", 0),
            "throttled_periods": st.get("nr_throttled", 0),
            "throttled_time": st.get("throttled_usec", 0) * 1000,
        },
        "memory": {
            "usage": _read_int(os.path.join(d, "memory.current")),
            "max_usage": _read_int(os.path.join(d, "memory.peak")),
            "limit": _read_int(os.path.join(d, "memory.max")),
            "failcnt": None,
            "stat": _read_kv(os.path.join(d, "memory.stat")),
        },
        "pids": {
            "current": _read_int(os.path.join(d, "pids.current")),
            "limit": _read_int(os.path.join(d, "pids.max")),
        },
        "blkio": {"io_service_bytes_recursive": [], "io_serviced_recursive": []},
    }
    try:
        text = _read(os.path.join(d, "io.stat"))
    except (FileNotFoundError, OSError):
        text = ""
    for line in text.splitlines():
        f = line.split()
        if not f or ":" not in f[0]:
            continue
        major, _, minor = f[0].partition(":")
        kv = dict(x.partition("=")[::2] for x in f[1:])
        for key, name, op in (
            ("rbytes", "io_service_bytes_recursive", "read"),
            ("wbytes", "io_service_bytes_recursive", "write"),
            ("rios", "io_serviced_recursive", "read"),
            ("wios", "io_serviced_recursive", "write"),
        ):
            if key in kv:
                out["blkio"][name].append(
                    {"major": int(major), "minor": int(minor), "op": op, "value": int(kv[key])}
                )
    return out


def system_cpu_usage() -> int:
    """The host's CPU time in nanoseconds (/proc/stat's first line, as dockerd sums it)."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu "):
                ticks = sum(int(x) for x in line.split()[1:8])
                return ticks * (1_000_000_000 // _USER_HZ)
    return 0


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
            events = _read(os.path.join(d, "cgroup.events"))
        except FileNotFoundError:
            return "THAWED"
        frozen = "frozen 1" in events
        want = _read(os.path.join(d, "cgroup.freeze")).strip() == "1"
        if frozen:
            return "FROZEN"
        return "FREEZING" if want else "THAWED"
    fd = lay.controller_dir("freezer", path)
    if fd is None:
        return "THAWED"
    try:
        return _read(os.path.join(fd, "freezer.state")).strip()
    except FileNotFoundError:
        return "THAWED"


def _set_frozen(path: str, frozen: bool, root: str, timeout: float) -> None:
    lay = layout(root)
    if lay.v2:
        _write(os.path.join(lay.dirs(path)[0], "cgroup.freeze"), "1" if frozen else "0")
    else:
        d = lay.controller_dir("freezer", path)
        if d is None:
            raise OSError(errno.ENOTSUP, "no freezer cgroup hierarchy")
        _write(os.path.join(d, "freezer.state"), "FROZEN" if frozen else "THAWED")
    want = "FROZEN" if frozen else "THAWED"
    deadline = time.monotonic() + timeout
    while state(path, root=root) != want:
        if time.monotonic() >= deadline:
            raise TimeoutError(f"cgroup {path} did not become {want}")
        if not lay.v2 and frozen:
            # v1 can stall in FREEZING; writing again retries the stragglers
            _write(os.path.join(lay.controller_dir("freezer", path) or "", "freezer.state"), want)
        time.sleep(0.001)


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
    _V1_MANAGED + ("hugetlb", "net_cls", "net_prio", "perf_event", "rdma", "misc", "none", "xattr")
)
