"""The builtin OCI executor: start a container from an OCI config dict.

spawn() runs in the per-container shim. The parent work (parsing the config,
creating the cgroup, opening namespace files) happens before fork; the child
only replays a precomputed plan through `syscalls.sys_` and execs. A CLOEXEC
pipe carries a setup failure back as text, so spawn() returns only once execve
has succeeded.

exec_process() starts an extra process in a running container (docker exec) the
same way: it plans joins of the init's namespaces and cgroup instead of new
ones, then replays the same process steps (user, capabilities, cwd, execve).

Both join a new session keyring of their own, and load the container's seccomp filter,
compiled here in the parent (berth.runtime.seccomp) so the child only installs it.
"""

from __future__ import annotations

import errno
import fcntl
import functools
import os
import signal
import stat
import time
from dataclasses import dataclass, field

from berth.runtime import capabilities, cgroups, rootfs, seccomp, syscalls
from berth.runtime.seccomp import compiler as seccomp_compiler
from berth.runtime.syscalls import (
    CLONE_NEWCGROUP,
    CLONE_NEWIPC,
    CLONE_NEWNET,
    CLONE_NEWNS,
    CLONE_NEWPID,
    CLONE_NEWUSER,
    CLONE_NEWUTS,
    CLOSE_RANGE_CLOEXEC,
    KEY_USR_SEARCH,
    PR_CAP_AMBIENT,
    PR_CAP_AMBIENT_RAISE,
    PR_CAPBSET_DROP,
    PR_SET_KEEPCAPS,
    PR_SET_NO_NEW_PRIVS,
    Syscalls,
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
_PREFIX = "unable to start container process: "
_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class StartError(Exception):
    """The container could not start; `message` reads like runc's."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _ExecError(Exception):
    """Resolving or executing process.args[0] failed (Go exec.LookPath wording)."""


@dataclass
class Plan:
    """Everything the child needs, worked out before fork."""

    unshare_flags: int = 0
    joins: list[tuple[int, str]] = field(default_factory=list)  # (nstype, path) but not pid
    pid_ns: str | None = None  # "new", a path to join, or None (share ours)
    procs_files: list[str] = field(default_factory=list)
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
    path: str = _DEFAULT_PATH


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
        raise StartError(f"{_PREFIX}unknown rlimit {name!r}")
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
    if above and not _has_cap(24):  # CAP_SYS_RESOURCE
        raise StartError(
            f"{_PREFIX}error setting rlimit type {rl['type']}: hard limit "
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


def plan(config: dict, *, console_socket: int = -1) -> Plan:
    """Work out the child's steps from an OCI config (raises StartError if unusable).
    With `console_socket` a terminal process gets a console made in its own devpts."""
    process = config.get("process") or {}
    linux = config.get("linux") or {}
    p = Plan()
    _plan_process(p, process)
    if p.terminal and console_socket >= 0:
        p.console_socket = console_socket
        size = process.get("consoleSize") or {}
        p.console_size = (int(size.get("height") or 0), int(size.get("width") or 0))
    _plan_seccomp(p, linux.get("seccomp"))
    for ns in linux.get("namespaces") or []:
        typ = ns.get("type")
        flag = _NS_FLAGS.get(typ or "")
        if flag is None or flag == CLONE_NEWUSER:
            raise StartError(f"{_PREFIX}namespace {typ!r} is not supported")
        path = ns.get("path")
        if flag == CLONE_NEWPID:
            p.pid_ns = path or "new"
        elif path:
            p.joins.append((flag, path))
        else:
            p.unshare_flags |= flag
    if not p.unshare_flags & CLONE_NEWNS:
        raise StartError(f"{_PREFIX}a mount namespace is required")
    p.loopback = bool(p.unshare_flags & CLONE_NEWNET)
    cg_path = linux.get("cgroupsPath") or ""
    binds: tuple[tuple[str, str], ...] = ()
    host = tuple(cgroups.host_mounts())
    if cg_path:
        p.procs_files = cgroups.procs_files(cg_path)
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
    if p.unshare_flags & CLONE_NEWUTS:
        p.hostname = config.get("hostname") or ""
        p.domainname = config.get("domainname") or ""
    return p


def _plan_process(p: Plan, process: dict) -> None:
    """The steps the OCI `process` object asks for, shared by a container's init and an exec."""
    args = process.get("args") or []
    if not args:
        raise StartError(f"{_PREFIX}args must not be empty")
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
    caps = process.get("capabilities") or {}
    own = capabilities.bounding_mask()
    bounding = capabilities.mask(caps.get("bounding") or []) & own
    p.drop_bounding = [i for i in range(capabilities.last_cap() + 1) if not bounding >> i & 1]
    p.effective = capabilities.mask(caps.get("effective") or []) & own
    p.permitted = capabilities.mask(caps.get("permitted") or []) & own
    p.inheritable = capabilities.mask(caps.get("inheritable") or []) & own
    amb = capabilities.mask(caps.get("ambient") or []) & own
    p.ambient = [i for i in range(capabilities.last_cap() + 1) if amb >> i & 1]
    p.no_new_privs = bool(process.get("noNewPrivileges"))
    if process.get("oomScoreAdj") is not None:
        p.oom_score_adj = int(process["oomScoreAdj"])
    for rl in process.get("rlimits") or []:
        p.rlimits.append(_rlimit(rl))
    p.cwd = process.get("cwd") or "/"


def _plan_seccomp(p: Plan, oci: dict | None) -> None:
    """Compile the OCI linux.seccomp object now, in the parent; {} or None is no filter."""
    if not oci:
        return
    if not oci.get("defaultAction"):
        raise StartError(f"{_PREFIX}unable to init seccomp: invalid default action")
    try:
        p.seccomp = seccomp_compiler.compile_bpf(oci)
        p.seccomp_flags = seccomp_compiler.filter_flags(oci)
    except (seccomp_compiler.SeccompError, OSError, ValueError, TypeError) as e:
        raise StartError(f"{_PREFIX}unable to init seccomp: {e}") from None


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
        p.procs_files = cgroups.procs_files(cg_path)
    for name, flag in _EXEC_JOINS:
        if not _same_ns(name, init_pid):
            p.joins.append((flag, f"/proc/{init_pid}/ns/{name}"))
    if not _same_ns("pid", init_pid):
        p.pid_ns = f"/proc/{init_pid}/ns/pid"
    return p


# ---------------------------------------------------------------------------
# the child


def _go_err(e: OSError) -> str:
    # Go's syscall error strings are lower-case strerror
    s = os.strerror(e.errno) if e.errno else str(e)
    return s[:1].lower() + s[1:]


def _executable(path: str) -> OSError | None:
    """None if `path` is an executable file (Go's findExecutable), else the error."""
    try:
        st = os.stat(path)
    except OSError as e:
        return e
    if stat.S_ISDIR(st.st_mode) or not st.st_mode & 0o111:
        return OSError(errno.EACCES, "permission denied")
    if not os.access(path, os.X_OK):
        return OSError(errno.EACCES, "permission denied")
    return None


def look_path(name: str, path_env: str) -> str:
    """Resolve `name` like Go's exec.LookPath; raise _ExecError with Go's wording."""
    if "/" in name:
        err = _executable(name)
        if err is None:
            return name
        if err.errno == errno.EACCES:
            raise _ExecError(f'exec: "{name}": permission denied')
        raise _ExecError(f'exec: "{name}": stat {name}: {_go_err(err)}')
    for d in path_env.split(":"):
        cand = os.path.join(d or ".", name)
        if _executable(cand) is None:
            return cand
    raise _ExecError(f'exec: "{name}": executable file not found in $PATH')


def setup(p: Plan, sys_: Syscalls, join_fds: list[tuple[int, int]]) -> None:
    """The container init's setup, in order, ending in execve. Runs in the forked child
    (tests drive it with a recording fake). `join_fds` are (nstype, open fd)."""
    for f in p.procs_files:
        sys_.write_file(f, "0")
    for nstype, fd in join_fds:
        sys_.setns(fd, nstype)
    # after joining the cgroup, so the new cgroup namespace is rooted there
    if p.unshare_flags:
        sys_.unshare(p.unshare_flags)
    sys_.setsid()
    _join_keyring(sys_)
    if p.terminal and p.console_socket < 0:
        sys_.set_controlling_tty(0)
    rootfs.run(p.fs_before, sys_)
    if p.console_socket >= 0:
        _setup_console(p, sys_)
    if p.hostname:
        sys_.sethostname(p.hostname)
    if p.domainname:
        sys_.setdomainname(p.domainname)
    if p.loopback:
        sys_.loopback_up()
    rootfs.run(p.fs_after, sys_)
    if p.oom_score_adj is not None:
        with open("/proc/self/oom_score_adj") as adj:
            current = int(adj.read())
        if current != p.oom_score_adj:
            sys_.write_file("/proc/self/oom_score_adj", str(p.oom_score_adj))
    if p.rlimits:
        import resource

        for res, soft, hard in p.rlimits:
            resource.setrlimit(res, (soft, hard))
    # Without no_new_privs, installing a filter needs CAP_SYS_ADMIN: do it while we still
    # have every capability (the filter must then allow the identity calls below, as
    # dockerd's default does). With no_new_privs, as late as possible: right before execve.
    if p.seccomp and not p.no_new_privs:
        sys_.seccomp_load(p.seccomp, p.seccomp_flags)
    if p.no_new_privs:
        sys_.prctl(PR_SET_NO_NEW_PRIVS, 1)
    for cap in p.drop_bounding:
        sys_.prctl(PR_CAPBSET_DROP, cap)
    # keep the permitted set across the uid change, then trim it with capset
    sys_.prctl(PR_SET_KEEPCAPS, 1)
    sys_.setgroups(p.groups)
    sys_.setresgid(p.gid, p.gid, p.gid)
    sys_.setresuid(p.uid, p.uid, p.uid)
    sys_.prctl(PR_SET_KEEPCAPS, 0)
    sys_.capset(p.effective, p.permitted, p.inheritable)
    for cap in p.ambient:
        sys_.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap)
    try:
        sys_.chdir(p.cwd)
    except OSError as e:
        raise _ExecError(
            f'chdir to cwd ("{p.cwd}") set in config.json failed: {_go_err(e)}'
        ) from None
    exe = look_path(p.args[0], p.path)
    os.umask(0o022)
    sys_.close_range(3, 0xFFFFFFFF, CLOSE_RANGE_CLOEXEC)
    if p.seccomp and p.no_new_privs:
        sys_.seccomp_load(p.seccomp, p.seccomp_flags)
    try:
        sys_.execve(exe, p.args, p.env)
    except OSError as e:
        raise _ExecError(f"exec {exe}: {_go_err(e)}") from None


