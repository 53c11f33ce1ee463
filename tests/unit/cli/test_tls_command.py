"""`berth tls init` and `berth tls client`: what the certificates say, file modes, refusals."""

from __future__ import annotations

import datetime
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from berth.cli.commands.tls import parse_san

REPO = Path(__file__).resolve().parents[3]
FILES = ["ca.pem", "ca-key.pem", "server-cert.pem", "server-key.pem", "cert.pem", "key.pem"]


def berth(*args: str, umask: int | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "BERTH_"))}
    env.update(PYTHONPATH=str(REPO), HOME="/nonexistent")

    def pre() -> None:
        if umask is not None:
            os.umask(umask)

    return subprocess.run(
        [sys.executable, "-m", "berth.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        preexec_fn=pre,
    )


def cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def eku(c: x509.Certificate) -> list[x509.ObjectIdentifier]:
    return list(c.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def cn(c: x509.Certificate) -> str:
    return str(c.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    d = tmp_path_factory.mktemp("tls") / "certs"
    p = berth(
        "tls",
        "init",
        "--dir",
        str(d),
        "--san",
        "DNS:build.example",
        "--san",
        "IP:10.0.0.5",
        "--days",
        "30",
        umask=0,
    )
    return d, p


def test_init_writes_docker_guide_names(
    made: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    d, p = made
    assert p.returncode == 0, p.stderr
    assert sorted(os.listdir(d)) == sorted(FILES)


def test_keys_are_0600_certs_0644_even_with_umask_0(
    made: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    d, _ = made
    for f in FILES:
        mode = stat.S_IMODE(os.stat(d / f).st_mode)
        assert mode == (0o600 if f.endswith("key.pem") else 0o644), (f, oct(mode))


def test_ca_is_a_ca_and_signs_both(made: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    d, _ = made
    ca = cert(d / "ca.pem")
    bc = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca is True
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    for leaf in ("server-cert.pem", "cert.pem"):
        c = cert(d / leaf)
        c.verify_directly_issued_by(ca)  # raises if the signature does not verify
        assert c.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False


def test_ecdsa_p256_keys_match_their_certs(
    made: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    d, _ = made
    for c, k in (
        ("ca.pem", "ca-key.pem"),
        ("server-cert.pem", "server-key.pem"),
        ("cert.pem", "key.pem"),
    ):
        key = serialization.load_pem_private_key((d / k).read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
        assert key.public_key() == cert(d / c).public_key()


def test_server_cert_usage_and_sans(made: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    d, _ = made
    s = cert(d / "server-cert.pem")
    assert eku(s) == [ExtendedKeyUsageOID.SERVER_AUTH]
    san = s.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["build.example", "localhost"]
    assert [str(a) for a in san.get_values_for_type(x509.IPAddress)] == [
        "10.0.0.5",
        "127.0.0.1",
        "::1",
    ]
    assert cn(s) == "build.example"


def test_client_cert_usage_and_validity(
    made: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    d, _ = made
    c = cert(d / "cert.pem")
    assert eku(c) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert cn(c) == "client"
    span = c.not_valid_after_utc - c.not_valid_before_utc
    assert datetime.timedelta(days=30) <= span <= datetime.timedelta(days=30, minutes=6)


def test_init_prints_the_two_command_lines(
    made: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    d, p = made
    assert (
        f"berthd --tlsverify --tlscacert={d}/ca.pem --tlscert={d}/server-cert.pem "
        f"--tlskey={d}/server-key.pem -H tcp://0.0.0.0:2376" in p.stdout
    )
    assert (
        f"export DOCKER_HOST=tcp://build.example:2376 DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH={d}"
        in p.stdout
    )


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    d = tmp_path / "c"
    assert berth("tls", "init", "--dir", str(d)).returncode == 0
    before = {f: (d / f).read_bytes() for f in FILES}
    p = berth("tls", "init", "--dir", str(d))
    assert p.returncode == 1
    assert (
        p.stderr.startswith(f"berth: refusing to overwrite {d}/ca.pem")
        and p.stderr.count("\n") == 1
    )
    assert {f: (d / f).read_bytes() for f in FILES} == before
    p = berth("tls", "init", "--dir", str(d), "--force")
    assert p.returncode == 0, p.stderr
    assert (d / "ca.pem").read_bytes() != before["ca.pem"]
    assert stat.S_IMODE(os.stat(d / "key.pem").st_mode) == 0o600
    assert not [f for f in os.listdir(d) if f.endswith(".tmp")]


def test_client_issues_from_the_same_ca(tmp_path: Path) -> None:
    d = tmp_path / "c"
    assert berth("tls", "init", "--dir", str(d)).returncode == 0
    out = tmp_path / "alice"
    p = berth("tls", "client", "alice", "--dir", str(d), "--out", str(out), "--days", "7")
    assert p.returncode == 0, p.stderr
    assert sorted(os.listdir(out)) == ["ca.pem", "cert.pem", "key.pem"]
    assert (out / "ca.pem").read_bytes() == (d / "ca.pem").read_bytes()
    c = cert(out / "cert.pem")
    c.verify_directly_issued_by(cert(d / "ca.pem"))
    assert cn(c) == "alice" and eku(c) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert stat.S_IMODE(os.stat(out / "key.pem").st_mode) == 0o600
    assert f"DOCKER_CERT_PATH={out}" in p.stdout
    # the default place is DIR/clients/NAME
    assert berth("tls", "client", "bob", "--dir", str(d)).returncode == 0
    assert cn(cert(d / "clients" / "bob" / "cert.pem")) == "bob"


@pytest.mark.parametrize(
    "args, message",
    [
        (["tls", "client", "x", "--dir", "/nonexistent-bt"], "berth: cannot read the CA (made by 'berth tls init'): /nonexistent-bt/ca.pem: no such file or directory"),
        (["tls", "init", "--dir", "/tmp/bt-never", "--san", "IP:999.1.1.1"], "berth: invalid --san 'IP:999.1.1.1': not an IP address"),
        (["tls", "init", "--dir", "/tmp/bt-never", "--days", "0"], "berth: invalid --days 0: must be a positive number"),
        (["tls", "init", "--nope"], "berth: unknown flag: --nope"),
        (["tls", "client", "a/b", "--dir", "/tmp"], "berth: invalid client name 'a/b'"),
        (["tls", "frob"], "berth: unknown command: berth tls frob"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line(args: list[str], message: str) -> None:
    p = berth(*args)
    assert p.returncode in (1, 125)
    assert p.stderr.splitlines()[0] == message
    assert "Traceback" not in p.stderr
    assert not os.path.exists("/tmp/bt-never")


def test_client_refuses_a_key_that_is_not_the_cas(tmp_path: Path) -> None:
    d = tmp_path / "c"
    assert berth("tls", "init", "--dir", str(d)).returncode == 0
    (d / "ca-key.pem").write_bytes((d / "key.pem").read_bytes())
    p = berth("tls", "client", "x", "--dir", str(d))
    assert p.returncode == 1 and p.stderr == f"berth: {d}/ca-key.pem is not the key of {d}/ca.pem\n"
    (d / "ca-key.pem").write_text("garbage")
    p = berth("tls", "client", "x", "--dir", str(d))
    assert p.returncode == 1 and "not an unencrypted PEM private key" in p.stderr


@pytest.mark.parametrize(
    "value, want",
    [("DNS:a.example", ("DNS", "a.example")), ("IP:10.0.0.5", ("IP", "10.0.0.5")), ("ip:::1", ("IP", "::1")),
     ("host1", ("DNS", "host1")), ("192.168.1.1", ("IP", "192.168.1.1")), ("dns:*.example", ("DNS", "*.example"))],
)  # fmt: skip
def test_parse_san(value: str, want: tuple[str, str]) -> None:
    assert parse_san(value) == want


@pytest.mark.parametrize("value", ["DNS:", "IP:nope", "DNS:a b", "DNS:a/b", ""])
def test_parse_san_rejects(value: str) -> None:
    with pytest.raises(ValueError):
        parse_san(value)
