"""A recording stand-in for berth.runtime.syscalls.Syscalls.

Every call is appended to `calls` as (name, args) and has no effect, so the
order of namespace, mount and identity operations can be checked without root.
Reads (lstat, isdir) in the code under test still see the real filesystem; the one
read that goes through the seam, read_file, answers from `files`. The fake overrides
every public method of Syscalls (test_syscalls_seam checks), so nothing falls through
to the real calls.
"""

from __future__ import annotations

import errno
from typing import Any

from berth.runtime.syscalls import Syscalls


class FakeSyscalls(Syscalls):
    """Records calls instead of making them. `fail` maps a call name to an OSError to
    raise (once) when that call is made."""

    def __init__(self) -> None:  # no libc needed
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.fail: dict[str, OSError] = {}
        self.files: dict[str, str] = {}  # what read_file answers; "0" for any other path
        self._next_fd = 100

    def _rec(self, name: str, *args: Any) -> None:
        self.calls.append((name, args))
        err = self.fail.pop(name, None)
        if err is not None:
            raise err

    def names(self) -> list[str]:
        """Call names, in order."""
        return [n for n, _ in self.calls]

    def index(self, name: str, *prefix: Any) -> int:
        """Position of the first `name` call whose args start with `prefix`."""
        for i, (n, a) in enumerate(self.calls):
            if n == name and a[: len(prefix)] == prefix:
                return i
        raise AssertionError(f"no call {name}{prefix} in {self.calls}")

    def mounts(self) -> list[tuple[Any, ...]]:
        """Args of every mount() call, in order."""
        return [a for n, a in self.calls if n == "mount"]

    def unshare(self, flags: int) -> None:
        self._rec("unshare", flags)

    def setns(self, fd: int, nstype: int = 0) -> None:
        self._rec("setns", fd, nstype)

    def mount(
        self,
        source: str | None,
        target: str,
        fstype: str | None,
        flags: int = 0,
        data: str | None = None,
    ) -> None:
        self._rec("mount", source, target, fstype, flags, data)

    def mount_flags(self, path: str) -> int:
        self._rec("mount_flags", path)
        return 0

    def umount2(self, target: str, flags: int = 0) -> None:
        self._rec("umount2", target, flags)

    def pivot_root(self, new_root: str, put_old: str) -> None:
        self._rec("pivot_root", new_root, put_old)

    def sethostname(self, name: str) -> None:
        self._rec("sethostname", name)

    def setdomainname(self, name: str) -> None:
        self._rec("setdomainname", name)

    def setgroups(self, gids: list[int]) -> None:
        self._rec("setgroups", list(gids))

    def setresgid(self, rgid: int, egid: int, sgid: int) -> None:
        self._rec("setresgid", rgid, egid, sgid)

    def setresuid(self, ruid: int, euid: int, suid: int) -> None:
        self._rec("setresuid", ruid, euid, suid)

    def prctl(self, option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
        self._rec("prctl", option, arg2, arg3)
        return 0

    def capget(self) -> tuple[int, int, int]:
        self._rec("capget")
        return (0, 0, 0)

    def capset(self, effective: int, permitted: int, inheritable: int) -> None:
        self._rec("capset", effective, permitted, inheritable)

    def seccomp_load(self, program: bytes, flags: int = 0) -> None:
        self._rec("seccomp_load", bytes(program), flags)

    def join_session_keyring(self) -> int:
        self._rec("join_session_keyring")
        return 0x1234

    def describe_key(self, serial: int) -> str:
        self._rec("describe_key", serial)
        return "keyring;0;0;3f030000;_ses"

    def set_key_perm(self, serial: int, perm: int) -> None:
        self._rec("set_key_perm", serial, perm)

    def setsid(self) -> None:
        self._rec("setsid")

    def set_controlling_tty(self, fd: int) -> None:
        self._rec("set_controlling_tty", fd)

    def loopback_up(self) -> None:
        self._rec("loopback_up")

    def close_range(self, first: int, last: int, flags: int = 0) -> None:
        self._rec("close_range", first, last, flags)

    def wait_gate(self, fd: int) -> None:
        self._rec("wait_gate", fd)

    def mkdir(self, path: str, mode: int = 0o755) -> None:
        self._rec("mkdir", path, mode)

    def mknod(self, path: str, mode: int, device: int) -> None:
        self._rec("mknod", path, mode, device)

    def symlink(self, target: str, path: str) -> None:
        self._rec("symlink", target, path)

    def chown(self, path: str, uid: int, gid: int) -> None:
        self._rec("chown", path, uid, gid)

    def chdir(self, path: str) -> None:
        self._rec("chdir", path)

    def create_file(self, path: str) -> None:
        self._rec("create_file", path)

    def write_file(self, path: str, data: str) -> None:
        self._rec("write_file", path, data)

    def read_file(self, path: str) -> str:
        self._rec("read_file", path)
        return self.files.get(path, "0")

    def dup2(self, fd: int, fd2: int) -> None:
        self._rec("dup2", fd, fd2)

    def dup_above(self, fd: int, lowest: int) -> int:
        self._rec("dup_above", fd, lowest)
        self._next_fd = max(self._next_fd, lowest) + 1
        return self._next_fd

    def close(self, fd: int) -> None:
        self._rec("close", fd)

    def setrlimit(self, resource: int, soft: int, hard: int) -> None:
        self._rec("setrlimit", resource, soft, hard)

    def umask(self, mask: int) -> int:
        self._rec("umask", mask)
        return 0o022

    def reset_signals(self, signals: tuple[int, ...]) -> None:
        self._rec("reset_signals", tuple(signals))

    def open_pty(self, ptmx: str) -> tuple[int, int, str]:
        self._rec("open_pty", ptmx)
        return 90, 91, "/dev/pts/0"

    def set_winsize(self, fd: int, rows: int, cols: int) -> None:
        self._rec("set_winsize", fd, rows, cols)

    def send_fds(self, sock: int, fds: list[int], message: bytes) -> None:
        self._rec("send_fds", sock, list(fds), message)

    def execve(self, path: str, args: list[str], env: list[str]) -> None:
        self._rec("execve", path, list(args), list(env))

    def fork_into_cgroup(self, cgroup_fd: int) -> int:
        # a fake cannot fork: it says clone3 is not there, as an old kernel would
        self._rec("fork_into_cgroup", cgroup_fd)
        raise OSError(errno.ENOSYS, "clone3(CLONE_INTO_CGROUP): Function not implemented")