def _setup_console(p: Plan, sys_: Syscalls) -> None:
    """runc's setupConsole: in our own mount namespace, after pivot_root and before the
    rootfs is finalized, make a pty from the container's devpts (/dev/ptmx is its
    pts/ptmx), send the master to the shim, make the slave our stdio and controlling
    terminal, and bind it onto /dev/console. Inside, the terminal is then /dev/pts/0."""
    try:
        master, slave, path = sys_.open_pty("/dev/ptmx")
    except OSError as e:
        raise OSError(e.errno, f"unable to setup console: {e.strerror}") from None
    try:
        if any(p.console_size):  # as runc: sized before the process can ask
            sys_.set_winsize(master, *p.console_size)
        sys_.send_fds(p.console_socket, [master], b"console")
    finally:
        sys_.close(master)
    sys_.close(p.console_socket)
    for fd in (0, 1, 2):
        sys_.dup2(slave, fd)
    sys_.close(slave)
    # runc's fixStdioPermissions: the process's user owns its terminal (group tty stays)
    if p.uid:
        sys_.chown(path, p.uid, -1)
    sys_.set_controlling_tty(0)
    if not os.path.lexists("/dev/console"):
        sys_.create_file("/dev/console")
    sys_.mount(path, "/dev/console", None, syscalls.MS_BIND)


