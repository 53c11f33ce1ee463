"""The forked child: replay a Plan through a Syscalls object, in runc's order, ending in
execve. Everything with a side effect goes through `sys_`, so the unit tests drive these
functions with a recording fake; reads (stat, lexists) still see the real filesystem."""

from __future__ import annotations

import errno
import os
import signal
import stat

from berth.runtime import rootfs, syscalls
from berth.runtime.executor.errors import PREFIX, ExecError, StartError, go_err
from berth.runtime.executor.planning import Finish, Plan
from berth.runtime.syscalls import (
    CLOSE_RANGE_CLOEXEC,
    KEY_USR_SEARCH,
    PR_CAP_AMBIENT,
    PR_CAP_AMBIENT_RAISE,
    PR_CAPBSET_DROP,
    PR_SET_KEEPCAPS,
    PR_SET_NO_NEW_PRIVS,
    Syscalls,
)

# dispositions survive execve; Python ignores SIGPIPE and SIGXFSZ, the shim handles the others
_RESET_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM)
_OOM_SCORE_ADJ = "/proc/self/oom_score_adj"


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
    """Resolve `name` like Go's exec.LookPath; raise ExecError with Go's wording."""
    if "/" in name:
        err = _executable(name)
        if err is None:
            return name
        if err.errno == errno.EACCES:
            raise ExecError(f'exec: "{name}": permission denied')
        raise ExecError(f'exec: "{name}": stat {name}: {go_err(err)}')
    for d in path_env.split(":"):
        cand = os.path.join(d or ".", name)
        if _executable(cand) is None:
            return cand
    raise ExecError(f'exec: "{name}": executable file not found in $PATH')


def prepare_child(sys_: Syscalls, stdio: tuple[int, int, int]) -> None:
    """What the fork left behind, undone: Python's signal dispositions and mask, our umask
    (device nodes get their exact modes), and the stdio fds moved to 0, 1 and 2."""
    sys_.reset_signals(_RESET_SIGNALS)
    sys_.umask(0)
    # copy above 2 first: a source may be one of 0..2 that an earlier dup2 replaces
    high = [sys_.dup_above(fd, 3) for fd in stdio]
    for target, fd in enumerate(high):
        sys_.dup2(fd, target)
    for fd in high:
        sys_.close(fd)


def setup(p: Plan, sys_: Syscalls, join_fds: list[tuple[int, int]]) -> None:
    """The container init's setup, in order, ending in execve. Runs in the forked child
    (tests drive it with a recording fake). `join_fds` are (nstype, open fd)."""
    _enter_namespaces(p, sys_, join_fds)
    _build_root(p, sys_)
    _set_limits(p, sys_)
    if p.gate >= 0:
        # still root, with no seccomp filter (its rules must not decide this read)
        sys_.wait_gate(p.gate)
    _set_identity(p, sys_)
    _exec(p, sys_)


def _enter_namespaces(p: Plan, sys_: Syscalls, join_fds: list[tuple[int, int]]) -> None:
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


def _build_root(p: Plan, sys_: Syscalls) -> None:
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


def _set_limits(p: Plan, sys_: Syscalls) -> None:
    if p.oom_score_adj is not None:
        if int(sys_.read_file(_OOM_SCORE_ADJ)) != p.oom_score_adj:
            sys_.write_file(_OOM_SCORE_ADJ, str(p.oom_score_adj))
    for res, soft, hard in p.rlimits:
        sys_.setrlimit(res, soft, hard)


def _set_identity(p: Plan, sys_: Syscalls) -> None:
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


def _exec(p: Plan, sys_: Syscalls) -> None:
    try:
        sys_.chdir(p.cwd)
    except OSError as e:
        raise ExecError(
            f'chdir to cwd ("{p.cwd}") set in config.json failed: {go_err(e)}'
        ) from None
    exe = look_path(p.args[0], p.path)
    sys_.umask(0o022)
    sys_.close_range(3, 0xFFFFFFFF, CLOSE_RANGE_CLOEXEC)
    if p.seccomp and p.no_new_privs:
        sys_.seccomp_load(p.seccomp, p.seccomp_flags)
    try:
        sys_.execve(exe, p.args, p.env)
    except OSError as e:
        raise ExecError(f"exec {exe}: {go_err(e)}") from None


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


def child_main(
    p: Plan,
    stdio: tuple[int, int, int],
    join_fds: list[tuple[int, int]],
    err_r: int,
    err_w: int,
    finish: Finish | None = None,
) -> None:
    """The forked child's whole life: complete the plan (`finish`), set up and exec, or
    report why not on `err_w` and exit 127. Never returns."""
    code = 127
    sys_ = syscalls.sys_
    try:
        sys_.close(err_r)
        if finish is not None:
            p = _finished(finish, p)
        prepare_child(sys_, stdio)
        setup(p, sys_, join_fds)
    except (ExecError, _Unplanned) as e:
        _report(err_w, str(e))
    except OSError as e:
        _report(err_w, f"error during container init: {e.strerror or e}")
    except BaseException as e:  # anything else must still reach the parent
        _report(err_w, f"error during container init: {type(e).__name__}: {e}")
    finally:
        os._exit(code)


class _Unplanned(Exception):
    """The plan's second half failed: its message, as the parent would have said it."""


def _finished(finish: Finish, p: Plan) -> Plan:
    try:
        return finish(p)
    except StartError as e:  # the parent adds the prefix again
        raise _Unplanned(e.message.removeprefix(PREFIX)) from None
    except Exception as e:  # noqa: BLE001 - worded as the shim words an executor's bug
        raise _Unplanned(str(e)) from None


def _report(fd: int, msg: str) -> None:
    data = msg.encode(errors="replace")
    while data:
        n = os.write(fd, data)
        data = data[n:]
