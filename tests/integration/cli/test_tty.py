"""berth with a real pseudo-terminal: -it runs, resize, save's refusal, what `ps` loads."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import termios
import time

import pytest

from tests.conftest import REPO, Daemon
from tests.integration.cli.conftest import BerthRun, berth_argv

pytestmark = pytest.mark.integration


def run_in_pty(
    daemon: Daemon, args: list[str], keys: bytes, timeout: float = 20
) -> tuple[int, bytes]:
    """Run berth with its stdio on a fresh pty; type keys; return (status, output)."""
    pid, fd = pty.fork()
    if pid == 0:  # child
        env = {**daemon.env, "PYTHONPATH": str(REPO), "TERM": "dumb"}
        os.chdir(REPO)
        os.execve(berth_argv()[0], berth_argv(*args), env)
    output = b""
    deadline = time.monotonic() + timeout
    sent = False
    try:
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.1)
            if r:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    break
                if not data:
                    break
                output += data
            if not sent and time.monotonic() > deadline - timeout + 1.5:
                if keys:
                    # A new window size makes the kernel send SIGWINCH to berth, which must
                    # forward it to the container's tty through POST /containers/{id}/resize.
                    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
                    time.sleep(0.5)
                    os.write(fd, keys)
                sent = True
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    return os.waitstatus_to_exitcode(status), output


def test_run_it_interactive_shell(daemon: Daemon, berth: BerthRun) -> None:
    status, output = run_in_pty(
        daemon, ["run", "-it", "--rm", "busybox", "sh"], b"tty; stty size; exit 5\r"
    )
    assert status == 5, output
    assert b"/dev/pts/" in output or b"/dev/console" in output
    assert b"30 100" in output, output


def test_save_refuses_a_terminal(daemon: Daemon) -> None:
    status, output = run_in_pty(daemon, ["save", "busybox"], b"")
    assert status == 1
    assert b"cowardly refusing to save to a terminal" in output


# `berth ps` loads the client and nothing else: no engine, runtime or daemon module, and
# none of the heavy stdlib parts a listing does not need. How fast that makes it is
# measured in bench/run.py (berth_ps_0), not here.
_NOT_FOR_PS = (
    "berth.engine",
    "berth.runtime",
    "berth.daemon",
    "berth.api",
    "asyncio",
    "ssl",
    "http.client",
    "email",
    "subprocess",
    "argparse",
    "logging",
)


def test_ps_imports_only_the_client(daemon: Daemon) -> None:
    env = {**daemon.env, "PYTHONPATH": str(REPO)}
    argv = berth_argv("ps")
    r = subprocess.run([argv[0], "-X", "importtime", *argv[1:]], env=env, capture_output=True)
    assert r.returncode == 0, r.stderr
    loaded = {
        line.rsplit("|", 1)[-1].strip()
        for line in r.stderr.decode().splitlines()
        if line.startswith("import time:")
    }
    assert "berth.client.api" in loaded  # the measure sees berth's own imports
    bad = sorted(m for m in loaded for x in _NOT_FOR_PS if m == x or m.startswith(x + "."))
    assert not bad, bad