def _join_keyring(sys_: Syscalls) -> None:
    """A new anonymous session keyring, so that keys never cross containers (or reach the
    shim's and daemon's keyring). Like runc, the owner may search it ("uid search"),
    and a kernel without keyrings has nothing to share."""
    try:
        serial = sys_.join_session_keyring()
    except OSError as e:
        if e.errno == errno.ENOSYS:
            return
        raise OSError(e.errno, f"unable to join session keyring: {e.strerror}") from None
    try:
        perm = int(sys_.describe_key(serial).split(";")[3], 16)
        sys_.set_key_perm(serial, perm | KEY_USR_SEARCH)
    except (OSError, IndexError, ValueError) as e:
        raise OSError(
            getattr(e, "errno", None) or errno.EINVAL,
            f"unable to mod keyring permissions: {getattr(e, 'strerror', None) or e}",
        ) from None


def _place_stdio(stdio: tuple[int, int, int]) -> None:
    # copy above 2 first: a source may be one of 0..2 that an earlier dup2 replaces
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3) for fd in stdio]
    for target, fd in enumerate(high):
        os.dup2(fd, target, inheritable=True)
    for fd in high:
        os.close(fd)


def _child(
    p: Plan, stdio: tuple[int, int, int], join_fds: list[tuple[int, int]], err_r: int, err_w: int
) -> None:
    code = 127
    try:
        os.close(err_r)
        # dispositions and the mask survive execve; Python ignores SIGPIPE and SIGXFSZ
        signal.pthread_sigmask(signal.SIG_SETMASK, ())
        for s in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM):
            signal.signal(s, signal.SIG_DFL)
        os.umask(0)
        _place_stdio(stdio)
        setup(p, syscalls.sys_, join_fds)
    except _ExecError as e:
        _report(err_w, str(e))
    except OSError as e:
        _report(err_w, f"error during container init: {e.strerror or e}")
    except BaseException as e:  # anything else must still reach the parent
        _report(err_w, f"error during container init: {type(e).__name__}: {e}")
    finally:
        os._exit(code)


