"""A Docker Registry HTTP API v2 / OCI distribution client on http.client.

Every method blocks (callers run them in worker threads). Bodies are streamed in and out
in chunks; nothing holds a whole layer in memory. Each request uses its own connection so
that concurrent downloads in several threads never share one (transport.py); blob
uploads, the one multi-request exchange, are in upload.py."""

from __future__ import annotations

import hashlib
import http.client
import io
import ipaddress
import json
import re
import socket
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

from berth.engine.errors import InvalidParameter, NotFound, SystemError_, Unauthorized
from berth.engine.images.registry import auth
from berth.engine.images.registry.manifest import ACCEPT
from berth.engine.images.registry.transport import (
    CHUNK,
    RegistryError,
    Response,
    error_codes,
    error_text,
    is_loopback,
    send,
)

# Pushes upload blobs larger than this in pieces of this size (the registry may ask for more).
CHUNK_SIZE = 8 << 20
_HUB_HOST = "registry-1.docker.io"

Progress = Callable[[int], None]


@dataclass
class Registries:
    """What every registry client shares: tokens, which scheme each host speaks, and the
    daemon options (insecure registries, mirrors)."""

    insecure: list[str] = field(default_factory=list)
    mirrors: list[str] = field(default_factory=list)
    tokens: auth.TokenCache = field(default_factory=auth.TokenCache)
    schemes: dict[str, str] = field(default_factory=dict)
    timeout: float = 60.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def is_insecure(self, host: str) -> bool:
        if is_loopback(host) or host in self.insecure:
            return True
        nets = []
        for entry in self.insecure:
            try:
                nets.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                continue
        if not nets:
            return False
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        name = name.strip("[]")
        try:
            addrs = [ipaddress.ip_address(name)]
        except ValueError:
            # dockerd matches a registry named by host name on the addresses it resolves to
            try:
                infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
            except OSError:
                return False
            addrs = [ipaddress.ip_address(str(i[4][0]).split("%", 1)[0]) for i in infos]
        return any(a in n for a in addrs for n in nets if a.version == n.version)

    def client(self, domain: str, creds: auth.Credentials) -> RegistryClient:
        return RegistryClient(self, domain, creds)

    def mirror_client(self, url: str, creds: auth.Credentials) -> RegistryClient:
        """A client for Docker Hub content served by the mirror at `url` (http or https,
        as the URL says; the hub's credentials go with it, as with dockerd)."""
        u = urllib.parse.urlsplit(url)
        c = RegistryClient(self, "docker.io", creds)
        c.host = u.netloc
        c.scheme = u.scheme
        c.prefix = u.path.rstrip("/")
        return c


