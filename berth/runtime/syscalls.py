"""Every system call the runtime makes, behind one object.

Code calls `syscalls.sys_.<name>(...)`; unit tests swap `sys_` for a recording
fake so mount and namespace ordering can be checked without root. Failures
raise OSError(errno, "<call>(<context>): <strerror>").
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import signal

# clone/unshare/setns flags
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_INTO_CGROUP = 0x200000000  # clone3 only

# mount(2) flags
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_SYNCHRONOUS = 0x10
MS_REMOUNT = 0x20
MS_MANDLOCK = 0x40
MS_DIRSYNC = 0x80
MS_NOSYMFOLLOW = 0x100
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_SILENT = 0x8000
MS_UNBINDABLE = 0x20000
MS_PRIVATE = 0x40000
MS_SLAVE = 0x80000
MS_SHARED = 0x100000
MS_RELATIME = 0x200000
MS_STRICTATIME = 0x1000000
MS_LAZYTIME = 0x2000000

MNT_DETACH = 0x2

# prctl(2)
PR_SET_PDEATHSIG = 1
PR_SET_KEEPCAPS = 8
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4

TIOCSCTTY = 0x540E
TIOCGPTN = 0x80045430
TIOCSPTLCK = 0x40045431
TIOCGPTPEER = 0x5441
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
IFF_RUNNING = 0x40

CLOSE_RANGE_CLOEXEC = 1 << 2

# seccomp(2)
SECCOMP_MODE_FILTER = 2
SECCOMP_SET_MODE_FILTER = 1

# keyctl(2)
KEYCTL_SETPERM = 5
KEYCTL_DESCRIBE = 6
KEYCTL_JOIN_SESSION_KEYRING = 1
KEY_USR_SEARCH = 0x00080000

_LINUX_CAPABILITY_VERSION_3 = 0x20080522

# syscalls glibc has no wrapper for
_SYSNO = {
    "x86_64": {"pivot_root": 155, "close_range": 436, "seccomp": 317, "keyctl": 250},
    "aarch64": {"pivot_root": 41, "close_range": 436, "seccomp": 277, "keyctl": 219},
}.get(platform.machine(), {"pivot_root": 155, "close_range": 436, "seccomp": 317, "keyctl": 250})
_SYSNO["clone3"] = 435  # the same number on every architecture


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


class _CloneArgs(ctypes.Structure):
    """struct clone_args up to its cgroup field (CLONE_ARGS_SIZE_VER2)."""

    _fields_ = [
        (name, ctypes.c_uint64)
        for name in (
            "flags", "pidfd", "child_tid", "parent_tid", "exit_signal", "stack",
            "stack_size", "tls", "set_tid", "set_tid_size", "cgroup",
        )
    ]  # fmt: skip


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _libc() -> ctypes.CDLL:
    lib = ctypes.CDLL("libc.so.6", use_errno=True)
    c_char_p, c_int, c_ulong = ctypes.c_char_p, ctypes.c_int, ctypes.c_ulong
    lib.mount.argtypes = [c_char_p, c_char_p, c_char_p, c_ulong, c_char_p]
    lib.umount2.argtypes = [c_char_p, c_int]
    lib.unshare.argtypes = [c_int]
    lib.setns.argtypes = [c_int, c_int]
    lib.sethostname.argtypes = [c_char_p, ctypes.c_size_t]
    lib.setdomainname.argtypes = [c_char_p, ctypes.c_size_t]
    lib.prctl.argtypes = [c_int, c_ulong, c_ulong, c_ulong, c_ulong]
    lib.setresuid.argtypes = [ctypes.c_uint, ctypes.c_uint, ctypes.c_uint]
    lib.setresgid.argtypes = [ctypes.c_uint, ctypes.c_uint, ctypes.c_uint]
    lib.setgroups.argtypes = [ctypes.c_size_t, ctypes.POINTER(ctypes.c_uint)]
    lib.capget.argtypes = [ctypes.POINTER(_CapHeader), ctypes.POINTER(_CapData)]
    lib.capset.argtypes = [ctypes.POINTER(_CapHeader), ctypes.POINTER(_CapData)]
    lib.syscall.restype = ctypes.c_long
    return lib


def _b(s: str | None) -> bytes | None:
    return None if s is None else os.fsencode(s)


class Syscalls:
    """Thin, checked wrappers over libc. One instance (`sys_`) serves the process."""

    def __init__(self) -> None:
        self._lib = _libc()
        # for clone3: a call that keeps the GIL, as os.fork's fork() does; bound here (in
        # the zygote, before it forks shims) so that a shim's first clone3 allocates nothing
        # that would take pages out of the ones it shares with the zygote
        self._lib_gil = ctypes.PyDLL("libc.so.6", use_errno=True)
        self._clone3 = self._lib_gil.syscall
        self._clone3.restype = ctypes.c_long
        api = ctypes.pythonapi
        self._fork_hooks = (
            api.PyOS_BeforeFork,
            api.PyOS_AfterFork_Parent,
            api.PyOS_AfterFork_Child,
        )
        self._clone_args = _CloneArgs(exit_signal=signal.SIGCHLD)
        self._clone_args_ref = ctypes.byref(self._clone_args)
        self._clone_args_size = ctypes.sizeof(self._clone_args)

    def _check(self, ret: int, what: str) -> int:
        if ret < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"{what}: {os.strerror(err)}")
        return ret

    # -- namespaces -------------------------------------------------------
    def unshare(self, flags: int) -> None:
        """unshare(2) the namespaces named by CLONE_NEW* `flags`."""
        self._check(self._lib.unshare(flags), f"unshare({flags:#x})")

    def setns(self, fd: int, nstype: int = 0) -> None:
        """setns(2): join the namespace open at `fd`."""
        self._check(self._lib.setns(fd, nstype), f"setns({fd}, {nstype:#x})")

    # -- mounts -----------------------------------------------------------
    def mount(
        self,
        source: str | None,
        target: str,
        fstype: str | None,
        flags: int = 0,
        data: str | None = None,
    ) -> None:
        """mount(2)."""
        ret = self._lib.mount(_b(source), _b(target), _b(fstype), flags, _b(data))
        self._check(ret, f"mount {source!r} on {target!r} (type {fstype}, flags {flags:#x})")

    def mount_flags(self, path: str) -> int:
        """The MS_* flags of the mount holding `path` (statvfs f_flag: same bits)."""
        return os.statvfs(path).f_flag

    def umount2(self, target: str, flags: int = 0) -> None:
        """umount2(2)."""
        self._check(self._lib.umount2(_b(target), flags), f"umount {target!r}")

    def pivot_root(self, new_root: str, put_old: str) -> None:
        """pivot_root(2) (raw syscall: glibc has no wrapper)."""
        ret = self._lib.syscall(_SYSNO["pivot_root"], _b(new_root), _b(put_old))
        self._check(ret, f"pivot_root({new_root!r}, {put_old!r})")

    # -- identity -----------------------------------------------------------
    def sethostname(self, name: str) -> None:
        """sethostname(2) in the current UTS namespace."""
        b = name.encode()
        self._check(self._lib.sethostname(b, len(b)), f"sethostname({name!r})")

    def setdomainname(self, name: str) -> None:
        """setdomainname(2) in the current UTS namespace."""
        b = name.encode()
        self._check(self._lib.setdomainname(b, len(b)), f"setdomainname({name!r})")

    def setgroups(self, gids: list[int]) -> None:
        """setgroups(2); an empty list clears the supplementary groups."""
        arr = (ctypes.c_uint * max(len(gids), 1))(*gids)
        self._check(self._lib.setgroups(len(gids), arr), f"setgroups({gids})")

    def setresgid(self, rgid: int, egid: int, sgid: int) -> None:
        """setresgid(2) (glibc applies it to all threads)."""
        self._check(self._lib.setresgid(rgid, egid, sgid), f"setresgid({rgid})")

    def setresuid(self, ruid: int, euid: int, suid: int) -> None:
        """setresuid(2)."""
        self._check(self._lib.setresuid(ruid, euid, suid), f"setresuid({ruid})")

    # -- process attributes ---------------------------------------------------
    def prctl(self, option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
        """prctl(2); returns the call's non-negative result."""
        return self._check(self._lib.prctl(option, arg2, arg3, arg4, arg5), f"prctl({option})")

    def capget(self) -> tuple[int, int, int]:
        """(effective, permitted, inheritable) masks of this thread."""
        hdr = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
        data = (_CapData * 2)()
        self._check(self._lib.capget(ctypes.byref(hdr), data), "capget")
        return (
            data[0].effective | data[1].effective << 32,
            data[0].permitted | data[1].permitted << 32,
            data[0].inheritable | data[1].inheritable << 32,
        )

    def capset(self, effective: int, permitted: int, inheritable: int) -> None:
        """capset(2) with 64-bit masks."""
        hdr = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
        lo, hi = 0xFFFFFFFF, 32
        data = (_CapData * 2)(
            _CapData(effective & lo, permitted & lo, inheritable & lo),
            _CapData(effective >> hi, permitted >> hi, inheritable >> hi),
        )
        what = f"capset(eff={effective:#x}, prm={permitted:#x}, inh={inheritable:#x})"
        self._check(self._lib.capset(ctypes.byref(hdr), data), what)

    def seccomp_load(self, program: bytes, flags: int = 0) -> None:
        """Install the BPF program (raw struct sock_filter[]) as this thread's seccomp filter:
        seccomp(SECCOMP_SET_MODE_FILTER), or prctl(PR_SET_SECCOMP) on kernels before 3.17."""
        buf = ctypes.create_string_buffer(program, len(program))
        prog = _SockFprog(len(program) // 8, ctypes.cast(buf, ctypes.c_void_p))
        ret = self._lib.syscall(
            _SYSNO["seccomp"], SECCOMP_SET_MODE_FILTER, ctypes.c_uint(flags), ctypes.byref(prog)
        )
        if ret < 0 and ctypes.get_errno() == errno.ENOSYS and not flags:
            ret = self._lib.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(prog), 0, 0)
        self._check(ret, f"seccomp(SET_MODE_FILTER, {len(program) // 8} instructions)")

    def join_session_keyring(self) -> int:
        """keyctl(KEYCTL_JOIN_SESSION_KEYRING, NULL): join a new anonymous session keyring;
        returns its serial."""
        ret = self._lib.syscall(
            _SYSNO["keyctl"], KEYCTL_JOIN_SESSION_KEYRING, ctypes.c_void_p(None)
        )
        return self._check(ret, "keyctl(JOIN_SESSION_KEYRING)")

    def describe_key(self, serial: int) -> str:
        """keyctl(KEYCTL_DESCRIBE): "type;uid;gid;perm;description" of key `serial`."""
        buf = ctypes.create_string_buffer(512)
        ret = self._lib.syscall(
            _SYSNO["keyctl"], KEYCTL_DESCRIBE, ctypes.c_int32(serial), buf, ctypes.c_size_t(512)
        )
        n = self._check(ret, f"keyctl(DESCRIBE, {serial})")
        return buf.raw[: max(min(n, 512) - 1, 0)].decode(errors="replace")

    def set_key_perm(self, serial: int, perm: int) -> None:
        """keyctl(KEYCTL_SETPERM)."""
        ret = self._lib.syscall(
            _SYSNO["keyctl"], KEYCTL_SETPERM, ctypes.c_int32(serial), ctypes.c_uint32(perm)
        )
        self._check(ret, f"keyctl(SETPERM, {serial}, {perm:#x})")

    def setrlimit(self, resource: int, soft: int, hard: int) -> None:
        """setrlimit(2) of RLIMIT_* `resource`."""
        import resource as _resource  # rare: only configs with rlimits get here

        _resource.setrlimit(resource, (soft, hard))

    def umask(self, mask: int) -> int:
        """umask(2); returns the previous mask."""
        return os.umask(mask)

    def reset_signals(self, signals: tuple[int, ...]) -> None:
        """Empty the signal mask and give `signals` their default disposition: both survive
        execve, and Python itself ignores some (SIGPIPE, SIGXFSZ)."""
        import signal

        signal.pthread_sigmask(signal.SIG_SETMASK, ())
        for s in signals:
            signal.signal(s, signal.SIG_DFL)

    def setsid(self) -> None:
        """Start a new session (the container init leads it)."""
        os.setsid()

    def set_controlling_tty(self, fd: int) -> None:
        """ioctl(fd, TIOCSCTTY): make the terminal at `fd` our controlling tty."""
        self._check(self._lib.ioctl(fd, TIOCSCTTY, 0), f"ioctl({fd}, TIOCSCTTY)")

    def loopback_up(self) -> None:
        """Bring `lo` up in the current network namespace (SIOCSIFFLAGS)."""
        # AF_INET=2, SOCK_DGRAM|SOCK_CLOEXEC
        fd = self._check(self._lib.socket(2, 2 | 0o2000000, 0), "socket(AF_INET)")
        try:
            ifr = ctypes.create_string_buffer(40)
            ifr.raw = b"lo".ljust(40, b"\0")
            self._check(self._lib.ioctl(fd, SIOCGIFFLAGS, ifr), "ioctl(lo, SIOCGIFFLAGS)")
            flags = int.from_bytes(ifr.raw[16:18], "little") | IFF_UP | IFF_RUNNING
            ifr.raw = ifr.raw[:16] + flags.to_bytes(2, "little") + ifr.raw[18:]
            self._check(self._lib.ioctl(fd, SIOCSIFFLAGS, ifr), "ioctl(lo, SIOCSIFFLAGS)")
        finally:
            os.close(fd)

    def close_range(self, first: int, last: int, flags: int = 0) -> None:
        """close_range(2); with CLOSE_RANGE_CLOEXEC marks instead of closing."""
        ret = self._lib.syscall(
            _SYSNO["close_range"], ctypes.c_uint(first), ctypes.c_uint(last), ctypes.c_uint(flags)
        )
        self._check(ret, f"close_range({first}, {last})")

    def wait_gate(self, fd: int) -> None:
        """Wait at the start gate FD (startgate.py) and close it: returns once it opens,
        raises ECANCELED if it was let go instead."""
        os.set_blocking(fd, True)
        try:
            while True:
                try:
                    got = os.read(fd, 1)
                except InterruptedError:
                    continue
                break
        finally:
            os.close(fd)
        if got != b"\x01":
            raise OSError(errno.ECANCELED, "the start was called off")

    # -- files (here so the fake sees every side effect of container setup) ---
    def mkdir(self, path: str, mode: int = 0o755) -> None:
        """mkdir(2)."""
        os.mkdir(path, mode)

    def mknod(self, path: str, mode: int, device: int) -> None:
        """mknod(2)."""
        os.mknod(path, mode, device)

    def symlink(self, target: str, path: str) -> None:
        """symlink(2): `path` -> `target`."""
        os.symlink(target, path)

    def chown(self, path: str, uid: int, gid: int) -> None:
        """lchown(2)."""
        os.lchown(path, uid, gid)

    def chdir(self, path: str) -> None:
        """chdir(2)."""
        os.chdir(path)

    def create_file(self, path: str) -> None:
        """Create an empty file if missing (a bind-mount target)."""
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))

    def write_file(self, path: str, data: str) -> None:
        """One write(2) of `data` to an existing file (cgroup, /proc knobs)."""
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, data.encode())
        finally:
            os.close(fd)

    def read_file(self, path: str) -> str:
        """The text of a small file (a /proc knob read before it is written)."""
        with open(path) as f:
            return f.read()

    def dup2(self, fd: int, fd2: int) -> None:
        """dup2(2) without CLOEXEC on the copy."""
        os.dup2(fd, fd2, inheritable=True)

    def dup_above(self, fd: int, lowest: int) -> int:
        """fcntl(fd, F_DUPFD_CLOEXEC, lowest): a close-on-exec copy numbered `lowest` or up."""
        import fcntl

        return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, lowest)

    def close(self, fd: int) -> None:
        """close(2)."""
        os.close(fd)

    # -- terminals ----------------------------------------------------------
    def open_pty(self, ptmx: str) -> tuple[int, int, str]:
        """A new pty from the devpts instance whose ptmx is `ptmx`: (master, slave, the
        slave's path as that instance names it, "/dev/pts/N"). Both fds are O_NOCTTY and
        close-on-exec; the slave is opened through the master (TIOCGPTPEER), so no path is
        looked up twice."""
        import fcntl  # only terminals need these
        import struct

        master = os.open(ptmx, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
        try:
            fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))  # unlockpt
            (n,) = struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, b"\0" * 4))
            slave = fcntl.ioctl(master, TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
        except OSError as e:
            os.close(master)
            raise OSError(e.errno, f"pty from {ptmx}: {e.strerror}") from None
        return master, slave, f"/dev/pts/{n}"

    def set_winsize(self, fd: int, rows: int, cols: int) -> None:
        """ioctl(fd, TIOCSWINSZ): the terminal's size."""
        import fcntl
        import struct
        import termios

        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def send_fds(self, sock: int, fds: list[int], message: bytes) -> None:
        """sendmsg(2) of `message` with `fds` as SCM_RIGHTS on the unix socket `sock`."""
        import socket  # only a terminal's console socket needs it

        s = socket.socket(fileno=os.dup(sock))
        try:
            socket.send_fds(s, [message], fds)
        finally:
            s.close()

    def fork_into_cgroup(self, cgroup_fd: int) -> int:
        """os.fork(), but by clone3 with CLONE_INTO_CGROUP: the child starts in the
        cgroup2 directory open as CGROUP_FD, so that nothing has to migrate it. Python's
        before- and after-fork steps run as os.fork runs them. Only for a process of one
        thread: glibc's own fork handlers (its malloc locks, the thread's cached tid) do not
        run, which is safe only when no other thread can hold them. OSError as clone3
        reports it (ENOSYS: no clone3); the caller then forks and migrates."""
        before, after_parent, after_child = self._fork_hooks
        self._clone_args.flags = CLONE_INTO_CGROUP
        self._clone_args.cgroup = cgroup_fd
        before()
        pid = self._clone3(_SYSNO["clone3"], self._clone_args_ref, self._clone_args_size)
        if pid == 0:
            after_child()
            return 0
        err = ctypes.get_errno()
        after_parent()
        if pid < 0:
            raise OSError(err, f"clone3(CLONE_INTO_CGROUP): {os.strerror(err)}")
        return int(pid)

    def execve(self, path: str, args: list[str], env: list[str]) -> None:
        """execve(2) with `env` passed verbatim (order and duplicates kept); only returns
        by raising."""
        argv = (ctypes.c_char_p * (len(args) + 1))(*[a.encode() for a in args], None)
        envp = (ctypes.c_char_p * (len(env) + 1))(*[e.encode() for e in env], None)
        self._check(self._lib.execve(os.fsencode(path), argv, envp), f"exec {path!r}")


sys_ = Syscalls()
