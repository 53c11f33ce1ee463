"""The berth CLI over TLS against a real berthd listening with --tlsverify: the right
client certificate works, wrong ones are refused in one line, docker contexts work, and
across a network namespace (another "host") the same holds."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import IS_ROOT, REPO, Daemon
from tests.integration.cli.tlsenv import (
    bad_clients,
    berth_cmd,
    berth_env,
    free_port,
    run_daemon,
    tls_daemon_args,
    tls_init,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not IS_ROOT, reason="needs root: berthd creates namespaces, mounts and cgroups"
    ),
]
DOCKER = shutil.which("docker") or "/usr/local/bin/docker"


class TLSSetup:
    def __init__(self, d: Daemon, pki: Path, home: Path, url: str) -> None:
        self.daemon = d
        self.pki = pki
        self.home = home
        self.url = url
        self.bad = bad_clients(pki, home / "bad")


@pytest.fixture(scope="module")
def tls(busybox_tar: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TLSSetup]:
    base = tmp_path_factory.mktemp("tls")
    pki = tls_init(base / "pki")
    home = base / "home"
    (home / ".docker").mkdir(parents=True)
    url = f"tcp://127.0.0.1:{free_port()}"
    for d in run_daemon(tls_daemon_args(pki, url), busybox_tar):
        yield TLSSetup(d, pki, home, url)


def berth(
    t: TLSSetup, *args: str, input: bytes | None = None, **env: str
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        berth_cmd(*args),
        env=berth_env(t.home, **env),
        input=input,
        capture_output=True,
        cwd=REPO,
        timeout=60,
    )


def with_cert(t: TLSSetup, cert_dir: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    """berth --tlsverify with the daemon's CA and the cert/key of cert_dir."""
    return berth(
        t,
        "--tlsverify",
        f"--tlscacert={t.pki}/ca.pem",
        f"--tlscert={cert_dir}/cert.pem",
        f"--tlskey={cert_dir}/key.pem",
        "-H",
        t.url,
        *args,
    )


def test_flags_with_the_right_cert(tls: TLSSetup) -> None:
    p = with_cert(tls, tls.pki, "version", "--format", "{{.Server.Version}}")
    assert p.returncode == 0, p.stderr
    p = with_cert(tls, tls.pki, "ps", "-a")
    assert p.returncode == 0 and p.stdout.startswith(b"CONTAINER ID"), p.stderr