def _report(fd: int, msg: str) -> None:
    data = msg.encode(errors="replace")
    while data:
        n = os.write(fd, data)
        data = data[n:]


# ---------------------------------------------------------------------------
# the parent


def spawn(
    config: dict,
    stdio: tuple[int, int, int],
    *,
    console_fd: int | None = None,
    console_socket: int | None = None,
) -> int:
    """Start the container described by the OCI config dict; return the host pid of its
    init (a direct child of the caller) once execve has succeeded. stdio fds become
    0/1/2. For a terminal, with `console_socket` (a unix socket) the container makes
    its console in its own devpts and sends the master there (one message, the fd as
    SCM_RIGHTS, before execve: it is waiting once this returns; see receive_console);
    without it all three stdio fds are a pty slave of the caller's, which becomes the
    controlling tty. On failure raise StartError and leave nothing behind."""
    del console_fd  # the slave arrives as stdio; nothing else needs the master
    p = plan(config, console_socket=-1 if console_socket is None else console_socket)
    cg_path = (config.get("linux") or {}).get("cgroupsPath") or ""
    try:
        if cg_path:
            try:
                cgroups.create(cg_path, (config.get("linux") or {}).get("resources"))
            except OSError as e:
                raise StartError(f"{_PREFIX}unable to apply cgroup configuration: {e}") from None
        return _launch(p, stdio)
    except BaseException:
        if cg_path:
            try:
                cgroups.remove(cg_path)
            except OSError:
                pass
        raise


def exec_process(config: dict, process: dict, init_pid: int, stdio: tuple[int, int, int]) -> int:
    """Start `process` (an OCI process object) inside the running container described by
    `config` whose init is `init_pid`; return its host pid (a direct child of the caller)
    once execve has succeeded. Raises StartError like spawn()."""
    return _launch(plan_exec(config, process, init_pid), stdio)


