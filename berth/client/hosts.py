"""Where the daemon is: -H / DOCKER_HOST / BERTH_HOST, parsed into a socket address."""

from __future__ import annotations

from berth.constants import DEFAULT_HOST

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

DEFAULT_TCP_PORT = 2375
DEFAULT_TLS_PORT = 2376


class HostError(ValueError):
    """A host string the client cannot use."""


class Host:
    """A parsed daemon address: scheme "unix" (address is a path) or "tcp" (host, port)."""

    __slots__ = ("scheme", "path", "host", "port")

    def __init__(self, scheme: str, path: str = "", host: str = "", port: int = 0) -> None:
        self.scheme = scheme
        self.path = path
        self.host = host
        self.port = port

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Host) and self.url == other.url

    def __hash__(self) -> int:
        return hash(self.url)

    def __repr__(self) -> str:
        return f"Host({self.url!r})"

    @property
    def url(self) -> str:
        """The canonical form, as shown in error messages."""
        if self.scheme == "unix":
            return "unix://" + self.path
        return f"tcp://{self.host}:{self.port}"


def pick_host(flag: str | None, environ: Mapping[str, str]) -> str:
    """The host string to use: the -H flag, else DOCKER_HOST, else BERTH_HOST, else the default."""
    for candidate in (flag, environ.get("DOCKER_HOST"), environ.get("BERTH_HOST")):
        if candidate:
            return candidate
    return DEFAULT_HOST


def parse_host(spec: str) -> Host:
    """Parse "unix:///path", "tcp://host:port", "https://host:port", "host:port" or "/path".

    https:// is a tcp address (default port 2376) on which TLS is on; the endpoint
    resolution (berth.client.contexts) decides TLS, this only finds the address.

    fd:// is a daemon-side listener (systemd socket activation) and means nothing to a client.
    """
    spec = spec.strip()
    if not spec:
        raise HostError("empty host")
    if spec.startswith("/"):
        return Host("unix", path=spec)
    scheme, sep, rest = spec.partition("://")
    if not sep:
        scheme, rest = "tcp", spec
    scheme = scheme.lower()
    if scheme == "unix":
        if not rest:
            raise HostError(f"invalid host {spec!r}: empty socket path")
        return Host("unix", path=rest)
    if scheme in ("tcp", "http", "https"):
        return _parse_tcp(spec, rest, DEFAULT_TLS_PORT if scheme == "https" else DEFAULT_TCP_PORT)
    if scheme == "fd":
        raise HostError(f"invalid host {spec!r}: fd:// is only for the daemon")
    raise HostError(f"invalid host {spec!r}: unsupported scheme {scheme!r}")


def _parse_tcp(spec: str, rest: str, default_port: int = DEFAULT_TCP_PORT) -> Host:
    rest = rest.rstrip("/")
    if "/" in rest:
        raise HostError(f"invalid host {spec!r}: a path is not supported")
    if rest.startswith("["):
        end = rest.find("]")
        if end < 0:
            raise HostError(f"invalid host {spec!r}: unclosed IPv6 bracket")
        host, port_s = rest[1:end], rest[end + 1 :].lstrip(":")
    elif rest.count(":") == 1:
        host, port_s = rest.split(":")
    else:
        host, port_s = rest, ""
    if not host:
        host = "127.0.0.1"
    if not port_s:
        return Host("tcp", host=host, port=default_port)
    if not port_s.isdigit() or not 0 < int(port_s) < 65536:
        raise HostError(f"invalid host {spec!r}: bad port {port_s!r}")
    return Host("tcp", host=host, port=int(port_s))
