"""berth pull/push on a terminal: rich bars per layer, then docker's status lines."""

from __future__ import annotations

import os
import pty
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from tests.conftest import REPO, Daemon
from tests.integration.registry.fixtures import Registry

_ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\r")
_BAR = "━".encode()


def _berth_pty(d: Daemon, home: str, *args: str, timeout: float = 120) -> tuple[int, bytes]:
    """Run berth with stdout on a real pty; returns (exit status, raw terminal output)."""
    env = {**d.env, "PYTHONPATH": str(REPO), "HOME": home, "TERM": "xterm", "COLUMNS": "120"}
    env.pop("DOCKER_CONFIG", None)
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            os.chdir(REPO)
            os.execve(sys.executable, [sys.executable, "-m", "berth.cli.main", *args], env)
        finally:
            os._exit(127)
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 1.0)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
        else:
            os.kill(pid, signal.SIGKILL)
    finally:
        _, wst = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(wst), out


def _lines(raw: bytes) -> list[bytes]:
    return [ln.rstrip() for ln in _ANSI.sub(b"", raw).split(b"\n") if ln.strip()]


def test_pull_and_push_draw_bars_on_a_terminal(registry: Registry, fresh_daemon: Daemon) -> None:
    home = tempfile.mkdtemp(prefix="bt-home-", dir="/tmp")
    name = f"{registry.host}/tty/busybox"
    try:
        assert (
            fresh_daemon.api.call("POST", f"/images/busybox/tag?repo={name}&tag=latest")[0] == 201
        )
        st, raw = _berth_pty(fresh_daemon, home, "push", name)
        assert st == 0, raw
        lines = _lines(raw)
        _, served, _ = registry.manifest("tty/busybox", "latest")
        assert lines[0] == b"Using default tag: latest", lines
        assert lines[1] == f"The push refers to repository [{name}]".encode(), lines
        assert lines[-1].startswith(f"latest: digest: {served} size:".encode()), lines
        assert _BAR in raw, raw
        assert any(b"Pushed" in ln or b"Layer already exists" in ln for ln in lines), lines

        assert fresh_daemon.api.call("DELETE", f"/images/{name}")[0] == 200
        assert fresh_daemon.api.call("DELETE", "/images/busybox?force=1")[0] == 200
        st, raw = _berth_pty(fresh_daemon, home, "pull", name)
        assert st == 0, raw
        lines = _lines(raw)
        assert lines[0] == b"Using default tag: latest", lines
        assert lines[1] == b"latest: Pulling from tty/busybox", lines
        assert lines[-2:] == [
            f"Digest: {served}".encode(),
            f"Status: Downloaded newer image for {name}:latest".encode(),
        ], lines
        # Each layer row ends full, and it showed a rich bar (not docker's "[===>  ]" text).
        assert _BAR in raw and b"[==" not in raw, raw
        assert any(b"Pull complete" in ln for ln in lines), lines

        # Not a terminal: the plain lines only, no bars.
        env = {**fresh_daemon.env, "PYTHONPATH": str(REPO), "HOME": home}
        env.pop("DOCKER_CONFIG", None)
        r = subprocess.run(
            [sys.executable, "-m", "berth.cli.main", "pull", name],
            env=env,
            capture_output=True,
            timeout=120,
            cwd=REPO,
        )
        assert r.returncode == 0, r.stderr
        assert _BAR not in r.stdout and b"\x1b[" not in r.stdout, r.stdout
        assert (
            r.stdout.splitlines()[-1] == f"Status: Image is up to date for {name}:latest".encode()
        )
    finally:
        fresh_daemon.api.call("DELETE", f"/images/{name}?force=1")
        shutil.rmtree(home, ignore_errors=True)


def test_rich_is_not_imported_by_ps() -> None:
    r = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "berth.cli.main", "ps"],
        env={**os.environ, "PYTHONPATH": str(REPO), "DOCKER_HOST": "unix:///nonexistent.sock"},
        capture_output=True,
        timeout=60,
        cwd=REPO,
    )
    assert b"berth.cli" in r.stderr
    assert b" rich" not in r.stderr, r.stderr
