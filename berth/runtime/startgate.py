"""The start gate: a container's init, once set up, waits at it before it takes its
identity and execs, so that berthd can finish what the process needs (its network
interfaces) while the process is being set up. The process never runs before the gate
opens.

It is a FIFO in the bundle (start.gate). berthd makes it and holds it open (read-write: no
wait for a reader) until the start has returned; the shim opens it for the container's
child, which reads one byte. GO lets it on; EOF (berthd closed the gate without a word, or
died) calls the start off. berthd keeps its end until the start returns, because a FIFO's
data goes with its last open end."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path

NAME = "start.gate"
GO = b"\x01"


class StartGate:
    """berthd's end of one start's gate (made in BUNDLE)."""

    def __init__(self, bundle: Path) -> None:
        path = bundle / NAME
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        os.mkfifo(path, 0o600)
        self.fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)

    def open(self) -> None:
        """Let the process go on (once: one byte for its one read)."""
        if self.fd >= 0:
            os.write(self.fd, GO)

    def close(self) -> None:
        """Let go of the gate: a process still waiting at it (never opened) ends."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def take() -> int:
    """The shim's side: the gate of the bundle (the shim's current directory) opened for
    reading, non-blocking and close-on-exec, for the child to wait at."""
    fd = os.open(NAME, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW)
    if not stat.S_ISFIFO(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, f"{NAME} is not a FIFO")
    return fd