def test_environment_with_the_right_cert(tls: TLSSetup) -> None:
    env = {"DOCKER_HOST": tls.url, "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(tls.pki)}
    p = berth(tls, "ps", **env)
    assert p.returncode == 0, p.stderr
    p = berth(tls, "run", "--rm", "busybox", "echo", "hi over tls", **env)
    assert (p.returncode, p.stdout) == (0, b"hi over tls\n"), p.stderr


def test_client_cert_from_tls_client(tls: TLSSetup) -> None:
    out = tls.home / "carol"
    p = berth(tls, "tls", "client", "carol", "--dir", str(tls.pki), "--out", str(out))
    assert p.returncode == 0, p.stderr
    env = {"DOCKER_HOST": tls.url, "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(out)}
    assert berth(tls, "ps", **env).returncode == 0


def test_piped_stdin_over_tls(tls: TLSSetup) -> None:
    """run -i ends its input with a close_notify (docker's CloseWrite) and reads on."""
    env = {"DOCKER_HOST": tls.url, "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(tls.pki)}
    p = berth(tls, "run", "--rm", "-i", "busybox", "cat", input=b"piped\n", **env)
    assert (p.returncode, p.stdout) == (0, b"piped\n"), p.stderr


def test_plaintext_to_the_tls_port_is_refused(tls: TLSSetup) -> None:
    p = berth(tls, "-H", tls.url, "ps")
    assert p.returncode == 1
    assert p.stderr.count(b"\n") == 1 and b"Traceback" not in p.stderr, p.stderr


def test_no_client_cert_is_refused(tls: TLSSetup) -> None:
    p = berth(tls, "--tlsverify", f"--tlscacert={tls.pki}/ca.pem", "-H", tls.url, "ps")
    assert p.returncode == 1
    err = p.stderr.decode()
    assert err.startswith(f"berth: error during connect: {tls.url}: tls: "), err
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("kind", ["self-signed", "other-ca", "expired", "no-clientAuth"])
def test_wrong_client_cert_is_refused(tls: TLSSetup, kind: str) -> None:
    p = with_cert(tls, tls.bad[kind], "ps")
    assert p.returncode == 1, p.stdout
    err = p.stderr.decode()
    assert err.startswith(f"berth: error during connect: {tls.url}: tls: "), err
    assert err.count("\n") == 1 and "Traceback" not in err
    # the daemon still serves the right client
    assert with_cert(tls, tls.pki, "ps").returncode == 0


def test_server_cert_is_verified(tls: TLSSetup, tmp_path: Path) -> None:
    other = tls_init(tmp_path / "other")  # a CA that did not sign berthd's cert
    p = berth(
        tls, "--tlsverify", f"--tlscacert={other}/ca.pem", f"--tlscert={tls.pki}/cert.pem",
        f"--tlskey={tls.pki}/key.pem", "-H", tls.url, "ps",
    )  # fmt: skip
    assert p.returncode == 1
    assert b"tls: certificate verify failed" in p.stderr, p.stderr
    # --tls alone does not verify the server: the same CA file is then no obstacle
    p = berth(
        tls, "--tls", f"--tlscacert={other}/ca.pem", f"--tlscert={tls.pki}/cert.pem",
        f"--tlskey={tls.pki}/key.pem", "-H", tls.url, "ps",
    )  # fmt: skip
    assert p.returncode == 0, p.stderr


def test_localhost_matches_the_server_cert(tls: TLSSetup) -> None:
    # berth tls init always names localhost (a mismatch is tested in tests/unit/client)
    port = tls.url.rsplit(":", 1)[1]
    env = {"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(tls.pki)}
    assert berth(tls, "-H", f"tcp://localhost:{port}", "ps", **env).returncode == 0


def test_missing_cert_files_are_one_line(tls: TLSSetup) -> None:
    p = berth(tls, "--tlsverify", "--tlscacert=/nonexistent/ca.pem", "-H", tls.url, "ps")
    assert (p.returncode, p.stderr) == (
        1,
        b"berth: unable to resolve docker endpoint: open /nonexistent/ca.pem: no such file or directory\n",
    )
    bad_key = tls.home / "bad-key.pem"
    bad_key.write_text("not a key\n")
    p = berth(
        tls, "--tlsverify", f"--tlscacert={tls.pki}/ca.pem", f"--tlscert={tls.pki}/cert.pem",
        f"--tlskey={bad_key}", "-H", tls.url, "run", "--rm", "busybox", "true",
    )  # fmt: skip
    assert p.returncode == 125 and p.stderr.startswith(b"berth: Could not load X509 key pair: "), (
        p.stderr
    )
    assert p.stderr.count(b"\n") == 1


# ---- contexts made by the real docker CLI -------------------------------------------------
def docker(t: TLSSetup, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([DOCKER, *args], env=berth_env(t.home), capture_output=True, timeout=60)


@pytest.fixture
def contexts(tls: TLSSetup) -> Iterator[TLSSetup]:
    if not os.path.exists(DOCKER):
        pytest.skip("the docker CLI is not installed")
    yield tls
    docker(tls, "context", "use", "default")
    for name in ("bt-tls", "bt-plain", "bt-skip"):
        docker(tls, "context", "rm", "-f", name)


def test_docker_context_create_then_berth_c(contexts: TLSSetup) -> None:
    t = contexts
    spec = f"host={t.url},ca={t.pki}/ca.pem,cert={t.pki}/cert.pem,key={t.pki}/key.pem"
    assert docker(t, "context", "create", "bt-tls", "--docker", spec).returncode == 0
    p = berth(t, "-c", "bt-tls", "ps")
    assert p.returncode == 0, p.stderr
    p = berth(t, "--context=bt-tls", "run", "--rm", "busybox", "echo", "ctx")
    assert (p.returncode, p.stdout) == (0, b"ctx\n"), p.stderr
    assert berth(t, "ps", DOCKER_CONTEXT="bt-tls").returncode == 0
    # -H and -c together: docker's refusal
    p = berth(t, "-c", "bt-tls", "-H", t.url, "ps")
    assert (p.returncode, p.stderr) == (
        1,
        b"berth: conflicting options: cannot specify both --host and --context\n",
    )


def test_docker_context_use_then_berth(contexts: TLSSetup) -> None:
    t = contexts
    spec = f"host={t.url},ca={t.pki}/ca.pem,cert={t.pki}/cert.pem,key={t.pki}/key.pem"
    assert docker(t, "context", "create", "bt-tls", "--docker", spec).returncode == 0
    assert (
        docker(t, "context", "create", "bt-plain", "--docker", f"host={t.daemon.host}").returncode
        == 0
    )
    assert docker(t, "context", "use", "bt-tls").returncode == 0
    assert berth(t, "ps").returncode == 0
    # DOCKER_HOST beats the current context, as with docker
    p = berth(t, "ps", DOCKER_HOST="unix:///nonexistent/bt.sock")
    assert p.returncode == 1 and b"unix:///nonexistent/bt.sock" in p.stderr
    # a unix-socket context works too, and "default" is the default host
    assert berth(t, "-c", "bt-plain", "ps").returncode == 0
    p = berth(t, "-c", "default", "ps", BERTH_HOST="")
    assert b"unix:///var/run/berth.sock" in p.stderr or p.returncode == 0


def test_context_skip_tls_verify(contexts: TLSSetup) -> None:
    t = contexts
    # a context with SkipTLSVerify and a client cert but no CA: the server is not checked
    spec = f"host={t.url},cert={t.pki}/cert.pem,key={t.pki}/key.pem,skip-tls-verify=true"
    assert docker(t, "context", "create", "bt-skip", "--docker", spec).returncode == 0
    p = berth(t, "-c", "bt-skip", "ps")
    assert p.returncode == 0, p.stderr


def test_unknown_context_is_one_line(tls: TLSSetup) -> None:
    p = berth(tls, "-c", "no-such-ctx", "ps")
    assert p.returncode == 1
    err = p.stderr.decode()
    assert err.startswith(
        'berth: unable to resolve docker endpoint: context "no-such-ctx": context not found: open '
    )
    assert err.count("\n") == 1


# ---- across "hosts": a network namespace and a veth pair ----------------------------------
def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


@pytest.fixture
def netns() -> Iterator[tuple[str, str, str]]:
    """(netns name, host-side address, client-side address) on a fresh veth pair."""
    if shutil.which("ip") is None:
        pytest.skip("iproute2 is not installed")
    pid = os.getpid()
    ns, host_if, peer_if = f"bt-tls-{pid}", f"bttls{pid % 100000}h", f"bttls{pid % 100000}p"
    x = pid % 200 + 20
    host_addr, peer_addr = f"10.200.{x}.1", f"10.200.{x}.2"
    try:
        _ip("netns", "add", ns)
        _ip("link", "add", host_if, "type", "veth", "peer", "name", peer_if)
        _ip("link", "set", peer_if, "netns", ns)
        _ip("addr", "add", f"{host_addr}/30", "dev", host_if)
        _ip("link", "set", host_if, "up")
        for cmd in (
            ["addr", "add", f"{peer_addr}/30", "dev", peer_if],
            ["link", "set", peer_if, "up"],
            ["link", "set", "lo", "up"],
        ):
            _ip("-n", ns, *cmd)
        yield ns, host_addr, peer_addr
    finally:
        _ip("link", "del", host_if, check=False)
        _ip("netns", "del", ns, check=False)


def test_across_hosts_with_tls(
    netns: tuple[str, str, str], busybox_tar: Path, tmp_path: Path
) -> None:
    ns, addr, _ = netns
    pki = tls_init(tmp_path / "pki", f"IP:{addr}")
    home = tmp_path / "home"
    (home / ".docker").mkdir(parents=True)
    url = f"tcp://{addr}:{free_port(addr)}"
    env = berth_env(home, DOCKER_HOST=url, DOCKER_TLS_VERIFY="1", DOCKER_CERT_PATH=str(pki))
    for _d in run_daemon(tls_daemon_args(pki, url), None):
        p = subprocess.run(
            ["ip", "netns", "exec", ns, *berth_cmd("ps")],
            env=env,
            capture_output=True,
            cwd=REPO,
            timeout=60,
        )
        assert p.returncode == 0 and p.stdout.startswith(b"CONTAINER ID"), p.stderr
        if os.path.exists(DOCKER):
            p = subprocess.run(
                [
                    "ip",
                    "netns",
                    "exec",
                    ns,
                    DOCKER,
                    "version",
                    "--format",
                    "{{.Server.APIVersion}}",
                ],
                env=env,
                capture_output=True,
                timeout=60,
            )
            assert (p.returncode, p.stdout) == (0, b"1.50\n"), p.stderr
        # without TLS, from the other host: refused
        plain = berth_env(home, DOCKER_HOST=url)
        p = subprocess.run(
            ["ip", "netns", "exec", ns, *berth_cmd("ps")],
            env=plain,
            capture_output=True,
            cwd=REPO,
            timeout=60,
        )
        assert p.returncode == 1 and b"Traceback" not in p.stderr


def test_plain_tcp_on_that_address_refuses_to_start(
    netns: tuple[str, str, str], tmp_path: Path
) -> None:
    _, addr, _ = netns
    url = f"tcp://{addr}:{free_port(addr)}"
    with pytest.raises(RuntimeError) as ei:
        for _d in run_daemon(["-H", url], None):
            pytest.fail("berthd started on a non-loopback address without TLS")
    msg = str(ei.value)
    assert msg.startswith("berthd exited 1"), msg
    assert f"refusing to listen on {url} without TLS client verification" in msg
