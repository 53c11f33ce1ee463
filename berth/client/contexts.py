"""Which daemon, and how: global flags, environment and the docker CLI's context store.

The rules are the docker CLI's (cli/flags/options.go, cli/command/cli.go in docker/cli):

| input | rule |
|---|---|
| ``-H`` and ``-c`` both given | error ``conflicting options: cannot specify both --host and --context`` |
| context name | ``-c/--context``; else "default" when ``-H`` or ``DOCKER_HOST`` (or berth's ``BERTH_HOST``) is set; else ``DOCKER_CONTEXT``; else ``currentContext`` of ``config.json``; else "default" |
| config dir | ``--config``, else ``DOCKER_CONFIG``, else ``~/.docker`` |
| TLS on | ``--tls``, ``DOCKER_TLS`` non-empty, or verification on (``--tlsverify`` given at all, or ``DOCKER_TLS_VERIFY`` non-empty) |
| cert files | ``--tlscacert/--tlscert/--tlskey``, else ``ca.pem``/``cert.pem``/``key.pem`` in ``DOCKER_CERT_PATH`` (default: the config dir); a missing default cert or key is dropped, a missing CA is an error |
| default host | ``-H``, ``DOCKER_HOST``, ``BERTH_HOST``; else ``tcp://localhost:2376`` with TLS, berth's socket without |
| named context | ``contexts/meta/<sha256(name)>/meta.json``: ``Endpoints.docker.Host`` and ``SkipTLSVerify``; TLS material in ``contexts/tls/<sha256(name)>/docker/{ca,cert,key}.pem``; TLS is on when any of them exists or ``SkipTLSVerify`` is set |

TLS never applies to a unix socket. An ``https://`` host turns TLS on (verified against
the system's roots unless flags say otherwise). Nothing here imports ssl: that happens in
berth.client.tlsconfig, only when a TLS connection is made.
"""

from __future__ import annotations

import os

from berth.client import jsonload
from berth.client.errors import ClientError
from berth.constants import DEFAULT_HOST

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

DEFAULT_CONTEXT = "default"
DEFAULT_TLS_HOST = "tcp://localhost:2376"


class EndpointError(ClientError):
    """The endpoint cannot be worked out (bad context, missing CA file, -H with -c)."""


class GlobalOptions:
    """The global flags that pick the daemon (None: not given on the command line)."""

    __slots__ = ("host", "context", "tls", "tlsverify", "tlscacert", "tlscert", "tlskey", "config")

    def __init__(
        self,
        host: str | None = None,
        context: str | None = None,
        tls: bool | None = None,
        tlsverify: bool | None = None,
        tlscacert: str | None = None,
        tlscert: str | None = None,
        tlskey: str | None = None,
        config: str | None = None,
    ) -> None:
        self.host = host
        self.context = context
        self.tls = tls
        self.tlsverify = tlsverify
        self.tlscacert = tlscacert
        self.tlscert = tlscert
        self.tlskey = tlskey
        self.config = config


class TLSSettings:
    """How to speak TLS to the daemon: the files to use and whether to verify the server.

    ca None: the system's trust store. cert and key are sent only when both are set.
    """

    __slots__ = ("ca", "cert", "key", "verify")

    def __init__(
        self,
        ca: str | None = None,
        cert: str | None = None,
        key: str | None = None,
        verify: bool = True,
    ) -> None:
        self.ca = ca
        self.cert = cert
        self.key = key
        self.verify = verify

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TLSSettings) and all(
            getattr(self, k) == getattr(other, k) for k in self.__slots__
        )

    def __repr__(self) -> str:
        return f"TLSSettings(ca={self.ca!r}, cert={self.cert!r}, key={self.key!r}, verify={self.verify})"


class Endpoint:
    """The daemon to talk to: its host string, TLS settings (None: plain) and context name."""

    __slots__ = ("host", "tls", "context")

    def __init__(self, host: str, tls: TLSSettings | None = None, context: str = DEFAULT_CONTEXT):
        self.host = host
        self.tls = tls
        self.context = context

    def __repr__(self) -> str:
        return f"Endpoint({self.host!r}, tls={self.tls!r}, context={self.context!r})"


def config_dir(opts: GlobalOptions | None, environ: Mapping[str, str]) -> str:
    """The docker CLI's config directory: --config, DOCKER_CONFIG, or ~/.docker."""
    if opts is not None and opts.config:
        return opts.config
    if environ.get("DOCKER_CONFIG"):
        return environ["DOCKER_CONFIG"]
    home = environ.get("HOME") or os.path.expanduser("~")
    return os.path.join(home, ".docker")


def current_context(cfg_dir: str) -> str:
    """currentContext from config.json ("" when unset, missing or unreadable)."""
    try:
        with open(os.path.join(cfg_dir, "config.json"), encoding="utf-8") as f:
            doc = jsonload.loads(f.read())
    except (OSError, ValueError):
        return ""
    value = doc.get("currentContext") if isinstance(doc, dict) else None
    return value if isinstance(value, str) else ""


