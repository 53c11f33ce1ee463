"""Per-listener access policies: which API calls the clients of one socket may make.

berthd gives each listener a policy (`--policy HOST=POLICY`, daemon.json "policies"):
`full` (the default: everything), `read-only` (what a monitor or a log collector needs),
or the path of a policy file. The HTTP server checks it after the route is matched and its
version gate passed (berth.api.http.server), on the typed request: the matched route
(method + pattern), its decoded path parameters and, where the decision needs it, the
decoded JSON body. Never on the request's raw text, so no spelling of a path
(`%2e%2e`, `//`, mixed case, HEAD for GET) reaches a handler the policy did not allow:
what the router cannot match answers 404 before any policy is asked.

Fail-closed: every route berth serves is listed below in one or more named groups
(`GROUPS`); a route in none of the allowed groups is denied with 403, and a route
missing from the table is in no group at all. tests/unit/api/test_policy.py fails for a
registered route that has no group, so a new route is classified on purpose.

Policy file (JSON, or YAML for a .yaml/.yml file)::

    {
      "allow": ["read", "containers:lifecycle", "exec", "POST /containers/{id}/rename"],
      "labels": {"team": "a"},
      "archive": false
    }

- "allow" (required): group names (see `GROUPS`) or single routes as
  "METHOD /pattern" (parameter names do not matter: {id} and {name} are the same).
  `GET/HEAD /_ping` is always allowed: every client starts with it.
- "labels" (optional): every call that names a container is limited to containers
  carrying all these labels. A container outside the scope answers 404 "No such
  container: X", as if it did not exist (so the socket does not reveal it); an exec of
  such a container answers 404 "No such exec instance: X". `GET /containers/json` and
  `POST /containers/prune` get the labels added to their filters. A create must carry
  the labels in its `Labels`, and may only refer to containers in the scope
  (VolumesFrom, Links, container:X network/pid/ipc modes); a network connect or
  disconnect and a commit only to a container in the scope. Images, networks, volumes,
  events and `system df` are not scoped.
- "archive" (optional, default true): false denies reading a container's files
  (`GET/HEAD /containers/{id}/archive`, `GET /containers/{id}/export`) even when "read"
  is allowed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from berth.engine.errors import Forbidden, NotFound

if TYPE_CHECKING:
    from berth.api.backends import PolicyBackend
    from berth.api.http.request import Request
    from berth.api.http.router import Route


class PolicyError(ValueError):
    """A policy that cannot be used: berthd refuses to start with this message."""


_PARAM = re.compile(r"\{[^}]*\}")


def route_key(method: str, pattern: str) -> tuple[str, str]:
    """("POST", "/containers/{}/start") for ("POST", "/containers/{name}/start"): the
    classification does not depend on what a route calls its parameters."""
    return method.upper(), _PARAM.sub("{}", pattern)


# Reading a container's files: allowed with "read" unless a policy says "archive": false.
ARCHIVE_ROUTES = frozenset(
    {
        ("GET", "/containers/{}/archive"),
        ("HEAD", "/containers/{}/archive"),
        ("GET", "/containers/{}/export"),
    }
)

# Every route berth serves (and those of the Engine API it does not serve yet), by group.
# A route may be in several groups; it is allowed when one of them is.
GROUPS: dict[str, tuple[str, ...]] = {
    # always allowed: version negotiation
    "ping": ("GET /_ping", "HEAD /_ping"),
    # the read-only policy: local state only. Nothing here changes anything, and nothing
    # here makes the daemon reach out to a registry (search, distribution: "registry").
    "read": (
        "GET /version",
        "GET /info",
        "GET /events",
        "GET /system/df",
        "GET /containers/json",
        "GET /containers/{id}/json",
        "GET /containers/{id}/top",
        "GET /containers/{id}/logs",
        "GET /containers/{id}/changes",
        "GET /containers/{id}/stats",
        "GET /containers/{id}/export",
        "GET /containers/{id}/archive",
        "HEAD /containers/{id}/archive",
        "POST /containers/{id}/wait",  # waits for an exit; changes nothing
        "GET /exec/{id}/json",
        "GET /images/json",
        "GET /images/{name}/json",
        "GET /images/{name}/history",
        "GET /images/{name}/get",  # exports image content: a read
        "GET /images/get",
        "GET /networks",
        "GET /networks/{id}",
        "GET /volumes",
        "GET /volumes/{name}",
        "GET /plugins",
        "GET /plugins/{name}/json",
    ),
    "containers:create": ("POST /containers/create",),
    "containers:lifecycle": (
        "POST /containers/{id}/start",
        "POST /containers/{id}/stop",
        "POST /containers/{id}/restart",
        "POST /containers/{id}/kill",
        "POST /containers/{id}/pause",
        "POST /containers/{id}/unpause",
        "POST /containers/{id}/wait",
    ),
    "containers:update": ("POST /containers/{id}/update", "POST /containers/{id}/rename"),
    "containers:remove": ("DELETE /containers/{id}", "POST /containers/prune"),
    "containers:files": ("PUT /containers/{id}/archive",),
    "commit": ("POST /commit",),
    "attach": (
        "POST /containers/{id}/attach",
        "GET /containers/{id}/attach/ws",
        "POST /containers/{id}/resize",
    ),
    "exec": (
        "POST /containers/{id}/exec",
        "POST /exec/{id}/start",
        "POST /exec/{id}/resize",
        "GET /exec/{id}/json",
    ),
    "images:pull": ("POST /images/create",),
    "images:push": ("POST /images/{name}/push",),
    "images:tag": ("POST /images/{name}/tag",),
    "images:remove": ("DELETE /images/{name}", "POST /images/prune"),
    "images:load": ("POST /images/load",),
    "registry": ("GET /images/search", "GET /distribution/{name}/json"),
    "auth": ("POST /auth",),
    "build": ("POST /build", "POST /build/prune", "POST /session"),
    "networks:write": (
        "POST /networks/create",
        "DELETE /networks/{id}",
        "POST /networks/{id}/connect",
        "POST /networks/{id}/disconnect",
        "POST /networks/prune",
    ),
    "volumes:write": (
        "POST /volumes/create",
        "PUT /volumes/{name}",
        "DELETE /volumes/{name}",
        "POST /volumes/prune",
    ),
    "system:prune": (
        "POST /containers/prune",
        "POST /images/prune",
        "POST /networks/prune",
        "POST /volumes/prune",
        "POST /build/prune",
    ),
    "plugins": (
        "GET /plugins",
        "GET /plugins/privileges",
        "GET /plugins/{name}/json",
        "POST /plugins/pull",
        "POST /plugins/create",
        "DELETE /plugins/{name}",
        "POST /plugins/{name}/enable",
        "POST /plugins/{name}/disable",
        "POST /plugins/{name}/upgrade",
        "POST /plugins/{name}/push",
        "POST /plugins/{name}/set",
    ),
    "swarm:read": (
        "GET /swarm",
        "GET /nodes",
        "GET /nodes/{id}",
        "GET /services",
        "GET /services/{id}",
        "GET /services/{id}/logs",
        "GET /tasks",
        "GET /tasks/{id}",
        "GET /tasks/{id}/logs",
        "GET /secrets",
        "GET /secrets/{id}",
        "GET /configs",
        "GET /configs/{id}",
    ),
    "swarm": (
        "GET /swarm",
        "POST /swarm/init",
        "POST /swarm/join",
        "POST /swarm/leave",
        "POST /swarm/update",
        "GET /swarm/unlockkey",
        "POST /swarm/unlock",
        "GET /nodes",
        "GET /nodes/{id}",
        "DELETE /nodes/{id}",
        "POST /nodes/{id}/update",
        "GET /services",
        "POST /services/create",
        "GET /services/{id}",
        "DELETE /services/{id}",
        "POST /services/{id}/update",
        "GET /services/{id}/logs",
        "GET /tasks",
        "GET /tasks/{id}",
        "GET /tasks/{id}/logs",
        "GET /secrets",
        "POST /secrets/create",
        "GET /secrets/{id}",
        "DELETE /secrets/{id}",
        "POST /secrets/{id}/update",
        "GET /configs",
        "POST /configs/create",
        "GET /configs/{id}",
        "DELETE /configs/{id}",
        "POST /configs/{id}/update",
    ),
}
ALWAYS_ALLOWED = frozenset({"ping"})


def _parse_route(text: str) -> tuple[str, str]:
    method, _, pattern = text.partition(" ")
    return route_key(method, pattern.strip())


def _route_groups() -> dict[tuple[str, str], frozenset[str]]:
    out: dict[tuple[str, str], set[str]] = {}
    for group, routes in GROUPS.items():
        for text in routes:
            out.setdefault(_parse_route(text), set()).add(group)
    return {k: frozenset(v) for k, v in out.items()}


ROUTE_GROUPS: Mapping[tuple[str, str], frozenset[str]] = _route_groups()


def groups_of(method: str, pattern: str) -> frozenset[str]:
    """The groups a route is in (empty for a route nobody classified: always denied)."""
    return ROUTE_GROUPS.get(route_key(method, pattern), frozenset())


@dataclass(eq=False)
class Policy:
    """One listener's policy. `name` is "full", "read-only" or the policy file's path.
    Made once at start (load()) and never changed."""

    name: str
    allow: frozenset[str] = frozenset()  # group names
    routes: frozenset[tuple[str, str]] = frozenset()  # single routes, as route_key()s
    labels: Mapping[str, str] = field(default_factory=dict)
    archive: bool = True
    everything: bool = False

    def allows_everything(self) -> bool:
        """True for `full`: the server skips the check."""
        return self.everything

    @property
    def _what(self) -> str:
        if self.name in BUILTIN:
            return f"the {self.name} policy"
        return f"the policy {self.name}"

    def allows(self, method: str, pattern: str) -> bool:
        """The decision on the route alone (label scoping aside)."""
        if self.everything:
            return True
        key = route_key(method, pattern)
        if key in self.routes:
            return True
        groups = ROUTE_GROUPS.get(key, frozenset())
        if groups & ALWAYS_ALLOWED:
            return True
        if not self.archive and key in ARCHIVE_ROUTES:
            return False
        return bool(groups & self.allow)

    def deny(self, method: str, path: str, why: str = "") -> Forbidden:
        return Forbidden(f"berth: {self._what} of this socket does not allow {method} {path}{why}")

    async def check(self, req: Request, route: Route, backend: PolicyBackend) -> None:
        """Raise Forbidden (403) when this policy does not allow the call; NotFound (404)
        for a container outside the policy's label scope."""
        if self.everything:
            return
        if not self.allows(route.method, route.pattern):
            raise self.deny(route.method, req.path)
        if self.labels:
            await _Scope(self, req, route, backend).check()


