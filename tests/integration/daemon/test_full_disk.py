"""A full disk under the data root is the host's fault, not a bug: clear answers (the path
and "no space left on device", no Python class names, no traceback in the log), a daemon
that keeps serving, and a consistent store once space is freed."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import IS_ROOT, Daemon, docker_for, own_daemon

pytestmark = [pytest.mark.integration, pytest.mark.skipif(not IS_ROOT, reason="needs root")]

_PYTHON_WORDS = ("Errno", "OSError", "OperationalError", "Traceback", "sqlite3")


@pytest.fixture
def small(busybox_tar: Path) -> Iterator[Daemon]:
    # the tmpfs under the data root is the test's own mount: cleanup_root takes it away
    with own_daemon(busybox_tar, start=False, check_mounts=False) as d:
        d.data_root.mkdir()
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(d.data_root)], check=True
        )
        try:
            d.start()
            d.load_image(busybox_tar)
            yield d
        finally:
            (d.data_root / "filler").unlink(missing_ok=True)


def _fill(path: Path) -> None:
    """Write PATH until the file system has no block left."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 20, 4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)


def test_a_full_data_root_answers_clearly_and_loses_nothing(small: Daemon) -> None:
    docker = docker_for(small)
    assert docker("create", "--name", "bt-before", "busybox", "true").returncode == 0
    _fill(small.data_root / "filler")
    failures = []
    for args in (
        ("create", "--name", "bt-full", "busybox", "true"),
        ("run", "--rm", "busybox", "true"),
        ("volume", "create", "bt-full-vol"),
    ):
        r = docker(*args)
        if r.returncode != 0:
            failures.append(r.stderr.decode())
    assert failures, "nothing failed: the disk was not full"
    for text in failures:
        assert "no space left on device" in text, text
        assert not any(w in text for w in _PYTHON_WORDS), text
    # still serving, and what was there is still there
    assert small.api.raw("GET", "/_ping")[0] == 200
    assert docker("inspect", "bt-before").returncode == 0
    (small.data_root / "filler").unlink()
    r = docker("create", "--name", "bt-after", "busybox", "true")
    assert r.returncode == 0, r.stderr
    status, listed = small.api.call("GET", "/containers/json?all=1")
    assert status == 200
    for c in listed:
        assert small.api.call("GET", f"/containers/{c['Id']}/json")[0] == 200
    names = sorted(n for c in listed for n in c["Names"])
    assert "/bt-before" in names and "/bt-after" in names
    log = small.log.read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]