def resolve_context_name(opts: GlobalOptions, environ: Mapping[str, str], cfg_dir: str) -> str:
    """docker/cli's resolveContextName, with BERTH_HOST counted as DOCKER_HOST."""
    if opts.context:
        return opts.context
    if opts.host:
        return DEFAULT_CONTEXT
    if environ.get("DOCKER_HOST") or environ.get("BERTH_HOST"):
        return DEFAULT_CONTEXT
    if environ.get("DOCKER_CONTEXT"):
        return environ["DOCKER_CONTEXT"]
    return current_context(cfg_dir) or DEFAULT_CONTEXT


def _context_id(name: str) -> str:
    import hashlib

    return hashlib.sha256(name.encode()).hexdigest()


def _exists(path: str) -> bool:
    return os.path.exists(path)


def flag_tls(opts: GlobalOptions, environ: Mapping[str, str]) -> TLSSettings | None:
    """TLS settings of the default context (SetDefaultOptions in docker/cli), or None."""
    verify = (
        opts.tlsverify if opts.tlsverify is not None else bool(environ.get("DOCKER_TLS_VERIFY"))
    )
    tls = opts.tls if opts.tls is not None else bool(environ.get("DOCKER_TLS"))
    if opts.tlsverify is not None or verify:
        tls = True
    if not tls:
        return None
    cert_path = environ.get("DOCKER_CERT_PATH") or config_dir(None, environ)
    ca = opts.tlscacert if opts.tlscacert is not None else os.path.join(cert_path, "ca.pem")
    cert = opts.tlscert if opts.tlscert is not None else os.path.join(cert_path, "cert.pem")
    key = opts.tlskey if opts.tlskey is not None else os.path.join(cert_path, "key.pem")
    if opts.tlscert is None and not _exists(cert):
        cert = ""
    if opts.tlskey is None and not _exists(key):
        key = ""
    # docker reads every named file up front (TLSDataFromFiles): a missing one is an error
    # now, not a handshake failure later. The CA is read even without verification.
    for path in (ca, cert, key):
        if path and not os.access(path, os.R_OK):
            raise EndpointError(f"unable to resolve docker endpoint: {_open_error(path)}")
    return TLSSettings(ca=ca or None, cert=cert or None, key=key or None, verify=verify)


def _open_error(path: str) -> str:
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        return f"open {path}: {reason}"
    return f"open {path}: permission denied"


def default_endpoint(opts: GlobalOptions, environ: Mapping[str, str]) -> Endpoint:
    """The "default" context: -H / DOCKER_HOST / BERTH_HOST and the TLS flags."""
    tls = flag_tls(opts, environ)
    host = opts.host or environ.get("DOCKER_HOST") or environ.get("BERTH_HOST") or ""
    if not host.strip():
        host = DEFAULT_TLS_HOST if tls is not None else DEFAULT_HOST
    return _with_scheme_rules(Endpoint(host.strip(), tls, DEFAULT_CONTEXT))


def context_endpoint(name: str, cfg_dir: str) -> Endpoint:
    """A named context from the docker CLI's store."""
    cid = _context_id(name)
    meta_path = os.path.join(cfg_dir, "contexts", "meta", cid, "meta.json")
    try:
        with open(meta_path, encoding="utf-8") as f:
            doc = jsonload.loads(f.read())
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise EndpointError(
            f'unable to resolve docker endpoint: context "{name}": context not found: '
            f"open {meta_path}: {reason}"
        ) from None
    except ValueError as exc:
        raise EndpointError(
            f'unable to resolve docker endpoint: context "{name}": parsing {meta_path}: {exc}'
        ) from None
    eps = doc.get("Endpoints") if isinstance(doc, dict) else None
    ep = eps.get("docker") if isinstance(eps, dict) else None
    if not isinstance(ep, dict):
        ep = {}
    host = ep.get("Host") if isinstance(ep.get("Host"), str) else ""
    skip = ep.get("SkipTLSVerify") is True
    tls_dir = os.path.join(cfg_dir, "contexts", "tls", cid, "docker")
    files = {n: os.path.join(tls_dir, n + ".pem") for n in ("ca", "cert", "key")}
    present = {n: p for n, p in files.items() if _exists(p)}
    tls: TLSSettings | None = None
    if present or skip:
        both = "cert" in present and "key" in present
        tls = TLSSettings(
            ca=present.get("ca"),
            cert=present["cert"] if both else None,
            key=present["key"] if both else None,
            verify=not skip,
        )
    return _with_scheme_rules(Endpoint(host or DEFAULT_HOST, tls, name))


def _with_scheme_rules(ep: Endpoint) -> Endpoint:
    low = ep.host.lower()
    if low.startswith("unix://") or ep.host.startswith("/"):
        ep.tls = None  # TLS never applies to a socket (docker: isSocket)
    elif low.startswith("https://") and ep.tls is None:
        ep.tls = TLSSettings()
    return ep


def resolve_endpoint(opts: GlobalOptions, environ: Mapping[str, str]) -> Endpoint:
    """The endpoint the docker CLI would use for these flags and this environment."""
    if opts.context and opts.host:
        raise EndpointError("conflicting options: cannot specify both --host and --context")
    cfg = config_dir(opts, environ)
    name = resolve_context_name(opts, environ, cfg)
    if name == DEFAULT_CONTEXT:
        return default_endpoint(opts, environ)
    return context_endpoint(name, cfg)