class RegistryClient:
    """One registry, one set of credentials."""

    def __init__(self, hub: Registries, domain: str, creds: auth.Credentials) -> None:
        self.hub = hub
        self.domain = domain
        self.host = _HUB_HOST if domain == "docker.io" else domain
        self.creds = creds
        self.scheme = hub.schemes.get(self.host, "")
        self.challenge: tuple[str, dict[str, str]] | None = None
        self.pinged = False
        self.prefix = ""  # a mirror may serve the API below a path
        self.chunk_size = CHUNK_SIZE

    # ---- connections -----------------------------------------------------------
    def base(self) -> str:
        return f"{self.scheme}://{self.host}{self.prefix}"

    def _send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes | IO[bytes] | None = None,
    ) -> Response:
        verify = not self.hub.is_insecure(self.host)
        return send(method, url, headers, body, timeout=self.hub.timeout, verify=verify)

    # ---- ping and auth ---------------------------------------------------------
    def ping(self) -> None:
        """GET /v2/: choose the scheme (https, or http for an insecure registry) and learn
        how the registry wants to be authenticated."""
        if self.pinged:
            return
        schemes = [self.scheme] if self.scheme else ["https"]
        if not self.scheme and self.hub.is_insecure(self.host):
            schemes = ["http"] if is_loopback(self.host) else ["https", "http"]
        last: Exception | None = None
        for scheme in schemes:
            try:
                with self._send("GET", f"{scheme}://{self.host}{self.prefix}/v2/", {}) as r:
                    r.read_small()
                    status, www = r.status, r.header("WWW-Authenticate")
            except SystemError_ as exc:
                last = exc
                continue
            self.scheme = scheme
            with self.hub.lock:
                self.hub.schemes[self.host] = scheme
            if status == 401 and www:
                chal = auth.parse_challenges(www)
                self.challenge = chal[0] if chal else None
            self.pinged = True
            return
        assert last is not None
        raise last

    def _auth_header(self, scopes: list[str], fresh: bool = False) -> dict[str, str]:
        if self.challenge is None:
            return {}
        scheme, params = self.challenge
        if scheme == "basic":
            if not self.creds.username:
                return {}  # the registry's 401 then says what is missing
            return {"Authorization": auth.basic(self.creds)}
        if scheme == "bearer":
            if self.creds.registry_token:
                return {"Authorization": "Bearer " + self.creds.registry_token}
            return {"Authorization": "Bearer " + self._token(params, scopes, fresh)}
        return {}

    def _token(self, params: dict[str, str], scopes: list[str], fresh: bool) -> str:
        realm = params.get("realm") or ""
        if not realm:
            raise Unauthorized("bearer auth challenge without a realm")
        service = params.get("service", "")
        key = (realm, service, " ".join(sorted(scopes)), self.creds.username)
        if not fresh:
            hit = self.hub.tokens.get(key)
            if hit is not None:
                return hit
        headers: dict[str, str] = {}
        if self.creds.identity_token:
            form = {
                "grant_type": "refresh_token",
                "refresh_token": self.creds.identity_token,
                "service": service,
                "client_id": "docker",
                "scope": " ".join(scopes),
            }
            body = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            resp = self._send("POST", realm, headers, body)
        else:
            q: list[tuple[str, str]] = []
            if service:
                q.append(("service", service))
            q += [("scope", s) for s in scopes]
            if self.creds.username:
                q.append(("account", self.creds.username))
                headers["Authorization"] = auth.basic(self.creds)
            sep = "&" if "?" in realm else "?"
            url = realm + (sep + urllib.parse.urlencode(q) if q else "")
            resp = self._send("GET", url, headers)
        with resp:
            data = resp.read_small()
            if resp.status != 200:
                text = error_text(data) or f"{resp.status} {resp.reason}"
                if resp.status == 401:
                    raise Unauthorized(f"unauthorized: {text}" if ":" not in text else text)
                raise SystemError_(f"failed to fetch anonymous token: {text}")
        token, expires, _refresh = auth.token_from_response(data)
        self.hub.tokens.put(key, token, expires)
        return token

    def request(
        self,
        method: str,
        path: str,
        scopes: list[str],
        headers: dict[str, str] | None = None,
        body: bytes | Callable[[], IO[bytes]] | None = None,
    ) -> Response:
        """An authenticated request to `path` (or an absolute URL); retried once with a
        fresh token when the registry asks for other credentials (scope)."""
        self.ping()
        url = path if "://" in path else self.base() + path
        hdrs = dict(headers or {})
        for attempt in range(2):
            auth_h = self._auth_header(scopes, fresh=attempt > 0)
            data = body() if callable(body) else body
            resp = self._follow(method, url, {**hdrs, **auth_h}, data, auth_h)
            if resp.status != 401 or attempt == 1:
                return resp
            www = resp.header("WWW-Authenticate")
            resp.read_small()
            resp.close()
            chal = auth.parse_challenges(www) if www else []
            if not chal or chal[0][0] not in ("bearer", "basic"):
                break
            self.challenge = chal[0]
            extra = chal[0][1].get("scope")
            if extra:
                scopes = sorted(set(scopes) | set(extra.split(" ")))
            if chal[0][0] == "basic" and not self.creds.username:
                # dockerd's is a plain (500) error: a 401 would make the docker CLI
                # prompt for a login instead of showing it.
                raise SystemError_(f'{method.capitalize()} "{url}": no basic auth credentials')
        raise Unauthorized(f'{method.capitalize()} "{url}": unauthorized: authentication required')

    def _follow(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes | IO[bytes] | None,
        auth_h: dict[str, str],
    ) -> Response:
        """Send, following redirects for GET/HEAD (blob stores hand out other hosts:
        the registry's credentials are not sent there)."""
        origin = urllib.parse.urlsplit(url).netloc
        for _ in range(6):
            resp = self._send(method, url, headers, body)
            if method not in ("GET", "HEAD") or resp.status not in (301, 302, 303, 307, 308):
                return resp
            loc = resp.header("Location")
            resp.close()
            url = urllib.parse.urljoin(url, loc)
            if urllib.parse.urlsplit(url).netloc != origin:
                headers = {k: v for k, v in headers.items() if k not in auth_h}
        raise SystemError_(f"{method} {url}: stopped after 5 redirects")

    # ---- operations ------------------------------------------------------------
    def check(self, resp: Response, what: str, ok: tuple[int, ...]) -> None:
        """Raise the registry's error for `resp` unless its status is in `ok`."""
        if resp.status in ok:
            return
        body = b"" if resp.resp.getheader("Content-Length") == "0" else resp.read_small()
        resp.close()
        text = error_text(body) or f"{resp.status} {resp.reason}"
        codes = error_codes(body)
        if resp.status == 404 or codes & {"MANIFEST_UNKNOWN", "NAME_UNKNOWN", "BLOB_UNKNOWN"}:
            raise NotFound(f"{what} not found: {text}")
        if resp.status in (401, 403) or codes & {"UNAUTHORIZED", "DENIED"}:
            raise Unauthorized(text)
        raise RegistryError(f"{what}: {text}")

    def get_manifest(self, path: str, ref: str, what: str) -> tuple[bytes, str, str]:
        """(body, content type, Docker-Content-Digest header) of a manifest."""
        resp = self.request(
            "GET",
            f"/v2/{path}/manifests/{ref}",
            [auth.repo_scope(path, "pull")],
            {"Accept": ", ".join(ACCEPT)},
        )
        self.check(resp, what, (200,))
        with resp:
            return (
                resp.read_small(),
                resp.header("Content-Type"),
                resp.header("Docker-Content-Digest"),
            )

    def list_tags(self, path: str) -> list[str]:
        """Every tag of a repository (GET /v2/<name>/tags/list, following Link pages)."""
        url: str | None = f"/v2/{path}/tags/list"
        tags: list[str] = []
        for _ in range(1000):
            if url is None:
                break
            resp = self.request("GET", url, [auth.repo_scope(path, "pull")])
            self.check(resp, f"repository {path}", (200,))
            with resp:
                link = resp.header("Link")
                try:
                    doc = json.loads(resp.read_small())
                except ValueError as exc:
                    raise RegistryError(f"tags of {path}: invalid response: {exc}") from None
            tags.extend(str(t) for t in (doc.get("tags") or []) if isinstance(doc, dict))
            # RFC 5988: <url>; rel="next"
            nxt = re.match(r'\s*<([^>]+)>\s*;\s*rel="?next"?', link or "")
            url = urllib.parse.urljoin(self.base() + "/", nxt.group(1)) if nxt else None
        return tags

    def get_blob_small(self, path: str, digest: str, size: int) -> bytes:
        """A small blob (an image config), verified against its digest."""
        resp = self.request("GET", f"/v2/{path}/blobs/{digest}", [auth.repo_scope(path, "pull")])
        self.check(resp, f"blob {digest}", (200,))
        with resp:
            data = resp.read_small()
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            raise InvalidParameter(f"image config verification failed for digest {digest}")
        return data

    def open_blob(
        self,
        path: str,
        digest: str,
        size: int,
        progress: Progress,
        cancelled: Callable[[], bool],
    ) -> BlobReader:
        """A blob as a stream, hashed and counted as it is read; `BlobReader.verify` checks
        it once read (the caller may decompress and extract it on the way)."""
        resp = self.request("GET", f"/v2/{path}/blobs/{digest}", [auth.repo_scope(path, "pull")])
        self.check(resp, f"blob {digest}", (200,))
        return BlobReader(resp, digest, size, progress, cancelled)

    def blob_exists(self, path: str, digest: str, scopes: list[str]) -> bool:
        resp = self.request("HEAD", f"/v2/{path}/blobs/{digest}", scopes)
        with resp:
            if resp.status == 200:
                return True
            if resp.status == 404:
                return False
        self.check(resp, f"blob {digest}", (200,))
        return False

    def mount_blob(self, path: str, digest: str, source: str) -> str | None:
        """Cross-repository mount. None when mounted, else the upload URL the registry
        opened instead (it could not mount)."""
        q = urllib.parse.urlencode({"mount": digest, "from": source})
        scopes = [auth.repo_scope(path, "pull,push"), auth.repo_scope(source, "pull")]
        resp = self.request("POST", f"/v2/{path}/blobs/uploads/?{q}", scopes, body=b"")
        self.check(resp, f"mount of {digest}", (201, 202))
        with resp:
            resp.read_small()
            if resp.status == 201:
                return None
            return urllib.parse.urljoin(self.base() + "/", resp.header("Location"))

    def put_manifest(self, path: str, ref: str, data: bytes, media_type: str) -> str:
        resp = self.request(
            "PUT",
            f"/v2/{path}/manifests/{ref}",
            [auth.repo_scope(path, "pull,push")],
            {"Content-Type": media_type},
            data,
        )
        self.check(resp, f"manifest {ref}", (201, 202))
        with resp:
            resp.read_small()
            return resp.header("Docker-Content-Digest")

    def login(self) -> None:
        """Verify the credentials the way dockerd's login does."""
        self.ping()
        url = f"{self.base()}/v2/"
        if self.challenge is None:
            return
        scheme, params = self.challenge
        if scheme == "basic":
            if not self.creds.username:
                raise Unauthorized("no basic auth credentials")
            with self._send("GET", url, {"Authorization": auth.basic(self.creds)}) as r:
                r.read_small()
                if r.status != 200:
                    raise Unauthorized(
                        f"login attempt to {url} failed with status: {r.status} {r.reason}"
                    )
            return
        if scheme == "bearer":
            try:
                self._token(params, [], fresh=True)
            except Unauthorized as exc:
                raise Unauthorized(f'Get "{params.get("realm", "")}": {exc.message}') from exc


