"""A Docker Registry HTTP API v2 / OCI distribution client on http.client.

Every method blocks (callers run them in worker threads). Bodies are streamed in and out
in chunks; nothing holds a whole layer in memory. Each request uses its own connection so
that concurrent downloads in several threads never share one."""

from __future__ import annotations

import hashlib
import http.client
import ipaddress
import json
import re
import socket
import ssl
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO

from berth.engine.errors import EngineError, InvalidParameter, NotFound, SystemError_, Unauthorized
from berth.engine.images.registry import auth
from berth.engine.images.registry.manifest import ACCEPT

_CHUNK = 1 << 20
# Pushes upload blobs larger than this in pieces of this size (the registry may ask for more).
CHUNK_SIZE = 8 << 20
_MAX_SMALL = 32 << 20  # manifests and configs are read into memory; refuse absurd ones
_HUB_HOST = "registry-1.docker.io"
_USER_AGENT = "berth (docker-compatible)"

Progress = Callable[[int], None]


class RegistryError(EngineError):
    """The registry answered with an error document."""


def _is_loopback(host: str) -> bool:
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


def _error_codes(body: bytes) -> set[str]:
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
        if _is_loopback(host) or host in self.insecure:
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

    def _connect(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        if scheme == "https":
            ctx = ssl.create_default_context()
            if self.hub.is_insecure(self.host):
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            return http.client.HTTPSConnection(
                netloc, timeout=self.hub.timeout, context=ctx, blocksize=_CHUNK
            )
        return http.client.HTTPConnection(netloc, timeout=self.hub.timeout, blocksize=_CHUNK)

    def _send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes | IO[bytes] | None = None,
    ) -> Response:
        u = urllib.parse.urlsplit(url)
        conn = self._connect(u.scheme, u.netloc)
        target = u.path + (f"?{u.query}" if u.query else "")
        hdrs = {"User-Agent": _USER_AGENT, **headers}
        try:
            conn.request(method, target, body=body, headers=hdrs)
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise SystemError_(_net_error(method, url, u.netloc, exc)) from exc
        return Response(conn, resp)

    # ---- ping and auth ---------------------------------------------------------
    def ping(self) -> None:
        """GET /v2/: choose the scheme (https, or http for an insecure registry) and learn
        how the registry wants to be authenticated."""
        if self.pinged:
            return
        schemes = [self.scheme] if self.scheme else ["https"]
        if not self.scheme and self.hub.is_insecure(self.host):
            schemes = ["http"] if _is_loopback(self.host) else ["https", "http"]
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
        codes = _error_codes(body)
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

    def fetch_blob(
        self,
        path: str,
        digest: str,
        size: int,
        dst: IO[bytes],
        progress: Progress,
        cancelled: Callable[[], bool],
    ) -> None:
        """Stream a blob into `dst`, checking its size and digest as it comes."""
        resp = self.request("GET", f"/v2/{path}/blobs/{digest}", [auth.repo_scope(path, "pull")])
        self.check(resp, f"blob {digest}", (200,))
        h = hashlib.sha256()
        got = 0
        with resp:
            while True:
                if cancelled():
                    raise SystemError_("download cancelled")
                try:
                    chunk = resp.read(_CHUNK)
                except (OSError, http.client.HTTPException) as exc:
                    raise SystemError_(f"error reading blob {digest}: {exc}") from exc
                if not chunk:
                    break
                got += len(chunk)
                if size >= 0 and got > size:
                    break
                h.update(chunk)
                dst.write(chunk)
                progress(got)
        if got != size or "sha256:" + h.hexdigest() != digest:
            raise InvalidParameter(f"filesystem layer verification failed for digest {digest}")

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

    def upload_blob(
        self,
        path: str,
        digest: str,
        size: int,
        open_src: Callable[[], IO[bytes]],
        progress: Progress,
        location: str | None = None,
    ) -> None:
        """Upload a blob: open a session, PATCH the bytes (in CHUNK_SIZE pieces with
        Content-Range when the blob is larger; as one streamed request when it is small or
        the registry refuses pieces), then PUT to close it with the digest (which the
        registry checks)."""
        scopes = [auth.repo_scope(path, "pull,push")]
        min_chunk = 0
        if location is None:
            location, min_chunk = self._start_upload(path, scopes)
        chunk = max(self.chunk_size, min_chunk)
        done = None
        if size > chunk:
            done = self._upload_chunks(location, digest, size, open_src, progress, chunk, scopes)
            if done is None:
                progress(0)
                location, _ = self._start_upload(path, scopes)
        if done is None:

            def body() -> IO[bytes]:
                return _Counting(open_src(), progress)  # type: ignore[return-value]

            resp = self.request(
                "PATCH",
                location,
                scopes,
                {"Content-Type": "application/octet-stream", "Content-Length": str(size)},
                body,
            )
            self.check(resp, f"blob upload {digest}", (202, 204))
            with resp:
                resp.read_small()
                done = urllib.parse.urljoin(location, resp.header("Location") or location)
        sep = "&" if "?" in done else "?"
        url = done + sep + urllib.parse.urlencode({"digest": digest})
        resp = self.request("PUT", url, scopes, {"Content-Length": "0"}, b"")
        self.check(resp, f"blob upload {digest}", (201, 204))
        resp.close()

    def _start_upload(self, path: str, scopes: list[str]) -> tuple[str, int]:
        """POST a new upload session: (its location, the registry's minimum chunk size)."""
        resp = self.request("POST", f"/v2/{path}/blobs/uploads/", scopes, body=b"")
        self.check(resp, "blob upload", (202,))
        with resp:
            resp.read_small()
            location = urllib.parse.urljoin(self.base() + "/", resp.header("Location"))
            try:
                min_chunk = int(resp.header("OCI-Chunk-Min-Length") or 0)
            except ValueError:
                min_chunk = 0
        return location, min_chunk

    def _upload_chunks(
        self,
        location: str,
        digest: str,
        size: int,
        open_src: Callable[[], IO[bytes]],
        progress: Progress,
        chunk: int,
        scopes: list[str],
    ) -> str | None:
        """PATCH the blob piece by piece; the location to PUT to, or None when the registry
        refuses the first piece (no chunked uploads there: the caller falls back)."""
        for start in range(0, size, chunk):
            n = min(chunk, size - start)

            def body(start: int = start, n: int = n) -> IO[bytes]:
                return _Part(open_src(), start, n, progress)  # type: ignore[return-value]

            resp = self.request(
                "PATCH",
                location,
                scopes,
                {
                    "Content-Type": "application/octet-stream",
                    "Content-Length": str(n),
                    "Content-Range": f"{start}-{start + n - 1}",
                },
                body,
            )
            if start == 0 and resp.status in (400, 405, 411, 416, 501):
                resp.read_small()
                resp.close()
                self._abandon(location, scopes)
                return None
            self.check(resp, f"blob upload {digest}", (202,))
            with resp:
                resp.read_small()
                location = urllib.parse.urljoin(location, resp.header("Location") or location)
        return location

    def _abandon(self, location: str, scopes: list[str]) -> None:
        """Cancel an upload session (best effort: the registry expires it anyway)."""
        try:
            self.request("DELETE", location, scopes, {"Content-Length": "0"}, b"").close()
        except EngineError:
            pass

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


class _Part:
    """Bytes [start, start+length) of a file, reporting progress as an offset in the file."""

    def __init__(self, f: IO[bytes], start: int, length: int, progress: Progress) -> None:
        f.seek(start)
        self.f = f
        self.start = start
        self.left = length
        self.progress = progress

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            self.f.close()
            return b""
        data = self.f.read(self.left if n < 0 else min(n, self.left))
        if not data:
            self.f.close()
            raise SystemError_("blob upload: the source file is shorter than its size")
        self.left -= len(data)
        self.start += len(data)
        self.progress(self.start)
        return data


class _Counting:
    """A file wrapper that reports how much of it has been read (for push progress)."""

    def __init__(self, f: IO[bytes], progress: Progress) -> None:
        self.f = f
        self.progress = progress
        self.done = 0

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        if not data:
            self.f.close()
        self.done += len(data)
        self.progress(self.done)
        return data


def _net_error(method: str, url: str, netloc: str, exc: BaseException) -> str:
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
