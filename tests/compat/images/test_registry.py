"""The real docker CLI pulling, pushing and logging in through berthd to a real registry."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator

import pytest

from tests.conftest import Daemon
from tests.integration.registry.fixtures import (
    PASSWORD,
    USER,
    Registry,
    auth_registry,
    registry,
)

__all__ = ["auth_registry", "registry"]


@pytest.fixture
def dk(daemon: Daemon) -> Iterator:
    """The docker CLI with a config dir of its own (credentials stay in the test)."""
    exe = shutil.which("docker") or "/usr/local/bin/docker"
    if not os.path.exists(exe):
        pytest.skip("the docker CLI is not installed")
    cfg = tempfile.mkdtemp(prefix="bt-dcfg-", dir="/tmp")
    made: list[str] = []

    def run(*args: str, input: bytes = b"") -> subprocess.CompletedProcess[bytes]:
        if args[:1] in (("tag",), ("pull",)):
            made.append(args[-1])
        env = {**daemon.env, "DOCKER_CONFIG": cfg}
        return subprocess.run([exe, *args], env=env, input=input, capture_output=True, timeout=120)

    run.config = cfg  # type: ignore[attr-defined]
    try:
        yield run
    finally:
        daemon.remove_all_containers()
        for ref in made:
            run("rmi", "-f", ref)
        shutil.rmtree(cfg, ignore_errors=True)


def test_docker_push_pull_and_run_pulls(registry: Registry, dk) -> None:  # type: ignore[no-untyped-def]
    name = f"{registry.host}/compat/busybox"
    assert dk("tag", "busybox", f"{name}:latest").returncode == 0
    r = dk("push", f"{name}:latest")
    assert r.returncode == 0, r.stderr
    _, served, body = registry.manifest("compat/busybox", "latest")
    assert f"latest: digest: {served} size: {len(body)}".encode() in r.stdout
    assert dk("rmi", f"{name}:latest").returncode == 0

    r = dk("pull", f"{name}:latest")
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    assert "latest: Pulling from compat/busybox" in out
    assert f"Digest: {served}" in out
    assert f"Status: Downloaded newer image for {name}:latest" in out
    r = dk("images", "--digests", "--format", "{{.Repository}} {{.Digest}}", name)
    assert r.stdout.decode().split() == [name, served]

    # docker run of an image that is not here pulls it first.
    assert dk("rmi", f"{name}:latest").returncode == 0
    r = dk("run", "--rm", f"{name}:latest", "echo", "pulled and ran")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"pulled and ran\n"
    assert f"Unable to find image '{name}:latest' locally".encode() in r.stderr
    assert f"Status: Downloaded newer image for {name}:latest".encode() in r.stderr

    r = dk("pull", f"{name}:nope")
    assert r.returncode == 1
    assert (
        f"manifest for {name}:nope not found: manifest unknown: manifest unknown".encode()
        in r.stderr
    )


def test_docker_login_and_push_with_auth(auth_registry: Registry, dk) -> None:  # type: ignore[no-untyped-def]
    host = auth_registry.host
    r = dk("login", "-u", USER, "--password-stdin", host, input=b"wrong\n")
    assert r.returncode == 1
    assert b"401 Unauthorized" in r.stderr
    r = dk("login", "-u", USER, "--password-stdin", host, input=PASSWORD.encode() + b"\n")
    assert r.returncode == 0, r.stderr
    assert b"Login Succeeded" in r.stdout
    cfg = json.loads(open(os.path.join(dk.config, "config.json")).read())
    assert cfg["auths"][host]["auth"] == base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

    name = f"{host}/compat/secret"
    assert dk("tag", "busybox", name).returncode == 0
    r = dk("push", name)
    assert r.returncode == 0, r.stderr
    _, served, _ = auth_registry.manifest("compat/secret", "latest")
    assert f"latest: digest: {served}".encode() in r.stdout
    assert dk("logout", host).returncode == 0
    assert dk("rmi", name).returncode == 0
    r = dk("pull", name)
    assert r.returncode == 1 and b"no basic auth credentials" in r.stderr
