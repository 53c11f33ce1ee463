"""tls init / tls client: a CA, a server certificate and client certificates for berthd.

The file names are those of Docker's "Protect the Docker daemon socket" guide, so a
directory made by `berth tls init` works as DOCKER_CERT_PATH as it is:

| file | what |
|---|---|
| ca.pem, ca-key.pem | the CA (basicConstraints CA:TRUE); ca-key.pem signs every other cert |
| server-cert.pem, server-key.pem | berthd's certificate: EKU serverAuth, the SANs asked for |
| cert.pem, key.pem | a client certificate: EKU clientAuth (CN "client", or NAME) |

Choices: ECDSA P-256 keys, SHA-256 signatures; certificates valid from five minutes
ago (clock skew) for --days days (365). The server certificate always names
DNS:localhost, IP:127.0.0.1 and IP:::1 besides the --san values: those only matter to
clients on the daemon's own host, and they make the local case work with no --san.
Key files are created with mode 0600 (by os.open, so they never exist with a wider
mode); nothing is written unless every file can be (existing files are refused
without --force). `cryptography` is imported by this command only.
"""

from __future__ import annotations

import ipaddress
import os
from typing import TYPE_CHECKING, Any

from berth.cli.context import Context, StatusError
from berth.cli.flags import Command, Flag, parse

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

DEFAULT_DAYS = 365
_LOOPBACK_SANS = ["DNS:localhost", "IP:127.0.0.1", "IP:::1"]

INIT = Command(
    "tls init",
    "berth tls init [OPTIONS]",
    "Make a CA, a server certificate and a client certificate for berthd's TLS",
    [
        Flag("days", "", "int", DEFAULT_DAYS, help="Days the certificates are valid"),
        Flag("dir", "", "str", "", help="Directory to write to (default: $DOCKER_CERT_PATH or ~/.docker)"),
        Flag("force", "f", help="Overwrite existing files"),
        Flag("san", "", "list", help="Subject alternative name of the server (DNS:name or IP:addr)"),
    ],
    max_args=0,
)  # fmt: skip
CLIENT = Command(
    "tls client",
    "berth tls client [OPTIONS] NAME",
    "Issue another client certificate (CN=NAME) from the CA made by 'berth tls init'",
    [
        Flag("days", "", "int", DEFAULT_DAYS, help="Days the certificate is valid"),
        Flag("dir", "", "str", "", help="Directory of the CA (default: $DOCKER_CERT_PATH or ~/.docker)"),
        Flag("force", "f", help="Overwrite existing files"),
        Flag("out", "o", "str", "", help="Directory to write cert.pem, key.pem and ca.pem to (default: DIR/clients/NAME)"),
    ],
    min_args=1,
    max_args=1,
)  # fmt: skip


def _default_dir() -> str:
    from berth.client.contexts import config_dir

    return os.environ.get("DOCKER_CERT_PATH") or config_dir(None, os.environ)


def parse_san(value: str) -> tuple[str, str]:
    """("DNS", name) or ("IP", address) from "DNS:name", "IP:addr" or a bare name/address."""
    kind, sep, rest = value.partition(":")
    if sep and kind.upper() in ("DNS", "IP"):
        kind, name = kind.upper(), rest.strip()
    else:
        name = value.strip()
        try:
            ipaddress.ip_address(name)
            kind = "IP"
        except ValueError:
            kind = "DNS"
    if not name:
        raise ValueError(f"invalid --san {value!r}: empty name")
    if kind == "IP":
        try:
            name = str(ipaddress.ip_address(name))
        except ValueError:
            raise ValueError(f"invalid --san {value!r}: not an IP address") from None
    elif any(c.isspace() or c in "/\\,:@" for c in name) or name.startswith("."):
        raise ValueError(f"invalid --san {value!r}: not a DNS name")
    return kind, name


