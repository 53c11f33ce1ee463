"""Containers' everyday compatibility: terminals, detach keys, exec (the docker CLI and docker-py
against berthd). `Terminal` runs a command with its stdio on a pty of its own."""

from __future__ import annotations

import fcntl
import os
import select
import struct
import subprocess
import termios
import time
from types import TracebackType


class Terminal:
    """A command on a fresh pty (ROWS x COLS): type into it, wait for what it prints, wait for
    its exit. Used as a context manager it is killed and closed whatever the test did."""

    def __init__(self, argv: list[str], env: dict[str, str], rows: int = 30, cols: int = 100):
        self.master, self.slave = os.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        s = self.slave
        try:
            self.proc = subprocess.Popen(
                argv, stdin=s, stdout=s, stderr=s, env=env, start_new_session=True
            )
        except BaseException:
            os.close(self.master)
            os.close(self.slave)
            raise
        # our slave fd stays open (see keys()): the end of the output is the command's exit
        self.out = b""
        self.eof = False

    def _read(self, deadline: float) -> None:
        r, _, _ = select.select([self.master], [], [], max(0.0, deadline - time.monotonic()))
        if not r:
            return
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: every slave fd is closed (the command has ended)
            data = b""
        if not data:
            self.eof = True
        self.out += data

    def expect(self, needle: bytes, timeout: float = 30) -> None:
        """Until `needle` has been printed (since the start)."""
        deadline = time.monotonic() + timeout
        while needle not in self.out:
            if self.eof or time.monotonic() >= deadline:
                raise AssertionError(f"{needle!r} never came; the terminal showed {self.out!r}")
            self._read(deadline)

    def type(self, data: bytes) -> None:
        os.write(self.master, data)

    def keys(self, *keys: bytes, timeout: float = 10) -> None:
        """Type each key once the command has read the one before: the docker CLI (moby's
        escapeProxy) takes a detach key only from a read that returns it alone."""
        for key in keys:
            self.type(key)
            deadline = time.monotonic() + timeout
            while _pending(self.slave):
                if time.monotonic() >= deadline or self.proc.poll() is not None:
                    raise AssertionError(f"{key!r} was not read; the terminal showed {self.out!r}")
                self._read(time.monotonic() + 0.01)

    def wait(self, timeout: float = 30) -> int:
        """The command's exit status, once it has ended and its output is read."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self._read(min(deadline, time.monotonic() + 0.05))
        code = self.proc.wait(max(0.1, deadline - time.monotonic()))
        while not self.eof and select.select([self.master], [], [], 0)[0]:
            self._read(time.monotonic())
        return code

    def __enter__(self) -> Terminal:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)
        os.close(self.slave)


def _pending(fd: int) -> int:
    """Bytes typed at the terminal that nothing has read yet (FIONREAD on its slave)."""
    return int(struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0" * 4))[0])