class _Scope:
    """The label scope of one call: which containers it may name, what it may create."""

    def __init__(self, policy: Policy, req: Request, route: Route, backend: PolicyBackend) -> None:
        self.policy = policy
        self.req = req
        self.route = route
        self.backend = backend
        self.key = route_key(route.method, route.pattern)

    def in_scope(self, container: Any) -> bool:
        labels = getattr(container.config, "labels", None) or {}
        return all(labels.get(k) == v for k, v in self.policy.labels.items())

    def container(self, ref: str) -> None:
        """The container the handler will act on (same lookup) must be in the scope;
        a missing one answers 404 here as it would there."""
        c = self.backend.containers.get(ref)  # NotFound: "No such container: ref"
        if not self.in_scope(c):
            raise NotFound(f"No such container: {ref}")

    def _param(self) -> str:
        vals = list(self.req.match_info.values())
        return vals[0] if vals else ""

    async def _body(self) -> Any:
        return await self.req.json()

    def _labels_filter(self) -> None:
        from berth.engine.filters import normalize

        flt = normalize(self.req.qjson("filters"))
        flt.setdefault("label", []).extend(f"{k}={v}" for k, v in self.policy.labels.items())
        self.req.query["filters"] = [json.dumps(flt)]

    async def check(self) -> None:
        method, pattern = self.key
        if pattern.startswith("/containers/{}"):
            self.container(self._param())
        elif pattern.startswith("/exec/{}"):
            eid = self._param()
            ex = self.backend.execs.get(eid)  # NotFound: "No such exec instance: eid"
            c = self.backend.containers.get(ex.container_id)
            if not self.in_scope(c):
                raise NotFound(f"No such exec instance: {eid}")
        elif self.key in (("GET", "/containers/json"), ("POST", "/containers/prune")):
            self._labels_filter()
        elif self.key == ("POST", "/containers/create"):
            await self._create()
        elif self.key == ("POST", "/commit"):
            self.container(self.req.q("container") or "")
        elif self.key in (("POST", "/networks/{}/connect"), ("POST", "/networks/{}/disconnect")):
            body = await self._body()
            if not isinstance(body, dict):
                raise self.policy.deny(method, self.req.path, " without a Container")
            # the handler's own reading of the field
            self.container(str(body.get("Container") or ""))

    async def _create(self) -> None:
        body = await self._body()
        want = ",".join(f"{k}={v}" for k, v in self.policy.labels.items())
        labels = body.get("Labels") if isinstance(body, dict) else None
        if not isinstance(labels, dict) or any(
            labels.get(k) != v for k, v in self.policy.labels.items()
        ):
            raise self.policy.deny(self.route.method, self.req.path, f" without the labels {want}")
        assert isinstance(body, dict)
        hc = body.get("HostConfig")
        if not isinstance(hc, dict):
            return
        for ref in _container_refs(hc):
            self.container(ref)


