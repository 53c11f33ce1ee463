"""The pid file: written at start, refused while another live berthd holds it.

An advisory lock held for the daemon's lifetime decides who owns it, so a
stale file left by a killed daemon never blocks a restart, and two daemons
starting at once cannot both win."""

from __future__ import annotations

import fcntl
import os


class PidfileError(Exception):
    pass


class Pidfile:
    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = -1

    def acquire(self) -> None:
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.read(fd, 32).decode(errors="replace").strip()
            os.close(fd)
            raise PidfileError(
                f"pid file found, ensure berthd is not running or delete {self.path}"
                + (f" (process {other} holds it)" if other else "")
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd

    def release(self) -> None:
        if self.fd < 0:
            return
        try:
            os.unlink(self.path)
        except OSError:
            pass
        os.close(self.fd)
        self.fd = -1
