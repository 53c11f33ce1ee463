"""The Engine API as Python methods: one method per call the CLI makes."""

from __future__ import annotations

from berth.client import jsonload
from berth.client.hosts import Host, parse_host
from berth.client.transport import Response, SocketReader, Transport, quote_name
from berth.constants import API_VERSION

TYPE_CHECKING = False  # (typing is not imported at run time: see transport.py)
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from berth.client.contexts import TLSSettings
    from berth.client.transport import Body, Conn

    JSON = Any


def _filters(filters: Mapping[str, list[str]] | None) -> str | None:
    """Docker's filters query value: {"name": {"value": true}} (the map form every daemon reads)."""
    if not filters:
        return None
    return jsonload.dumps({k: {v: True for v in vals} for k, vals in filters.items()})


class Client:
    """A synchronous Engine API client for one daemon."""

    def __init__(
        self,
        host: str | Host,
        api_version: str | None = API_VERSION,
        timeout: float | None = None,
        tls: TLSSettings | None = None,
    ) -> None:
        """api_version: pinned ("1.41"), "auto" (negotiated from /_ping, as the docker
        CLI does) or None (no /vN prefix). tls: TLS settings for a tcp host."""
        self.host = parse_host(host) if isinstance(host, str) else host
        self.transport = Transport(self.host, api_version, timeout, tls)

    # ---- plumbing -------------------------------------------------------
    def _json(self, method: str, path: str, query: Any = None, body: Any = None) -> JSON:
        with self.transport.request(method, path, query, json_body=body) as resp:
            return resp.json()

    def _call(self, method: str, path: str, query: Any = None, body: Body = None) -> None:
        with self.transport.request(method, path, query, body=body) as resp:
            resp.read()

    @staticmethod
    def _c(cid: str) -> str:
        return "/containers/" + quote_name(cid)

    @staticmethod
    def _i(name: str) -> str:
        return "/images/" + quote_name(name)

    # ---- system ---------------------------------------------------------
    def ping(self) -> str:
        """GET /_ping."""
        with self.transport.request("GET", "/_ping") as resp:
            return resp.read().decode()

    def version(self) -> JSON:
        """GET /version."""
        return self._json("GET", "/version")

    def info(self) -> JSON:
        """GET /info."""
        return self._json("GET", "/info")

    # ---- containers -----------------------------------------------------
    def containers(
        self,
        all: bool = False,
        limit: int | None = None,
        size: bool = False,
        filters: Mapping[str, list[str]] | None = None,
    ) -> list[JSON]:
        """GET /containers/json."""
        q = {
            "all": all or None,
            "limit": limit if limit and limit > 0 else None,
            "size": size or None,
            "filters": _filters(filters),
        }
        return self._json("GET", "/containers/json", q)  # type: ignore[no-any-return]

    def create_container(
        self, config: JSON, name: str | None = None, platform: str | None = None
    ) -> JSON:
        """POST /containers/create; returns {"Id":..., "Warnings": [...]}."""
        query = {"name": name or None, "platform": platform or None}
        return self._json("POST", "/containers/create", query, config)

    def inspect_container(self, cid: str) -> JSON:
        """GET /containers/{id}/json."""
        return self._json("GET", self._c(cid) + "/json")

    def start(self, cid: str) -> None:
        """POST /containers/{id}/start."""
        self._call("POST", self._c(cid) + "/start")

    def stop(self, cid: str, timeout: int | None = None, signal: str | None = None) -> None:
        """POST /containers/{id}/stop."""
        self._call("POST", self._c(cid) + "/stop", {"t": timeout, "signal": signal or None})

    def kill(self, cid: str, signal: str | None = None) -> None:
        """POST /containers/{id}/kill."""
        self._call("POST", self._c(cid) + "/kill", {"signal": signal or None})

    def remove_container(self, cid: str, force: bool = False, volumes: bool = False) -> None:
        """DELETE /containers/{id}."""
        self._call("DELETE", self._c(cid), {"force": force or None, "v": volumes or None})

    def rename(self, cid: str, name: str) -> None:
        """POST /containers/{id}/rename."""
        self._call("POST", self._c(cid) + "/rename", {"name": name})

    def resize(self, cid: str, height: int, width: int) -> None:
        """POST /containers/{id}/resize."""
        self._call("POST", self._c(cid) + "/resize", {"h": height, "w": width})

    def wait_request(self, cid: str, condition: str | None = None) -> Response:
        """POST /containers/{id}/wait, returned once its headers are in (docker's
        "wait registered" point); read the body later for {"StatusCode": N, "Error": ...}."""
        return self.transport.request(
            "POST", self._c(cid) + "/wait", {"condition": condition}, body=b""
        )

    def wait(self, cid: str, condition: str | None = None) -> JSON:
        """POST /containers/{id}/wait, blocking until the condition is met."""
        with self.wait_request(cid, condition) as resp:
            return resp.json()

    def attach(
        self,
        cid: str,
        stdin: bool = False,
        stdout: bool = True,
        stderr: bool = True,
        logs: bool = False,
        detach_keys: str | None = None,
    ) -> tuple[Conn, SocketReader]:
        """POST /containers/{id}/attach, upgraded to a raw two-way stream."""
        q = {
            "stream": True,
            "stdin": stdin or None,
            "stdout": stdout or None,
            "stderr": stderr or None,
            "logs": logs or None,
            "detachKeys": detach_keys,
        }
        return self.transport.hijack("POST", self._c(cid) + "/attach", q)

    def logs(self, cid: str, **query: Any) -> Response:
        """GET /containers/{id}/logs as a stream (follow, stdout, stderr, since, until,
        timestamps, tail)."""
        return self.transport.request("GET", self._c(cid) + "/logs", query)

    # ---- images ---------------------------------------------------------
    def images(
        self,
        all: bool = False,
        filters: Mapping[str, list[str]] | None = None,
        digests: bool = False,
    ) -> list[JSON]:
        """GET /images/json."""
        q = {"all": all or None, "filters": _filters(filters), "digests": digests or None}
        return self._json("GET", "/images/json", q)  # type: ignore[no-any-return]

    def inspect_image(self, name: str) -> JSON:
        """GET /images/{name}/json."""
        return self._json("GET", self._i(name) + "/json")

    def tag(self, name: str, repo: str, tag: str | None = None) -> None:
        """POST /images/{name}/tag."""
        self._call("POST", self._i(name) + "/tag", {"repo": repo, "tag": tag or None})

    def remove_image(self, name: str, force: bool = False, noprune: bool = False) -> list[JSON]:
        """DELETE /images/{name}; returns the Untagged/Deleted list."""
        q = {"force": force or None, "noprune": noprune or None}
        return self._json("DELETE", self._i(name), q) or []  # type: ignore[no-any-return]

    def load(self, data: Body, quiet: bool = False) -> Response:
        """POST /images/load with a tar body; returns the JSON-lines progress stream."""
        return self.transport.request(
            "POST",
            "/images/load",
            {"quiet": quiet or None},
            body=data,
            headers={"Content-Type": "application/x-tar"},
        )

    def save(self, names: list[str]) -> Response:
        """GET /images/get?names=...; the body is the tar."""
        q = "&".join("names=" + quote_name(n).replace("/", "%2F") for n in names)
        return self.transport.request("GET", "/images/get?" + q)

    def import_image(
        self,
        data: Body,
        repo: str | None = None,
        tag: str | None = None,
        changes: list[str] | None = None,
        message: str | None = None,
        platform: str | None = None,
    ) -> Response:
        """POST /images/create?fromSrc=- with a tar body; returns the progress stream."""
        q: list[tuple[str, str]] = [("fromSrc", "-")]
        if repo:
            q.append(("repo", repo))
        if tag:
            q.append(("tag", tag))
        if message:
            q.append(("message", message))
        if platform:
            q.append(("platform", platform))
        for change in changes or []:
            q.append(("changes", change))
        from urllib.parse import urlencode

        return self.transport.request(
            "POST",
            "/images/create?" + urlencode(q),
            body=data,
            headers={"Content-Type": "application/x-tar"},
        )

    def pull(
        self,
        image: str,
        tag: str | None = None,
        platform: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        """POST /images/create?fromImage=...; returns the progress stream. `headers`
        carries X-Registry-Auth when credentials are stored for the registry."""
        q = {"fromImage": image, "tag": tag, "platform": platform}
        return self.transport.request("POST", "/images/create", q, body=b"", headers=headers)

    def build(
        self,
        context: Body,
        query: Mapping[str, Any],
        registry_config: Mapping[str, Any] | None = None,
    ) -> Response:
        """POST /build (the classic builder) with the context tar as the body; returns
        the JSON-lines stream. `query` holds the API's names (t, dockerfile, buildargs,
        ...): a list value is repeated (t, extrahosts), a dict or a list under a JSON
        name (buildargs, labels, ulimits, cachefrom) is sent as JSON, None is left out.
        `registry_config` ({registry: authconfig}) travels as X-Registry-Config."""
        from urllib.parse import urlencode

        q: list[tuple[str, str]] = []
        for key, val in query.items():
            if val is None:
                continue
            if key in _BUILD_JSON:
                q.append((key, jsonload.dumps(val)))
            elif isinstance(val, list):
                q += [(key, str(v)) for v in val]
            elif isinstance(val, bool):
                q.append((key, "1" if val else "0"))
            else:
                q.append((key, str(val)))
        headers = {"Content-Type": "application/x-tar"}
        if registry_config:
            import base64

            raw = jsonload.dumps(registry_config).encode()
            headers["X-Registry-Config"] = base64.urlsafe_b64encode(raw).decode()
        return self.transport.request(
            "POST", "/build?" + urlencode(q), body=context, headers=headers
        )


# POST /build's query values that are JSON documents (the rest are plain or repeated)
_BUILD_JSON = frozenset({"buildargs", "labels", "ulimits", "cachefrom"})