# ---- certificate building (cryptography, imported here only) -------------------------
def _new_key() -> ec.EllipticCurvePrivateKey:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _name(cn: str) -> x509.Name:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "berth"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    signer_key: ec.EllipticCurvePrivateKey,
    days: int,
) -> x509.CertificateBuilder:
    import datetime

    from cryptography import x509

    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_key.public_key()), False
        )
    )


def _leaf_usage(b: x509.CertificateBuilder, eku: Any) -> x509.CertificateBuilder:
    from cryptography import x509

    return (
        b.add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            True,
        )  # fmt: skip
        .add_extension(x509.ExtendedKeyUsage([eku]), False)
    )


def make_ca(days: int) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A self-signed CA certificate and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    key = _new_key()
    name = _name("berth CA")
    b = _builder(name, name, key, key, days)
    b = b.add_extension(x509.BasicConstraints(ca=True, path_length=0), True).add_extension(
        x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True,
            crl_sign=True, encipher_only=False, decipher_only=False,
        ),
        True,
    )  # fmt: skip
    return b.sign(key, hashes.SHA256()), key


def make_server(
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    sans: list[tuple[str, str]],
    days: int,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A server certificate (serverAuth) for these SANs, signed by the CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID

    key = _new_key()
    names: list[x509.GeneralName] = []
    for kind, value in sans:
        if kind == "IP":
            names.append(x509.IPAddress(ipaddress.ip_address(value)))
        else:
            names.append(x509.DNSName(value))
    cn = next((v for k, v in sans if k == "DNS"), "localhost")
    b = _builder(_name(cn), ca.subject, key, ca_key, days)
    b = _leaf_usage(b, ExtendedKeyUsageOID.SERVER_AUTH)
    b = b.add_extension(x509.SubjectAlternativeName(names), False)
    return b.sign(ca_key, hashes.SHA256()), key


def make_client(
    ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, name: str, days: int
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A client certificate (clientAuth, CN=name), signed by the CA."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID

    key = _new_key()
    b = _builder(_name(name), ca.subject, key, ca_key, days)
    b = _leaf_usage(b, ExtendedKeyUsageOID.CLIENT_AUTH)
    return b.sign(ca_key, hashes.SHA256()), key


def _cert_pem(cert: x509.Certificate) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


# ---- writing ----------------------------------------------------------------------
def write_files(directory: str, files: dict[str, tuple[bytes, int]], force: bool) -> None:
    """Write every file (name -> (data, mode)) or none: existing ones are refused first
    unless force. Each file is created with its final mode (O_EXCL; a temporary name and
    a rename when overwriting), so a key is never readable by others, not even briefly."""
    os.makedirs(directory, mode=0o755, exist_ok=True)
    if not force:
        taken = [n for n in files if os.path.lexists(os.path.join(directory, n))]
        if taken:
            raise StatusError(
                1,
                f"refusing to overwrite {', '.join(os.path.join(directory, n) for n in taken)}"
                " (use --force)",
            )
    for name, (data, mode) in files.items():
        path = os.path.join(directory, name)
        tmp = os.path.join(directory, f".{name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(tmp, mode)  # the umask may have taken bits from a certificate's 0644
            if force:
                os.replace(tmp, path)
            else:
                os.link(tmp, path)  # fails if the name appeared meanwhile: nothing clobbered
                os.unlink(tmp)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise


def _io_error(exc: OSError) -> StatusError:
    reason = (exc.strerror or str(exc)).lower()
    return StatusError(1, f"{exc.filename}: {reason}" if exc.filename else reason)


def _days(cmd: Command, days: int) -> int:
    if days <= 0:
        raise cmd.usage_error(f"invalid --days {days}: must be a positive number", status=1)
    return days


def init(ctx: Context, argv: list[str]) -> int:
    """berth tls init."""
    opts, _ = parse(INIT, argv)
    days = _days(INIT, opts.days)
    directory = os.path.abspath(os.path.expanduser(opts.dir or _default_dir()))
    try:
        asked = [parse_san(v) for v in opts.san]
    except ValueError as exc:
        raise INIT.usage_error(str(exc), status=1) from None
    sans: list[tuple[str, str]] = []
    for san in asked + [parse_san(v) for v in _LOOPBACK_SANS]:
        if san not in sans:
            sans.append(san)
    ca, ca_key = make_ca(days)
    server, server_key = make_server(ca, ca_key, sans, days)
    client, client_key = make_client(ca, ca_key, "client", days)
    files = {
        "ca.pem": (_cert_pem(ca), 0o644),
        "ca-key.pem": (_key_pem(ca_key), 0o600),
        "server-cert.pem": (_cert_pem(server), 0o644),
        "server-key.pem": (_key_pem(server_key), 0o600),
        "cert.pem": (_cert_pem(client), 0o644),
        "key.pem": (_key_pem(client_key), 0o600),
    }
    try:
        write_files(directory, files, opts.force)
    except OSError as exc:
        raise _io_error(exc) from None
    host = next((v for _, v in asked if not _is_loopback(v)), "localhost")
    if ":" in host:
        host = f"[{host}]"
    shown = ", ".join(f"{k}:{v}" for k, v in sans)
    ctx.out(
        f"Wrote a CA, a server certificate ({shown}) and a client certificate to {directory}\n"
        f"Keep ca-key.pem safe: whoever has it can make certificates berthd trusts.\n\n"
        f"Start the daemon with:\n"
        f"  berthd --tlsverify --tlscacert={directory}/ca.pem "
        f"--tlscert={directory}/server-cert.pem --tlskey={directory}/server-key.pem "
        f"-H tcp://0.0.0.0:2376\n\n"
        f"Point clients (berth, docker) at it with:\n"
        f"  export DOCKER_HOST=tcp://{host}:2376 DOCKER_TLS_VERIFY=1 "
        f"DOCKER_CERT_PATH={directory}\n"
    )
    return 0


def _is_loopback(value: str) -> bool:
    if value == "localhost":
        return True
    try:
        return ipaddress.ip_address(value).is_loopback
    except ValueError:
        return False


def _load_ca(directory: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    ca_path = os.path.join(directory, "ca.pem")
    key_path = os.path.join(directory, "ca-key.pem")
    try:
        with open(ca_path, "rb") as f:
            ca_pem = f.read()
        with open(key_path, "rb") as f:
            key_pem = f.read()
    except OSError as exc:
        raise StatusError(
            1, f"cannot read the CA (made by 'berth tls init'): {_io_error(exc).message}"
        ) from None
    try:
        ca = x509.load_pem_x509_certificate(ca_pem)
    except ValueError:
        raise StatusError(1, f"{ca_path}: not a PEM certificate") from None
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        raise StatusError(1, f"{key_path}: not an unencrypted PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != ca.public_key():
        raise StatusError(1, f"{key_path} is not the key of {ca_path}")
    return ca, key, ca_pem


def client(ctx: Context, argv: list[str]) -> int:
    """berth tls client NAME."""
    opts, args = parse(CLIENT, argv)
    days = _days(CLIENT, opts.days)
    name = args[0]
    if not name.strip() or any(c in name for c in "/\\\0\n") or name in (".", ".."):
        raise CLIENT.usage_error(f"invalid client name {name!r}", status=1)
    directory = os.path.abspath(os.path.expanduser(opts.dir or _default_dir()))
    out = os.path.abspath(
        os.path.expanduser(opts.out) if opts.out else os.path.join(directory, "clients", name)
    )
    ca, ca_key, ca_pem = _load_ca(directory)
    cert, key = make_client(ca, ca_key, name, days)
    files = {
        "cert.pem": (_cert_pem(cert), 0o644),
        "key.pem": (_key_pem(key), 0o600),
        "ca.pem": (ca_pem, 0o644),
    }
    try:
        write_files(out, files, opts.force)
    except OSError as exc:
        raise _io_error(exc) from None
    ctx.out(
        f"Wrote a client certificate for {name} to {out}\n\n"
        f"Use it with:\n"
        f"  export DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH={out}\n"
    )
    return 0