def _entries(v: Any) -> list[str]:
    if isinstance(v, str):
        return [v]
    if isinstance(v, list):
        return [x for x in v if isinstance(x, str)]
    return []


def _container_refs(hc: Mapping[str, Any]) -> list[str]:
    """The other containers a create's HostConfig names."""
    refs = [e.split(":", 1)[0] for e in _entries(hc.get("VolumesFrom"))]
    refs += [e.split(":", 1)[0].lstrip("/") for e in _entries(hc.get("Links"))]
    for key in ("NetworkMode", "PidMode", "IpcMode"):
        mode = hc.get(key)
        if isinstance(mode, str) and mode.startswith("container:"):
            refs.append(mode.split(":", 1)[1])
    return [r for r in refs if r]


FULL = Policy("full", everything=True)
READ_ONLY = Policy("read-only", allow=frozenset({"read"}))
BUILTIN: Mapping[str, Policy] = {"full": FULL, "read-only": READ_ONLY}
_FILE_KEYS = ("allow", "archive", "labels")
_SUFFIXES = (".json", ".yaml", ".yml")


def load(spec: str) -> Policy:
    """`full`, `read-only`, or the policy file at path `spec` (.json, .yaml or .yml).

    Raises:
        PolicyError: an unknown name, an unreadable file, or a file that does not follow
            the schema (the message names the offending key, group or route).
    """
    if spec in BUILTIN:
        return BUILTIN[spec]
    path = Path(spec)
    if path.suffix.lower() not in _SUFFIXES:
        raise PolicyError(
            f'unknown policy "{spec}": expected "full", "read-only" or the path of a '
            "policy file (.json, .yaml or .yml)"
        )
    try:
        text = path.read_text()
    except OSError as exc:
        raise PolicyError(f"cannot read policy file {spec}: {exc.strerror}") from exc
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise PolicyError(f"invalid JSON in policy file {spec}: {exc}") from exc
    else:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise PolicyError(f"invalid YAML in policy file {spec}: {exc}") from exc
    return from_dict(spec, data)


