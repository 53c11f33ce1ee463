"""The parent side: fork the child that replays a Plan, wait until it has exec'd (or
read why it could not), and clean up a container's cgroups once it is gone."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import replace

from berth.runtime import cgroups, syscalls
from berth.runtime.executor.child import child_main
from berth.runtime.executor.errors import PREFIX, StartError
from berth.runtime.executor.planning import Finish, Plan, complete, entry, plan_exec
from berth.runtime.syscalls import CLONE_NEWPID


def spawn(
    config: dict,
    stdio: tuple[int, int, int],
    *,
    console_fd: int | None = None,
    console_socket: int | None = None,
    gate: int = -1,
    cgroup_made: bool = False,
) -> int:
    """Start the container described by the OCI config dict; return the host pid of its
    init (a direct child of the caller) once execve has succeeded. stdio fds become
    0/1/2. For a terminal, with `console_socket` (a unix socket) the container makes
    its console in its own devpts and sends the master there (one message, the fd as
    SCM_RIGHTS, before execve: it is waiting once this returns; see receive_console);
    without it all three stdio fds are a pty slave of the caller's, which becomes the
    controlling tty. With `gate` (startgate.take's fd) the container waits at it, set up,
    before its identity and execve. With `cgroup_made` the cgroup exists with its limits
    (the caller made it). On failure raise StartError and leave nothing behind (the
    cgroup included)."""
    del console_fd  # the slave arrives as stdio; nothing else needs the master
    p = entry(config)
    p.gate = gate
    console = -1 if console_socket is None else console_socket

    def finish(half: Plan) -> Plan:  # in the child
        return complete(half, config, console_socket=console)

    cg_path = (config.get("linux") or {}).get("cgroupsPath") or ""
    try:
        if cg_path and not cgroup_made:
            try:
                cgroups.create(cg_path, (config.get("linux") or {}).get("resources"))
            except OSError as e:
                raise StartError(f"{PREFIX}unable to apply cgroup configuration: {e}") from None
        return _launch(p, stdio, finish)
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
        raise StartError(f"{PREFIX}no console from the container: {e}") from None
    finally:
        s.close()
    if not fds:
        raise StartError(f"{PREFIX}no console from the container")
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


class _NamespaceFds:
    """The namespace files a launch needs, open: those the child joins, and for the pid
    namespace (entered by the fork itself) ours and, unless new, the one to join."""

    def __init__(self, p: Plan) -> None:
        self.opened: list[int] = []
        self.joins: list[tuple[int, int]] = []
        self.own_pid = self.pid = -1
        try:
            for nstype, path in p.joins:
                self.joins.append((nstype, self._open(path)))
            if p.pid_ns is not None:
                self.own_pid = self._open("/proc/self/ns/pid")
                if p.pid_ns != "new":
                    self.pid = self._open(p.pid_ns)
        except OSError as e:
            self.close()
            raise StartError(f"{PREFIX}error opening namespace: {e}") from None

    def _open(self, path: str) -> int:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        self.opened.append(fd)
        return fd

    def close(self) -> None:
        for fd in self.opened:
            os.close(fd)
        self.opened = []


def _launch(p: Plan, stdio: tuple[int, int, int], finish: Finish | None = None) -> int:
    """Fork the child that replays `p` (completed by `finish` in the child) and wait until
    it has exec'd (or failed)."""
    ns = _NamespaceFds(p)
    try:
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        pid = _fork(p, ns, stdio, err_r, err_w, finish)
        failure = _read_all(err_r)
        if failure:
            os.waitpid(pid, 0)
            raise StartError(PREFIX + failure.decode(errors="replace"))
        return pid
    finally:
        ns.close()


def _single_threaded() -> bool:
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


def _fork_in_cgroup(p: Plan) -> tuple[int, Plan]:
    """Fork the child straight into the plan's cgroup2 directory when this process has one
    thread (the shim); otherwise fork, and the child's plan migrates it by cgroup.procs.
    Returns the pid (0 in the child) and the plan the child runs."""
    if p.cgroup2_dir and _single_threaded():
        try:
            fd = os.open(p.cgroup2_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            fd = -1
        if fd >= 0:
            try:
                return syscalls.sys_.fork_into_cgroup(fd), p
            except OSError:
                pass  # no clone3 (or refused): fork and migrate
            finally:
                os.close(fd)
    if p.cgroup2_dir:
        p = replace(p, procs_files=[*p.procs_files, os.path.join(p.cgroup2_dir, "cgroup.procs")])
    return os.fork(), p


def _fork(
    p: Plan,
    ns: _NamespaceFds,
    stdio: tuple[int, int, int],
    err_r: int,
    err_w: int,
    finish: Finish | None = None,
) -> int:
    """Fork the child into the plan's pid namespace (and cgroup2 directory); the parent
    gets the pid and keeps `err_r` only."""
    sys_ = syscalls.sys_
    pid = -1
    try:
        # Only children feel a pid namespace change, so switch the caller's
        # "namespace for children" around the fork and switch it straight back:
        # the child is then in the container's pid namespace and still our direct child.
        if p.pid_ns == "new":
            sys_.unshare(CLONE_NEWPID)
        elif ns.pid >= 0:
            sys_.setns(ns.pid, CLONE_NEWPID)
        pid, p = _fork_in_cgroup(p)
        if pid == 0:
            child_main(p, stdio, ns.joins, err_r, err_w, finish)
    except OSError as e:
        os.close(err_r)
        raise StartError(f"{PREFIX}{e}") from None
    finally:
        if pid != 0:
            if ns.own_pid >= 0:
                sys_.setns(ns.own_pid, CLONE_NEWPID)
            os.close(err_w)
    return pid


def _read_all(fd: int) -> bytes:
    """Everything written to the pipe until its last writer is gone (here: until the
    child's execve closed it); the fd is closed."""
    chunks = []
    while True:
        b = os.read(fd, 65536)
        if not b:
            break
        chunks.append(b)
    os.close(fd)
    return b"".join(chunks)


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
