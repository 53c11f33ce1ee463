"""FROM an image of a private registry: the docker CLI sends its stored credentials in
X-Registry-Config, and berthd pulls with them; --pull pulls a newer base even when one is
here already."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Daemon
from tests.integration.registry.fixtures import (
    PASSWORD,
    USER,
    Registry,
    auth_registry,
    layer_tar,
    put_oci_image,
    registry,
)

__all__ = ["auth_registry", "registry"]

pytestmark = pytest.mark.compat

Ctx = Callable[..., Path]


def _docker(
    daemon: Daemon, cfg: str, *args: str, input: bytes = b""
) -> subprocess.CompletedProcess[bytes]:
    exe = shutil.which("docker") or "/usr/local/bin/docker"
    env = {**daemon.env, "DOCKER_CONFIG": cfg}
    return subprocess.run([exe, *args], env=env, input=input, capture_output=True, timeout=120)


def test_from_a_private_registry_with_the_clients_credentials(
    daemon: Daemon, auth_registry: Registry, ctx: Ctx, built: list[str]
) -> None:
    host = auth_registry.host
    put_oci_image(
        auth_registry, "private/base", "v1", [(layer_tar({"etc/private": b"yes\n"}), True)]
    )
    cfg = tempfile.mkdtemp(prefix="bt-dcfg-", dir="/tmp")
    base = f"{host}/private/base:v1"
    built += ["bt-build-private:1", base]
    try:
        d = ctx({"Dockerfile": f"FROM {base}\nENV FROM_PRIVATE=1\n"})
        anon = _docker(daemon, cfg, "build", "-t", "bt-build-private:1", str(d))
        assert anon.returncode == 1, anon.stderr
        r = _docker(
            daemon,
            cfg,
            "login",
            "-u",
            USER,
            "--password-stdin",
            host,
            input=PASSWORD.encode() + b"\n",
        )
        assert r.returncode == 0, r.stderr
        ok = _docker(daemon, cfg, "build", "-t", "bt-build-private:1", str(d))
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert b"Successfully tagged bt-build-private:1" in ok.stdout
        st, img = daemon.api.call("GET", "/images/bt-build-private:1/json")
        assert st == 200 and "FROM_PRIVATE=1" in img["Config"]["Env"]
    finally:
        shutil.rmtree(cfg, ignore_errors=True)


def test_pull_takes_a_newer_base(
    daemon: Daemon, registry: Registry, ctx: Ctx, built: list[str]
) -> None:
    base = f"{registry.host}/pull/base:v1"
    built += ["bt-build-pull:1", base]
    put_oci_image(registry, "pull/base", "v1", [(layer_tar({"version": b"1\n"}), True)])
    cfg = tempfile.mkdtemp(prefix="bt-dcfg-", dir="/tmp")
    try:
        d = ctx({"Dockerfile": f"FROM {base}\nENV X=1\n"})
        first = _docker(daemon, cfg, "build", "-t", "bt-build-pull:1", str(d))
        assert first.returncode == 0, first.stdout + first.stderr
        one = daemon.api.call("GET", f"/images/{base}/json")[1]["Id"]
        put_oci_image(registry, "pull/base", "v1", [(layer_tar({"version": b"2\n"}), True)])
        same = _docker(daemon, cfg, "build", "-t", "bt-build-pull:1", str(d))
        assert daemon.api.call("GET", f"/images/{base}/json")[1]["Id"] == one, same.stdout
        pulled = _docker(daemon, cfg, "build", "--pull", "-t", "bt-build-pull:1", str(d))
        assert pulled.returncode == 0, pulled.stdout + pulled.stderr
        assert daemon.api.call("GET", f"/images/{base}/json")[1]["Id"] != one
        assert b"Using cache" not in pulled.stdout
    finally:
        shutil.rmtree(cfg, ignore_errors=True)
