"""`docker cp` into and out of a container's volumes and binds while it is not running
(dockerd mounts them for the operation); a read-only one refuses the write."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Daemon, docker_for

pytestmark = pytest.mark.compat


def ok(r: subprocess.CompletedProcess[bytes]) -> str:
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout.decode()


@pytest.fixture
def bind_dir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="berth-cp-"))
    (d / "from-host").write_text("host\n")
    yield d
    for p in d.iterdir():
        p.unlink()
    d.rmdir()


def test_cp_through_mounts_of_a_created_container(daemon: Daemon, bind_dir: Path) -> None:
    docker = docker_for(daemon)
    try:
        ok(docker("volume", "create", "cpvol"))
        ok(docker("create", "--name", "cpstopped", "-v", "cpvol:/vol", "-v",
                  f"{bind_dir}:/bind", "-v", f"{bind_dir}:/robind:ro", "busybox", "true"))  # fmt: skip
        with tempfile.TemporaryDirectory() as t:
            src = Path(t) / "in.txt"
            src.write_text("payload\n")
            ok(docker("cp", str(src), "cpstopped:/vol/in.txt"))
            ok(docker("cp", str(src), "cpstopped:/bind/in.txt"))
            assert (bind_dir / "in.txt").read_text() == "payload\n"
            r = docker("cp", str(src), "cpstopped:/robind/in2.txt")
            assert r.returncode != 0 and "mounted volume is marked read-only" in r.stderr.decode()
            assert not (bind_dir / "in2.txt").exists()
            ok(docker("cp", "cpstopped:/bind/from-host", str(Path(t) / "out")))
            assert (Path(t) / "out").read_text() == "host\n"
        # the volume holds the file: a run sees it
        assert (
            ok(docker("run", "--rm", "-v", "cpvol:/v", "busybox", "cat", "/v/in.txt"))
            == "payload\n"
        )
        # the mount points went with the operation
        assert not [m for m in open("/proc/self/mountinfo") if "/view-" in m]
    finally:
        daemon.remove_all_containers()
        docker("volume", "rm", "-f", "cpvol")
        for p in bind_dir.glob("in*.txt"):
            os.unlink(p)
