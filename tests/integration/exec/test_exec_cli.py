"""`berth exec` against the shared daemon: output, exit statuses, flags, stdin, a real tty."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.cli.conftest import berth  # noqa: F401 - the fixture
from tests.integration.cli.test_tty import run_in_pty

pytestmark = pytest.mark.integration


@pytest.fixture
def ctr(berth: Any) -> str:  # noqa: F811
    r = berth("run", "-d", "busybox", "sleep", "1000")
    assert r.returncode == 0, r.stderr
    return str(r.stdout.decode().strip())


def test_exec_output_and_status(berth: Any, ctr: str) -> None:  # noqa: F811
    r = berth("exec", ctr, "sh", "-c", "echo out; echo err >&2; exit 4")
    assert (r.returncode, r.stdout, r.stderr) == (4, b"out\n", b"err\n")
    r = berth("exec", ctr, "nosuch")
    assert r.returncode == 127 and b"executable file not found" in r.stdout
    r = berth("exec", "nosuch-container", "true")
    assert r.returncode == 1 and b"No such container: nosuch-container" in r.stderr


def test_exec_flags(berth: Any, ctr: str) -> None:  # noqa: F811
    r = berth(
        "exec", "-u", "nobody", "-w", "/tmp", "-e", "X=1", ctr, "sh", "-c", "id -u; pwd; echo $X"
    )
    assert r.stdout == b"65534\n/tmp\n1\n"
    r = berth("exec", "--privileged", ctr, "grep", "CapEff", "/proc/self/status")
    with open("/proc/self/status") as f:
        host = next(ln for ln in f if ln.startswith("CapBnd")).split()[1]
    assert r.stdout.split()[1].decode() == host
    r = berth("exec", "-i", ctr, "wc", "-c", input=b"x" * 70000)
    assert r.stdout.strip() == b"70000"
    r = berth("exec", "-d", ctr, "sh", "-c", "echo ran > /tmp/d")
    assert (r.returncode, r.stdout) == (0, b"")
    r = berth("exec", "-it", ctr, "true")
    assert r.returncode == 1 and b"the input device is not a TTY" in r.stderr


def test_exec_in_a_terminal(daemon: Any, ctr: str) -> None:
    # run_in_pty resizes the terminal to 30x100 before typing: berth must pass that on
    status, out = run_in_pty(daemon, ["exec", "-it", ctr, "sh"], b"tty; stty size; exit 3\r")
    assert status == 3, out
    assert b"/dev/pts/0" in out and b"30 100" in out, out
