"""Run a command on a real terminal of a given size, for the tests of -t and resize."""

from __future__ import annotations

import os
import pty
import time


def run_on_tty(argv: list[str], env: dict[str, str], rows: int, cols: int) -> tuple[int, bytes]:
    """(exit code, everything the terminal showed) of argv run on a rows x cols pty."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the command on the terminal
        import fcntl
        import struct
        import termios

        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        os.execvpe(argv[0], argv, env)
    data = b""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            chunk = os.read(fd, 1024)
        except OSError:  # EIO once the child has closed the terminal
            break
        if not chunk:
            break
        data += chunk
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), data
