"""The Bearer token flow (Docker Hub's) against a small registry + token endpoint that
follow the Docker token spec; the code path is the one used for any registry."""

from __future__ import annotations

import base64
import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from berth.engine.errors import SystemError_, Unauthorized
from berth.engine.images.registry import auth
from berth.engine.images.registry.client import Registries

MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "x", "digest": "sha256:" + "0" * 64, "size": 1},
        "layers": [],
    }
).encode()


class TokenRegistry(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.host = f"127.0.0.1:{self.server_address[1]}"
        self.token_requests: list[dict[str, list[str]]] = []
        self.issued: dict[str, str] = {}  # token -> scope

    def challenge(self, scope: str = "") -> str:
        out = f'Bearer realm="http://{self.host}/token",service="test-registry"'
        return out + (f',scope="{scope}"' if scope else "")


class _Handler(BaseHTTPRequestHandler):
    server: TokenRegistry

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, code: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        u = urllib.parse.urlsplit(self.path)
        srv = self.server
        if u.path == "/token":
            q = urllib.parse.parse_qs(u.query)
            srv.token_requests.append(q)
            want = "Basic " + base64.b64encode(b"alice:pw").decode()
            if self.headers.get("Authorization") != want:
                self._send(401, b'{"details":"incorrect username or password"}')
                return
            token = f"tok-{len(srv.token_requests)}"
            srv.issued[token] = " ".join(q.get("scope", []))
            self._send(200, json.dumps({"token": token, "expires_in": 300}).encode())
            return
        if u.path == "/v2/":
            self._send(401, b"{}", {"WWW-Authenticate": srv.challenge()})
            return
        repo = u.path[len("/v2/") :].split("/manifests/")[0]
        scope = f"repository:{repo}:pull"
        got = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
        if scope not in srv.issued.get(got, "").split(" "):
            body = b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}'
            self._send(401, body, {"WWW-Authenticate": srv.challenge(scope)})
            return
        ctype = "application/vnd.docker.distribution.manifest.v2+json"
        self._send(200, MANIFEST, {"Content-Type": ctype})


@pytest.fixture
def token_registry() -> Iterator[TokenRegistry]:
    srv = TokenRegistry()
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_bearer_token_fetched_once_per_scope(token_registry: TokenRegistry) -> None:
    hub = Registries()
    creds = auth.Credentials("alice", "pw")
    c = hub.client(token_registry.host, creds)
    for _ in range(2):
        data, _ctype, _ = c.get_manifest("lib/app", "latest", "manifest for x")
        assert data == MANIFEST
    # A second client (the next pull) reuses the cached token too.
    hub.client(token_registry.host, creds).get_manifest("lib/app", "v2", "manifest for x")
    assert len(token_registry.token_requests) == 1
    q = token_registry.token_requests[0]
    assert q["service"] == ["test-registry"]
    assert q["scope"] == ["repository:lib/app:pull"]
    assert q["account"] == ["alice"]
    # Another repository is another scope: one more token.
    c.get_manifest("lib/other", "latest", "manifest for y")
    assert len(token_registry.token_requests) == 2


def test_bearer_wrong_password_and_login(token_registry: TokenRegistry) -> None:
    hub = Registries()
    bad = hub.client(token_registry.host, auth.Credentials("alice", "nope"))
    with pytest.raises(Unauthorized):
        bad.get_manifest("lib/app", "latest", "manifest for x")
    with pytest.raises(Unauthorized):
        hub.client(token_registry.host, auth.Credentials("alice", "nope")).login()
    hub.client(token_registry.host, auth.Credentials("alice", "pw")).login()


def test_registry_down_error_names_it() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(SystemError_) as ei:
        Registries().client(f"127.0.0.1:{port}", auth.Credentials()).ping()
    assert f"127.0.0.1:{port}" in ei.value.message


def test_parse_challenges_and_header() -> None:
    got = auth.parse_challenges(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/busybox:pull,push"'
    )
    assert got == [
        (
            "bearer",
            {
                "realm": "https://auth.docker.io/token",
                "service": "registry.docker.io",
                "scope": "repository:library/busybox:pull,push",
            },
        )
    ]
    assert auth.parse_challenges('Basic realm="x"') == [("basic", {"realm": "x"})]
    raw = json.dumps({"username": "u", "password": "p", "serveraddress": "h"}).encode()
    hdr = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    assert auth.decode_header(hdr) == auth.Credentials("u", "p", "", "", "h")
    assert auth.decode_header("!!not base64!!").anonymous
    assert auth.registry_host("https://index.docker.io/v1/") == "docker.io"
    assert auth.registry_host("127.0.0.1:5000") == "127.0.0.1:5000"
