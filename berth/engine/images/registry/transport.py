"""The HTTP layer under the registry client: one connection per request, responses whose
bodies the caller reads, and registry errors in the words dockerd prints them."""

from __future__ import annotations

import http.client
import ipaddress
import json
import socket
import ssl
import urllib.parse
from typing import IO

from berth.engine.errors import EngineError, InvalidParameter, SystemError_

CHUNK = 1 << 20
_MAX_SMALL = 32 << 20  # manifests and configs are read into memory; refuse absurd ones
USER_AGENT = "berth (docker-compatible)"


class RegistryError(EngineError):
    """The registry answered with an error document."""


def is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def error_text(body: bytes) -> str:
    """A registry error document as dockerd prints it: "manifest unknown: manifest unknown"."""
    try:
        doc = json.loads(body)
        errs = doc.get("errors") if isinstance(doc, dict) else None
    except ValueError:
        errs = None
    if not errs:
        return body.decode(errors="replace").strip()
    parts = []
    for e in errs:
        if not isinstance(e, dict):
            continue
        code = str(e.get("code") or "unknown").lower().replace("_", " ")
        msg = str(e.get("message") or "")
        parts.append(f"{code}: {msg}" if msg else code)
    return "; ".join(parts)


def error_codes(body: bytes) -> set[str]:
    try:
        doc = json.loads(body)
        return {str(e.get("code")) for e in doc.get("errors") or [] if isinstance(e, dict)}
    except (ValueError, AttributeError):
        return set()


class Response:
    """A response whose body is read by the caller; closing it closes its connection."""

    def __init__(self, conn: http.client.HTTPConnection, resp: http.client.HTTPResponse) -> None:
        self.conn = conn
        self.resp = resp
        self.status = resp.status
        self.reason = resp.reason

    def header(self, name: str) -> str:
        return self.resp.getheader(name) or ""

    def read(self, n: int = -1) -> bytes:
        return self.resp.read(n)

    def read_small(self) -> bytes:
        data = self.resp.read(_MAX_SMALL + 1)
        if len(data) > _MAX_SMALL:
            raise InvalidParameter("registry response too large")
        return data

    def close(self) -> None:
        self.resp.close()
        self.conn.close()

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(scheme: str, netloc: str, timeout: float, verify: bool) -> http.client.HTTPConnection:
    """A fresh connection (TLS unless `scheme` is http; `verify` False for an insecure
    registry)."""
    if scheme == "https":
        ctx = ssl.create_default_context()
        if not verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return http.client.HTTPSConnection(netloc, timeout=timeout, context=ctx, blocksize=CHUNK)
    return http.client.HTTPConnection(netloc, timeout=timeout, blocksize=CHUNK)


def send(
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes | IO[bytes] | None,
    *,
    timeout: float,
    verify: bool,
) -> Response:
    """One request on its own connection; a network failure is a SystemError_ in Go's words."""
    u = urllib.parse.urlsplit(url)
    conn = connect(u.scheme, u.netloc, timeout, verify)
    target = u.path + (f"?{u.query}" if u.query else "")
    hdrs = {"User-Agent": USER_AGENT, **headers}
    try:
        conn.request(method, target, body=body, headers=hdrs)
        resp = conn.getresponse()
    except (OSError, http.client.HTTPException) as exc:
        conn.close()
        raise SystemError_(net_error(method, url, u.netloc, exc)) from exc
    return Response(conn, resp)


def net_error(method: str, url: str, netloc: str, exc: BaseException) -> str:
    """Go's error text for a failed request, which is what docker users know."""
    verb = method.capitalize()
    if isinstance(exc, ConnectionRefusedError):
        why = f"dial tcp {netloc}: connect: connection refused"
    elif isinstance(exc, socket.gaierror):
        why = f"dial tcp: lookup {netloc.rsplit(':', 1)[0]}: no such host"
    elif isinstance(exc, (TimeoutError, socket.timeout)):
        why = f"dial tcp {netloc}: i/o timeout"
    elif isinstance(exc, ssl.SSLError):
        why = f"tls: {exc.reason or exc}"
    else:
        why = str(exc) or type(exc).__name__
    return f'{verb} "{url}": {why}'
