"""The daemon's socket inside a container: a client in a container starts a sibling container
on the host daemon, which the host's `docker ps` then shows. Once with the static docker CLI
in an image made from busybox, once with berth's own (Python) client, bind-mounted from the
host."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import time

import pytest

from tests.conftest import Daemon

pytestmark = pytest.mark.compat

DOCKER_CLI = "/usr/local/bin/docker"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _ok(p: subprocess.CompletedProcess[bytes]) -> str:
    assert p.returncode == 0, p.stderr.decode()
    return p.stdout.decode()


def _rootfs_with_docker(docker) -> bytes:  # type: ignore[no-untyped-def]
    """busybox's root filesystem (from `docker export`) plus the static docker CLI."""
    cid = _ok(docker("create", "busybox", "true")).strip()
    try:
        exported = docker("export", cid, timeout=120)
        assert exported.returncode == 0, exported.stderr.decode()
    finally:
        docker("rm", "-f", cid)
    out = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(exported.stdout)) as src,
        tarfile.open(fileobj=out, mode="w") as dst,
    ):
        names = set()
        for m in src:
            names.add(m.name.rstrip("/"))
            dst.addfile(m, src.extractfile(m) if m.isfile() else None)
        for d in ("usr", "usr/local", "usr/local/bin"):
            if d not in names:
                info = tarfile.TarInfo(d)
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                dst.addfile(info)
        dst.add(DOCKER_CLI, arcname="usr/local/bin/docker")
    return out.getvalue()


def _ps_names(docker) -> list[str]:  # type: ignore[no-untyped-def]
    return _ok(docker("ps", "--format", "{{.Names}}")).split()


@pytest.mark.skipif(not os.path.exists(DOCKER_CLI), reason="no static docker CLI")
def test_docker_cli_in_a_container_starts_a_sibling(docker, daemon: Daemon) -> None:  # type: ignore[no-untyped-def]
    img = "bt-docker-cli:1"
    rootfs = _rootfs_with_docker(docker)
    _ok(docker("import", "--change", f"ENV PATH={PATH}", "-", img, input=rootfs, timeout=120))
    try:
        p = docker(
            "run", "--rm", "-v", f"{daemon.sock}:/var/run/docker.sock", img,
            "docker", "run", "-d", "--name", "sib", "busybox", "sleep", "60",
        )  # fmt: skip
        out = _ok(p).strip()
        assert len(out) == 64, out  # the sibling's id, printed by the inner client
        assert "sib" in _ps_names(docker)
        inspect = _ok(docker("inspect", "--format", "{{.Id}} {{.State.Status}}", "sib")).split()
        assert inspect == [out, "running"]
        # the inner client sees the same daemon: its own ps lists the sibling too
        p = docker(
            "run", "--rm", "-v", f"{daemon.sock}:/var/run/docker.sock", img,
            "docker", "ps", "--format", "{{.Names}}",
        )  # fmt: skip
        assert "sib" in _ok(p).split()
    finally:
        docker("rm", "-f", "sib")
        docker("rmi", "-f", img)
    assert "sib" not in _ps_names(docker)


def test_berth_client_in_a_container_starts_a_sibling(docker, daemon: Daemon) -> None:  # type: ignore[no-untyped-def]
    repo = os.path.dirname(
        os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    )
    prefix = sys.base_prefix
    python = os.path.realpath(sys.executable)
    # the host's python with what its dynamic loader needs, all read-only, at the host's paths
    binds = [(prefix, prefix), ("/usr/lib", "/usr/lib"), ("/usr/lib", "/lib"), (repo, "/berth")]
    if os.path.isdir("/usr/lib64"):
        binds.append(("/usr/lib64", "/lib64"))
    if not python.startswith(prefix + "/"):
        binds.append((python, "/usr/local/bin/python3-host"))
        python = "/usr/local/bin/python3-host"
    mounts: list[str] = []
    for src, dst in binds:
        mounts += ["--mount", f"type=bind,source={src},target={dst},readonly"]
    try:
        p = docker(
            "run", "--rm", *mounts,
            "-v", f"{daemon.sock}:/var/run/docker.sock",
            "-e", "PYTHONPATH=/berth", "-e", "PYTHONDONTWRITEBYTECODE=1",
            "busybox", python, "-m", "berth.cli.main",
            "-H", "unix:///var/run/docker.sock",
            "run", "-d", "--name", "sib2", "busybox", "sleep", "60",
        )  # fmt: skip
        out = _ok(p).strip()
        assert len(out) == 64, out
        end = time.monotonic() + 5
        while "sib2" not in _ps_names(docker) and time.monotonic() < end:
            time.sleep(0.1)
        assert "sib2" in _ps_names(docker)
        assert _ok(docker("inspect", "--format", "{{.Id}}", "sib2")).strip() == out
    finally:
        docker("rm", "-f", "sib2")
    assert "sib2" not in _ps_names(docker)
