"""Shared by the TLS tests (berth CLI and docker CLI): certificates, good and bad, and a
berthd that listens on TCP with --tlsverify."""

from __future__ import annotations

import datetime
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from berth.cli.commands import tls as tlscmd
from tests.conftest import _LIVE_DAEMONS, REPO, Daemon, cleanup_root


def berth_env(home: Path, **extra: str) -> dict[str, str]:
    """An environment for either CLI with its own HOME/DOCKER_CONFIG and no host set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "BERTH_"))}
    env.update(HOME=str(home), DOCKER_CONFIG=str(home / ".docker"), PYTHONPATH=str(REPO), **extra)
    return env


def berth_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "berth.cli.main", *args]


def free_port(addr: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((addr, 0))
        return int(s.getsockname()[1])


def tls_init(d: Path, *sans: str) -> Path:
    """The real `berth tls init` into d; returns d."""
    args = ["tls", "init", "--dir", str(d), "--days", "2"]
    for s in sans:
        args += ["--san", s]
    p = subprocess.run(
        berth_cmd(*args), env=berth_env(d.parent), capture_output=True, text=True, cwd=REPO
    )
    assert p.returncode == 0, p.stderr
    return d


def _write(d: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "cert.pem").write_bytes(tlscmd._cert_pem(cert))
    fd = os.open(d / "key.pem", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(tlscmd._key_pem(key))
    return d


def _load_ca(pki: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    ca, key, _ = tlscmd._load_ca(str(pki))
    return ca, key


def bad_clients(pki: Path, out: Path) -> dict[str, Path]:
    """Client cert dirs (cert.pem, key.pem) that berthd must refuse, by what is wrong."""
    ca, ca_key = _load_ca(pki)
    made: dict[str, Path] = {}
    # self-signed, with clientAuth
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mallory")])
    now = datetime.datetime.now(datetime.UTC)
    self_signed = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
        .sign(key, hashes.SHA256())
    )
    made["self-signed"] = _write(out / "self-signed", self_signed, key)
    # from another CA
    other_ca, other_key = tlscmd.make_ca(1)
    c, k = tlscmd.make_client(other_ca, other_key, "stranger", 1)
    made["other-ca"] = _write(out / "other-ca", c, k)
    # from the right CA, but expired
    key = ec.generate_private_key(ec.SECP256R1())
    expired = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "old")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=10))
        .not_valid_after(now - datetime.timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
        .sign(ca_key, hashes.SHA256())
    )
    made["expired"] = _write(out / "expired", expired, key)
    # from the right CA, but for servers only (no clientAuth)
    c, k = tlscmd.make_server(ca, ca_key, [("DNS", "not-a-client")], 1)
    made["no-clientAuth"] = _write(out / "no-clientAuth", c, k)
    return made


def tls_daemon_args(pki: Path, host: str) -> list[str]:
    return [
        "-H",
        host,
        "--tlsverify",
        f"--tlscacert={pki}/ca.pem",
        f"--tlscert={pki}/server-cert.pem",
        f"--tlskey={pki}/server-key.pem",
    ]


def run_daemon(extra: list[str], busybox_tar: Path | None) -> Iterator[Daemon]:
    """A berthd of its own with extra args (its unix socket as well), stopped afterwards."""
    root = Path(tempfile.mkdtemp(prefix="bt-", dir="/tmp"))
    d = Daemon(root, extra)
    _LIVE_DAEMONS.append(d)
    try:
        d.start()
        if busybox_tar is not None:
            d.load_image(busybox_tar)
        yield d
        d.remove_all_containers()
        d.stop()
    finally:
        _LIVE_DAEMONS.remove(d)
        d.kill()
        cleanup_root(root)