def receive_console(sock: int) -> int:
    """The console master a container sent on `sock` during spawn() (non-blocking: it
    is there once spawn() has returned). Raises StartError if it is not."""
    import socket

    s = socket.socket(fileno=os.dup(sock))
    try:
        s.setblocking(False)
        _, fds, _, _ = socket.recv_fds(s, 64, 1)
    except OSError as e:
        raise StartError(f"{_PREFIX}no console from the container: {e}") from None
    finally:
        s.close()
    if not fds:
        raise StartError(f"{_PREFIX}no console from the container")
    return fds[0]


def container_pty(init_pid: int) -> tuple[int, int]:
    """A pty pair from the devpts instance of the container whose init is `init_pid`, so that
    inside it the terminal is a /dev/pts/N of its own (as with runc exec -t); the host's pty if
    that devpts cannot be reached. Returns (master, slave), both close-on-exec."""
    try:
        # the peer is opened through the master: no path lookup in a foreign mount namespace
        master, slave, _ = syscalls.sys_.open_pty(f"/proc/{init_pid}/root/dev/pts/ptmx")
    except OSError:
        m, s = os.openpty()
        return m, s
    return master, slave


def _launch(p: Plan, stdio: tuple[int, int, int]) -> int:
    """Fork the child that replays `p` and wait until it has exec'd (or failed)."""
    sys_ = syscalls.sys_
    opened: list[int] = []
    try:
        join_fds = []
        for nstype, path in p.joins:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            opened.append(fd)
            join_fds.append((nstype, fd))
        pid_fd = own_pid_fd = -1
        if p.pid_ns is not None:
            own_pid_fd = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
            opened.append(own_pid_fd)
            if p.pid_ns != "new":
                pid_fd = os.open(p.pid_ns, os.O_RDONLY | os.O_CLOEXEC)
                opened.append(pid_fd)
    except OSError as e:
        for fd in opened:
            os.close(fd)
        raise StartError(f"{_PREFIX}error opening namespace: {e}") from None
    try:
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        pid = -1
        try:
            # Only children feel a pid namespace change, so switch the caller's
            # "namespace for children" around the fork and switch it straight back:
            # the child is then in the container's pid namespace and still our direct child.
            if p.pid_ns == "new":
                sys_.unshare(CLONE_NEWPID)
            elif pid_fd >= 0:
                sys_.setns(pid_fd, CLONE_NEWPID)
            pid = os.fork()
            if pid == 0:
                _child(p, stdio, join_fds, err_r, err_w)
        except OSError as e:
            os.close(err_r)
            raise StartError(f"{_PREFIX}{e}") from None
        finally:
            if pid != 0:
                if own_pid_fd >= 0:
                    sys_.setns(own_pid_fd, CLONE_NEWPID)
                os.close(err_w)
        chunks = []
        while True:
            b = os.read(err_r, 65536)
            if not b:
                break
            chunks.append(b)
        os.close(err_r)
        if chunks:
            os.waitpid(pid, 0)
            raise StartError(_PREFIX + b"".join(chunks).decode(errors="replace"))
        return pid
    finally:
        for fd in opened:
            os.close(fd)


def oom_killed(config: dict) -> bool:
    """True if the container's memory cgroup recorded an OOM kill."""
    path = (config.get("linux") or {}).get("cgroupsPath") or ""
    return bool(path) and cgroups.oom_kill_count(path) > 0


def cleanup(config: dict) -> None:
    """Remove the container's cgroups (retrying briefly while its tasks drain)."""
    linux = config.get("linux") or {}
    path = linux.get("cgroupsPath") or ""
    if not path:
        return
    own_pid_ns = any(
        n.get("type") == "pid" and not n.get("path") for n in linux.get("namespaces") or []
    )
    if not own_pid_ns:
        # No pid namespace died with the init to take the rest along (--pid host or
        # container:X): kill what is left in the cgroup, as runc does on delete.
        _kill_all(path)
    cgroups.remove(path)


def _kill_all(path: str) -> None:
    for _ in range(20):
        left = cgroups.pids(path)
        if not left:
            return
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.01)