def from_dict(name: str, data: Any) -> Policy:
    """A policy from a policy file's decoded content (see the module's docstring)."""
    where = f"policy file {name}"
    if not isinstance(data, dict):
        raise PolicyError(f'{where}: expected an object with the key "allow"')
    for key in data:
        if key not in _FILE_KEYS:
            raise PolicyError(f'{where}: unknown key "{key}" (known keys: {", ".join(_FILE_KEYS)})')
    allow = data.get("allow")
    if not isinstance(allow, list) or not all(isinstance(a, str) for a in allow):
        raise PolicyError(f'{where}: "allow" must be a list of group names or routes')
    groups: set[str] = set()
    routes: set[tuple[str, str]] = set()
    for entry in allow:
        if " " in entry.strip():
            key = _parse_route(entry.strip())
            if key not in ROUTE_GROUPS:
                raise PolicyError(f'{where}: unknown route "{entry}"')
            routes.add(key)
        elif entry in GROUPS:
            groups.add(entry)
        else:
            raise PolicyError(
                f'{where}: unknown group "{entry}" (known groups: {", ".join(GROUPS)})'
            )
    labels = data.get("labels", {})
    if not isinstance(labels, dict) or not all(
        isinstance(k, str) and k and "=" not in k and isinstance(v, str) for k, v in labels.items()
    ):
        raise PolicyError(f'{where}: "labels" must map label names (without "=") to string values')
    archive = data.get("archive", True)
    if not isinstance(archive, bool):
        raise PolicyError(f'{where}: "archive" must be true or false')
    return Policy(
        name,
        allow=frozenset(groups),
        routes=frozenset(routes),
        labels=dict(labels),
        archive=archive,
    )