class BlobReader(io.RawIOBase):
    """A registry blob's body as a raw file: what is read is hashed and counted, and never
    more than the manifest's size is taken. Nothing read is trusted until `verify` (which
    drains what the reader left) has matched the size and digest."""

    def __init__(
        self,
        resp: Response,
        digest: str,
        size: int,
        progress: Progress,
        cancelled: Callable[[], bool],
    ) -> None:
        self.resp = resp
        self.digest = digest
        self.size = size
        self.progress = progress
        self.cancelled = cancelled
        self.hash = hashlib.sha256()
        self.got = 0
        self.over = False

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self.cancelled():
            raise SystemError_("download cancelled")
        want = len(b)
        if self.size >= 0:
            # one byte past the size tells a longer blob from an exact one
            want = min(want, self.size + 1 - self.got)
        if want <= 0 or self.over:
            return 0
        try:
            chunk = self.resp.read(min(want, CHUNK))
        except (OSError, http.client.HTTPException) as exc:
            raise SystemError_(f"error reading blob {self.digest}: {exc}") from exc
        n = len(chunk)
        if self.size >= 0 and self.got + n > self.size:
            self.over = True
            return 0
        self.got += n
        self.hash.update(chunk)
        b[:n] = chunk
        if n:
            self.progress(self.got)
        return n

    def verify(self) -> None:
        """Read the rest (a decompressor may stop before the end); raise unless the blob
        is exactly the manifest's size and digest."""
        buf = bytearray(CHUNK)
        while self.readinto(buf):
            pass
        if self.over or self.got != self.size or "sha256:" + self.hash.hexdigest() != self.digest:
            raise InvalidParameter(f"filesystem layer verification failed for digest {self.digest}")

    def close(self) -> None:
        self.resp.close()
        super().close()
