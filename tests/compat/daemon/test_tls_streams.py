"""The docker CLI over TLS (--tlsverify): attach and exec output survives the client's
half-close, stdin piped in arrives, exit codes are kept, and a client the handshake
refuses is told why by a TLS alert (not a bare EOF)."""

from __future__ import annotations

import datetime
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import _LIVE_DAEMONS, IS_ROOT, Daemon, cleanup_root

pytestmark = pytest.mark.skipif(not IS_ROOT, reason="needs root: berthd")

DOCKER = shutil.which("docker") or "/usr/local/bin/docker"


def _write_pki(d: Path, ca_name: str = "berth test CA") -> None:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, with the
    file names of Docker's TLS guide (the directory works as DOCKER_CERT_PATH)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)

    def key() -> ec.EllipticCurvePrivateKey:
        return ec.generate_private_key(ec.SECP256R1())

    def save_key(k: ec.EllipticCurvePrivateKey, name: str) -> None:
        (d / name).write_bytes(
            k.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        os.chmod(d / name, 0o600)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key = key()
    ca = (
        x509.CertificateBuilder()
        .subject_name(name(ca_name))
        .issuer_name(name(ca_name))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(
        cn: str, usage: x509.ObjectIdentifier, san: bool
    ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        k = key()
        b = (
            x509.CertificateBuilder()
            .subject_name(name(cn))
            .issuer_name(ca.subject)
            .public_key(k.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if san:
            import ipaddress

            b = b.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
        return b.sign(ca_key, hashes.SHA256()), k

    pem = serialization.Encoding.PEM
    (d / "ca.pem").write_bytes(ca.public_bytes(pem))
    srv, srv_key = leaf("berthd", ExtendedKeyUsageOID.SERVER_AUTH, True)
    (d / "server-cert.pem").write_bytes(srv.public_bytes(pem))
    save_key(srv_key, "server-key.pem")
    cli, cli_key = leaf("client", ExtendedKeyUsageOID.CLIENT_AUTH, False)
    (d / "cert.pem").write_bytes(cli.public_bytes(pem))
    save_key(cli_key, "key.pem")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TLSDaemon:
    def __init__(self, daemon: Daemon, port: int, pki: Path) -> None:
        self.d = daemon
        self.port = port
        self.pki = pki

    def env(self, cert_path: Path | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        env.update(
            DOCKER_HOST=f"tcp://127.0.0.1:{self.port}",
            DOCKER_TLS_VERIFY="1",
            DOCKER_CERT_PATH=str(cert_path or self.pki),
        )
        return env

    def docker(
        self, *args: str, input: bytes | None = None, cert_path: Path | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [DOCKER, *args],
            env=self.env(cert_path),
            input=input,
            capture_output=True,
            timeout=60,
        )


@pytest.fixture(scope="module")
def tls_daemon(busybox_tar: Path) -> Iterator[TLSDaemon]:
    if not os.path.exists(DOCKER):
        pytest.skip("the docker CLI is not installed")
    root = Path(tempfile.mkdtemp(prefix="bt-", dir="/tmp"))
    pki = root / "pki"
    pki.mkdir()
    _write_pki(pki)
    port = _free_port()
    d = Daemon(
        root,
        [
            "-H",
            f"tcp://127.0.0.1:{port}",
            "--tlsverify",
            "--tlscacert",
            str(pki / "ca.pem"),
            "--tlscert",
            str(pki / "server-cert.pem"),
            "--tlskey",
            str(pki / "server-key.pem"),
        ],
    )
    _LIVE_DAEMONS.append(d)
    try:
        d.start()
        d.load_image(busybox_tar)
        yield TLSDaemon(d, port, pki)
        d.remove_all_containers()
        d.stop()
    finally:
        _LIVE_DAEMONS.remove(d)
        d.kill()
        cleanup_root(root)


def test_run_without_stdin_prints_its_output(tls_daemon: TLSDaemon) -> None:
    r = tls_daemon.docker("run", "--rm", "busybox", "echo", "hi")
    assert (r.returncode, r.stdout) == (0, b"hi\n"), r.stderr


def test_run_keeps_the_exit_code(tls_daemon: TLSDaemon) -> None:
    r = tls_daemon.docker("run", "--rm", "busybox", "sh", "-c", "echo out; exit 3")
    assert (r.returncode, r.stdout) == (3, b"out\n"), r.stderr


def test_piped_stdin_reaches_run_and_its_output_comes_back(tls_daemon: TLSDaemon) -> None:
    r = tls_daemon.docker("run", "-i", "--rm", "busybox", "cat", input=b"data\n")
    assert (r.returncode, r.stdout) == (0, b"data\n"), r.stderr


def test_exec_output_and_piped_stdin(tls_daemon: TLSDaemon) -> None:
    r = tls_daemon.docker("run", "-d", "--name", "tls-exec", "busybox", "sleep", "300")
    assert r.returncode == 0, r.stderr
    try:
        r = tls_daemon.docker("exec", "tls-exec", "echo", "hi")
        assert (r.returncode, r.stdout) == (0, b"hi\n"), r.stderr
        r = tls_daemon.docker("exec", "-i", "tls-exec", "cat", input=b"data\n")
        assert (r.returncode, r.stdout) == (0, b"data\n"), r.stderr
        r = tls_daemon.docker("exec", "tls-exec", "sh", "-c", "exit 7")
        assert r.returncode == 7, r.stderr
    finally:
        tls_daemon.docker("rm", "-f", "tls-exec")


def test_a_client_without_a_certificate_is_told_why(tls_daemon: TLSDaemon, tmp: Path) -> None:
    shutil.copy(tls_daemon.pki / "ca.pem", tmp / "ca.pem")  # trusts the server, has no cert
    r = tls_daemon.docker("version", "--format", "{{.Server.Version}}", cert_path=tmp)
    assert r.returncode != 0
    err = r.stderr.decode()
    assert "remote error: tls: certificate required" in err, err
    # the daemon lives on for the clients it accepts
    assert tls_daemon.docker("ps").returncode == 0


def test_a_client_certificate_from_another_ca_is_told_why(tls_daemon: TLSDaemon, tmp: Path) -> None:
    _write_pki(tmp, "another CA")  # a CA of its own, and a client certificate it signed
    shutil.copy(tls_daemon.pki / "ca.pem", tmp / "ca.pem")  # while trusting the real server
    r = tls_daemon.docker("version", "--format", "{{.Server.Version}}", cert_path=tmp)
    assert r.returncode != 0
    err = r.stderr.decode()
    assert "remote error: tls: unknown certificate authority" in err, err
