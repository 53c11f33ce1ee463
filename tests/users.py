"""A real unprivileged user (and a group of its own) on this host, for the tests that
check what such a user can and cannot reach: the daemon's socket, its data root."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator


def user_and_group() -> Iterator[tuple[str, str]]:
    """Yields (user, group), both new, removed afterwards even when the test fails. The user
    is not in the group: a test adds it (usermod -aG) when it needs it there."""
    tag = f"bt{os.getpid() % 100000}"
    user, group = f"{tag}u", f"{tag}g"
    subprocess.run(["groupadd", group], check=True)
    try:
        subprocess.run(["useradd", "-M", "-N", "-s", "/bin/sh", user], check=True)
        try:
            yield user, group
        finally:
            subprocess.run(["userdel", user], check=False)
    finally:
        subprocess.run(["groupdel", group], check=False)


def run_as(
    user: str, *argv: str, env: dict[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[bytes]:
    """ARGV run as USER (runuser: no password, no PAM session)."""
    base = {"HOME": "/tmp", "PATH": "/usr/local/bin:/usr/bin:/bin"}
    return subprocess.run(
        [shutil.which("runuser") or "/usr/sbin/runuser", "-u", user, "--", *argv],
        env={**base, **(env or {})},
        capture_output=True,
        timeout=timeout,
    )
