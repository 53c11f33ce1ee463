"""The real docker CLI against berthd on TCP with --tlsverify, with certificates made by
`berth tls init`: the right client cert works (ps, version, run, piped run -i, exec);
no cert, a self-signed one, one from another CA, an expired one and one without
clientAuth are refused, and berthd keeps serving."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import IS_ROOT
from tests.integration.cli.tlsenv import (
    bad_clients,
    berth_env,
    free_port,
    run_daemon,
    tls_daemon_args,
    tls_init,
)

DOCKER = shutil.which("docker") or "/usr/local/bin/docker"
pytestmark = [
    pytest.mark.skipif(
        not IS_ROOT, reason="needs root: berthd creates namespaces, mounts and cgroups"
    ),
    pytest.mark.skipif(not os.path.exists(DOCKER), reason="the docker CLI is not installed"),
]


class Setup:
    def __init__(self, pki: Path, home: Path, url: str) -> None:
        self.pki = pki
        self.home = home
        self.url = url
        self.bad = bad_clients(pki, home / "bad")


@pytest.fixture(scope="module")
def tls(busybox_tar: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    base = tmp_path_factory.mktemp("dtls")
    pki = tls_init(base / "pki")
    home = base / "home"
    (home / ".docker").mkdir(parents=True)
    url = f"tcp://127.0.0.1:{free_port()}"
    for _d in run_daemon(tls_daemon_args(pki, url), busybox_tar):
        yield Setup(pki, home, url)


def docker(
    t: Setup, *args: str, certs: Path | None = None, input: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    """docker with DOCKER_TLS_VERIFY=1, the daemon's CA and the client cert of `certs`."""
    certs = certs or t.pki
    pre = [
        "--tlsverify",
        f"--tlscacert={t.pki}/ca.pem",
        f"--tlscert={certs}/cert.pem",
        f"--tlskey={certs}/key.pem",
        "-H",
        t.url,
    ]
    return subprocess.run(
        [DOCKER, *pre, *args], env=berth_env(t.home), input=input, capture_output=True, timeout=60
    )


def test_right_cert_ps_and_version(tls: Setup) -> None:
    p = docker(tls, "ps", "-a")
    assert p.returncode == 0 and p.stdout.startswith(b"CONTAINER ID"), p.stderr
    p = docker(tls, "version", "--format", "{{.Server.APIVersion}}")
    assert (p.returncode, p.stdout) == (0, b"1.50\n"), p.stderr


def test_environment_variables(tls: Setup) -> None:
    env = berth_env(
        tls.home, DOCKER_HOST=tls.url, DOCKER_TLS_VERIFY="1", DOCKER_CERT_PATH=str(tls.pki)
    )
    p = subprocess.run([DOCKER, "ps"], env=env, capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr


def test_run_output_over_tls(tls: Setup) -> None:
    p = docker(tls, "run", "--rm", "busybox", "echo", "hi")
    assert (p.returncode, p.stdout) == (0, b"hi\n"), p.stderr


def test_piped_run_i_over_tls(tls: Setup) -> None:
    p = docker(tls, "run", "--rm", "-i", "busybox", "cat", input=b"through tls\n")
    assert (p.returncode, p.stdout) == (0, b"through tls\n"), p.stderr


def test_exec_over_tls(tls: Setup) -> None:
    p = docker(tls, "run", "-d", "--name", "bt-tls-exec", "busybox", "sleep", "60")
    assert p.returncode == 0, p.stderr
    try:
        p = docker(tls, "exec", "bt-tls-exec", "echo", "from exec")
        assert (p.returncode, p.stdout) == (0, b"from exec\n"), p.stderr
    finally:
        docker(tls, "rm", "-f", "bt-tls-exec")


def test_no_client_cert_is_refused(tls: Setup) -> None:
    p = subprocess.run(
        [DOCKER, "--tlsverify", f"--tlscacert={tls.pki}/ca.pem", "-H", tls.url, "ps"],
        env=berth_env(tls.home), capture_output=True, timeout=60,
    )  # fmt: skip
    assert p.returncode == 1
    assert b"error during connect" in p.stderr, p.stderr


@pytest.mark.parametrize("kind", ["self-signed", "other-ca", "expired", "no-clientAuth"])
def test_wrong_client_cert_is_refused(tls: Setup, kind: str) -> None:
    p = docker(tls, "ps", certs=tls.bad[kind])
    assert p.returncode == 1, p.stdout
    assert b"error during connect" in p.stderr, p.stderr
    assert docker(tls, "ps").returncode == 0  # berthd still serves the right client
