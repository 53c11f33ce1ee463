"""Registry credentials and the authentication flows: anonymous, Basic, and the Bearer
token flow (WWW-Authenticate challenge -> token endpoint), with tokens cached per scope."""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from berth.engine.errors import InvalidParameter

# Docker Hub's names as the CLI sends them in serveraddress.
INDEX_SERVER = "https://index.docker.io/v1/"
_HUB_NAMES = {"docker.io", "index.docker.io", "registry-1.docker.io"}

_PARAM_RE = re.compile(r'\s*([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?')


@dataclass(frozen=True)
class Credentials:
    """What the client sent in X-Registry-Auth (or the /auth body)."""

    username: str = ""
    password: str = ""
    identity_token: str = ""
    registry_token: str = ""
    server_address: str = ""

    @property
    def anonymous(self) -> bool:
        return not (self.username or self.password or self.identity_token or self.registry_token)

    @classmethod
    def from_wire(cls, d: Any) -> Credentials:
        if not isinstance(d, dict):
            return cls()
        return cls(
            str(d.get("username") or ""),
            str(d.get("password") or ""),
            str(d.get("identitytoken") or ""),
            str(d.get("registrytoken") or ""),
            str(d.get("serveraddress") or ""),
        )


def decode_header(value: str | None) -> Credentials:
    """X-Registry-Auth: base64url JSON; empty or unparsable gives anonymous, like dockerd
    (it falls back to no credentials when the header cannot be decoded)."""
    if not value:
        return Credentials()
    raw = value.strip()
    try:
        data = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        return Credentials.from_wire(json.loads(data))
    except (ValueError, binascii.Error):
        try:  # some clients send the JSON itself
            return Credentials.from_wire(json.loads(raw))
        except ValueError:
            return Credentials()


def registry_host(server_address: str) -> str:
    """The registry host[:port] a login server address names ("https://x/v1/" -> "x")."""
    s = server_address.strip()
    for prefix in ("https://", "http://"):
        if s.startswith(prefix):
            s = s[len(prefix) :]
            break
    s = s.split("/", 1)[0]
    if s in _HUB_NAMES or not s:
        return "docker.io"
    return s


def parse_challenges(header: str) -> list[tuple[str, dict[str, str]]]:
    """WWW-Authenticate -> [(scheme lower-cased, params)]."""
    out: list[tuple[str, dict[str, str]]] = []
    s = header.strip()
    while s:
        m = re.match(r"([A-Za-z][A-Za-z0-9_-]*)\s*", s)
        if m is None:
            break
        scheme = m.group(1).lower()
        s = s[m.end() :]
        params: dict[str, str] = {}
        while True:
            pm = _PARAM_RE.match(s)
            if pm is None:
                break
            # A bare token followed by '=' is a parameter; one that is not starts a new scheme.
            val = pm.group(2) if pm.group(2) is not None else pm.group(3)
            params[pm.group(1).lower()] = re.sub(r"\\(.)", r"\1", val or "")
            s = s[pm.end() :]
        out.append((scheme, params))
        s = s.lstrip(", ")
    return out


def basic(creds: Credentials) -> str:
    return "Basic " + base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()


def repo_scope(path: str, actions: str) -> str:
    return f"repository:{path}:{actions}"


class TokenCache:
    """Bearer tokens by (realm, service, scopes, user); shared by every pull and push so
    that consecutive requests for the same scope fetch one token."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str, str, str], tuple[str, float]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, str, str]) -> str | None:
        with self._lock:
            hit = self._tokens.get(key)
            if hit is None:
                return None
            if hit[1] <= time.monotonic():
                del self._tokens[key]
                return None
            return hit[0]

    def put(self, key: tuple[str, str, str, str], token: str, expires_in: float) -> None:
        # Refresh a little early so a token never expires between check and use.
        with self._lock:
            self._tokens[key] = (token, time.monotonic() + max(expires_in - 5, 1))


def token_from_response(body: bytes) -> tuple[str, float, str]:
    """(token, expires_in, refresh_token) from a token endpoint's JSON answer."""
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise InvalidParameter(f"unable to decode token response: {exc}") from exc
    if not isinstance(doc, dict):
        raise InvalidParameter("unable to decode token response")
    token = doc.get("token") or doc.get("access_token")
    if not isinstance(token, str) or not token:
        raise InvalidParameter("authorization server did not include a token in the response")
    expires = doc.get("expires_in")
    # The Docker token spec: 60 s when the server does not say.
    exp = float(expires) if isinstance(expires, (int, float)) and expires > 0 else 60.0
    return token, exp, str(doc.get("refresh_token") or "")
