"""Access policies (berth.api.policy): the route classification, the read-only policy
against every operation of the Engine API spec, policy files, label scoping."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from berth.api import policy
from berth.api.app import build_router
from berth.api.http.router import Route, Router
from berth.engine.errors import Forbidden, NotFound

SPEC = Path(__file__).resolve().parents[2] / "data" / "engine-api-v1.50.yaml"
METHODS = ("get", "post", "put", "delete", "head", "patch")

# What the read-only policy serves: the operations of a monitor or a log collector. Every
# other operation of the spec must be denied.
READ_OPS = frozenset(
    {
        "SystemPing",
        "SystemPingHead",
        "SystemVersion",
        "SystemInfo",
        "SystemEvents",
        "SystemDataUsage",
        "ContainerList",
        "ContainerInspect",
        "ContainerTop",
        "ContainerLogs",
        "ContainerChanges",
        "ContainerStats",
        "ContainerExport",
        "ContainerArchive",
        "ContainerArchiveInfo",
        "ContainerWait",
        "ExecInspect",
        "ImageList",
        "ImageInspect",
        "ImageHistory",
        "ImageGet",
        "ImageGetAll",
        "NetworkList",
        "NetworkInspect",
        "VolumeList",
        "VolumeInspect",
        "PluginList",
        "PluginInspect",
    }
)
ARCHIVE_OPS = frozenset({"ContainerExport", "ContainerArchive", "ContainerArchiveInfo"})


def spec_operations() -> list[tuple[str, str, str]]:
    """(METHOD, path pattern, operationId) of every operation in the spec."""
    spec = yaml.safe_load(SPEC.read_text())
    return [
        (m.upper(), path, op["operationId"])
        for path, ops in spec["paths"].items()
        for m, op in ops.items()
        if m in METHODS
    ]


def registered_routes(router: Router) -> list[Route]:
    return list(router._static.values()) + [r for _, _, r in router._dynamic]


class FakeRequest:
    """What a policy reads of berth.api.http.request.Request."""

    def __init__(
        self,
        method: str,
        path: str,
        match_info: dict[str, str] | None = None,
        query: dict[str, list[str]] | None = None,
        body: Any = None,
    ) -> None:
        self.method = method
        self.path = path
        self.match_info = match_info or {}
        self.query = query or {}
        self._body = body
        self.json_calls = 0

    def q(self, name: str, default: str | None = None) -> str | None:
        vals = self.query.get(name)
        return vals[-1] if vals else default

    def qjson(self, name: str) -> Any:
        val = self.q(name)
        return json.loads(val) if val else None

    async def json(self) -> Any:
        self.json_calls += 1
        return self._body


def _decide(p: policy.Policy, req: Any, route: Route, backend: Any = None) -> str:
    """ "allow", or the exception's class name and message."""
    try:
        asyncio.run(p.check(req, route, backend))
    except (Forbidden, NotFound) as exc:
        return f"{type(exc).__name__}: {exc.message}"
    return "allow"


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "x", path)


# ---- the classification ------------------------------------------------------------
def test_every_registered_route_is_classified() -> None:
    unclassified = [
        f"{r.method} {r.pattern}"
        for r in registered_routes(build_router())
        if not policy.groups_of(r.method, r.pattern)
    ]
    assert unclassified == [], "routes with no policy group (add them to policy.GROUPS)"


def test_every_spec_operation_is_classified() -> None:
    missing = [f"{m} {p} ({op})" for m, p, op in spec_operations() if not policy.groups_of(m, p)]
    assert missing == []


def test_the_read_group_holds_no_write_of_the_spec() -> None:
    """Every route of "read" is a spec operation the expected table calls a read."""
    by_key = {policy.route_key(m, p): op for m, p, op in spec_operations()}
    for text in policy.GROUPS["read"]:
        method, _, pattern = text.partition(" ")
        assert by_key[policy.route_key(method, pattern)] in READ_OPS, text


# ---- read-only against the whole spec ------------------------------------------------
@pytest.mark.parametrize(("method", "path", "op"), spec_operations(), ids=lambda v: str(v))
def test_read_only_decision_for_every_spec_operation(method: str, path: str, op: str) -> None:
    ro = policy.READ_ONLY
    router = build_router()
    concrete = _concrete(path)
    route, params, _ = router.match(method, concrete)
    if route is None:
        # berth does not serve it (the server answers 404 before any policy): the
        # classification still decides as the table says
        assert ro.allows(method, path) == (op in READ_OPS)
        return
    assert policy.route_key(route.method, route.pattern) == policy.route_key(method, path)
    got = _decide(ro, FakeRequest(method, concrete, params), route)
    if op in READ_OPS:
        assert got == "allow"
    else:
        assert got == (
            "Forbidden: berth: the read-only policy of this socket does not allow "
            f"{route.method} {concrete}"
        )


def test_full_allows_everything_and_read_only_does_not() -> None:
    assert policy.load("full").allows_everything()
    assert not policy.load("read-only").allows_everything()
    router = build_router()
    for r in registered_routes(router):
        assert _decide(policy.FULL, FakeRequest(r.method, _concrete(r.pattern)), r) == "allow"


@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("POST", "/containers/%2e%2e/start"),
        ("POST", "/containers/..%2fcreate/start"),
        ("POST", "//containers/create"),
        ("POST", "/containers//create"),
        ("POST", "/Containers/create"),
        ("POST", "/CONTAINERS/CREATE"),
        ("post", "/containers/create"),
        ("POST", "/containers/create/"),
        ("POST", "/containers/create?x=/containers/json"),
        ("HEAD", "/containers/create"),
        ("GET", "/containers/create"),
        ("DELETE", "/containers/json"),
        ("POST", "/containers/x/json/../start"),
        ("POST", "/images/%2e%2e/json/push"),
        ("DELETE", "/images/x/json"),
        ("POST", "/exec/x/json/start"),
        ("GET", "/containers/x/attach/ws"),
    ],
)
def test_no_spelling_reaches_a_write(method: str, target: str) -> None:
    """Whatever the spelling, the router either matches a route (and the policy decides
    on that route) or matches none (404 before the policy). The read-only policy never
    lets a mutating handler run."""
    router = build_router()
    path = target.partition("?")[0]
    route, params, _ = router.match(method, path)
    if route is None:
        return
    got = _decide(policy.READ_ONLY, FakeRequest(method, path, params), route)
    if route.method == "GET" or (route.method, route.pattern) == ("HEAD", "/_ping"):
        pytest.fail(f"{method} {target} reached a read: {route.pattern}")
    assert got.startswith("Forbidden: "), (route.method, route.pattern)


def test_denial_names_the_method_and_the_real_path() -> None:
    router = build_router()
    route, params, _ = router.match("POST", "/containers/create")
    assert route is not None
    got = _decide(policy.READ_ONLY, FakeRequest("POST", "/containers/create", params), route)
    assert got == (
        "Forbidden: berth: the read-only policy of this socket does not allow "
        "POST /containers/create"
    )


# ---- policy files --------------------------------------------------------------------
def _file(tmp_path: Path, name: str, data: Any) -> str:
    p = tmp_path / name
    p.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(p)


def test_a_json_policy_file_allows_its_groups_and_routes(tmp_path: Path) -> None:
    spec = _file(
        tmp_path,
        "p.json",
        {"allow": ["read", "containers:lifecycle", "POST /containers/{name}/rename"]},
    )
    p = policy.load(spec)
    assert p.name == spec and not p.allows_everything()
    assert p.allows("POST", "/containers/{name}/start")
    assert p.allows("POST", "/containers/{id}/rename")
    assert p.allows("GET", "/containers/{name}/logs")
    assert p.allows("GET", "/_ping")  # always
    assert not p.allows("POST", "/containers/create")
    assert not p.allows("POST", "/containers/{name}/exec")
    assert not p.allows("POST", "/containers/{name}/update")  # same group as rename
    router = build_router()
    route, params, _ = router.match("POST", "/containers/create")
    assert route is not None
    assert _decide(p, FakeRequest("POST", "/containers/create", params), route) == (
        f"Forbidden: berth: the policy {spec} of this socket does not allow POST /containers/create"
    )


def test_a_yaml_policy_file(tmp_path: Path) -> None:
    for name in ("p.yaml", "p.yml"):
        spec = _file(tmp_path, name, "allow:\n  - read\n  - exec\narchive: no\n")
        p = policy.load(spec)
        assert p.allows("POST", "/exec/{id}/start")
        assert not p.allows("GET", "/containers/{id}/archive")
        assert not p.allows("GET", "/containers/{id}/export")
        assert p.allows("GET", "/containers/{id}/logs")


def test_archive_false_turns_off_reading_container_files(tmp_path: Path) -> None:
    p = policy.load(_file(tmp_path, "p.json", {"allow": ["read"], "archive": False}))
    router = build_router()
    for method, path in (
        ("GET", "/containers/c/archive"),
        ("HEAD", "/containers/c/archive"),
        ("GET", "/containers/c/export"),
    ):
        route, params, _ = router.match(method, path)
        assert route is not None
        assert _decide(p, FakeRequest(method, path, params), route).startswith("Forbidden")
        assert _decide(policy.READ_ONLY, FakeRequest(method, path, params), route) == "allow"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("p.json", {"allow": ["read"], "deny": []}, 'unknown key "deny"'),
        (
            "p.json",
            {"allow": ["read", "containers:everything"]},
            'unknown group "containers:everything"',
        ),
        (
            "p.json",
            {"allow": ["POST /containers/{id}/explode"]},
            'unknown route "POST /containers/{id}/explode"',
        ),
        ("p.json", {"labels": {"a": "b"}}, '"allow" must be a list'),
        ("p.json", {"allow": "read"}, '"allow" must be a list'),
        ("p.json", {"allow": ["read"], "labels": {"a": 1}}, '"labels" must map'),
        ("p.json", {"allow": ["read"], "labels": {"a=b": "c"}}, '"labels" must map'),
        ("p.json", {"allow": ["read"], "archive": "no"}, '"archive" must be true or false'),
        ("p.json", ["read"], "expected an object"),
        ("p.json", "{not json", "invalid JSON in policy file"),
        ("p.yaml", "allow: [read\n", "invalid YAML in policy file"),
        ("p.yaml", "", "expected an object"),
    ],
)
def test_a_bad_policy_file_is_refused_with_what_is_wrong(
    tmp_path: Path, name: str, content: Any, message: str
) -> None:
    spec = _file(tmp_path, name, content)
    with pytest.raises(policy.PolicyError) as ei:
        policy.load(spec)
    assert message in str(ei.value) and spec in str(ei.value)


def test_unknown_names_and_missing_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(policy.PolicyError, match='unknown policy "readonly"'):
        policy.load("readonly")
    with pytest.raises(policy.PolicyError, match="cannot read policy file"):
        policy.load(str(tmp_path / "missing.json"))
    with pytest.raises(policy.PolicyError, match="unknown policy"):
        policy.load(str(tmp_path / "policy.txt"))


# ---- label scoping -------------------------------------------------------------------
class _Cfg:
    def __init__(self, labels: dict[str, str]) -> None:
        self.labels = labels


class _Ctr:
    def __init__(self, cid: str, labels: dict[str, str]) -> None:
        self.id = cid
        self.config = _Cfg(labels)


class _Exec:
    def __init__(self, container_id: str) -> None:
        self.container_id = container_id


class _Lookup:
    def __init__(self, items: dict[str, Any], what: str) -> None:
        self.items = items
        self.what = what

    def get(self, ref: str) -> Any:
        if ref not in self.items:
            raise NotFound(f"No such {self.what}: {ref}")
        return self.items[ref]


class FakeBackend:
    def __init__(self) -> None:
        self.containers = _Lookup(
            {
                "mine": _Ctr("mine", {"team": "a", "x": "1"}),
                "theirs": _Ctr("theirs", {"team": "b"}),
            },
            "container",
        )
        self.execs = _Lookup({"e1": _Exec("mine"), "e2": _Exec("theirs")}, "exec instance")


@pytest.fixture
def scoped(tmp_path: Path) -> policy.Policy:
    return policy.load(
        _file(
            tmp_path,
            "team-a.json",
            {
                "allow": [
                    "read",
                    "containers:create",
                    "containers:lifecycle",
                    "exec",
                    "networks:write",
                    "commit",
                ],
                "labels": {"team": "a"},
            },
        )
    )


def _call(p: policy.Policy, method: str, target: str, body: Any = None) -> tuple[str, FakeRequest]:
    from urllib.parse import parse_qs

    path, _, qs = target.partition("?")
    route, params, _ = build_router().match(method, path)
    assert route is not None, target
    req = FakeRequest(method, path, params, parse_qs(qs), body)
    return _decide(p, req, route, FakeBackend()), req


def test_labels_scope_container_calls(scoped: policy.Policy) -> None:
    assert _call(scoped, "POST", "/containers/mine/start")[0] == "allow"
    assert _call(scoped, "GET", "/containers/mine/logs")[0] == "allow"
    assert (
        _call(scoped, "POST", "/containers/theirs/start")[0]
        == "NotFound: No such container: theirs"
    )
    assert (
        _call(scoped, "GET", "/containers/theirs/json")[0] == "NotFound: No such container: theirs"
    )
    assert (
        _call(scoped, "GET", "/containers/nobody/json")[0] == "NotFound: No such container: nobody"
    )
    assert _call(scoped, "POST", "/containers/theirs/exec", {"Cmd": ["sh"]})[0].startswith(
        "NotFound"
    )
    # the route is checked first: a group the policy lacks is 403 even in the scope
    assert _call(scoped, "DELETE", "/containers/mine")[0].startswith("Forbidden")


def test_labels_scope_execs(scoped: policy.Policy) -> None:
    assert _call(scoped, "POST", "/exec/e1/start", {})[0] == "allow"
    assert _call(scoped, "POST", "/exec/e2/start", {})[0] == "NotFound: No such exec instance: e2"
    assert _call(scoped, "GET", "/exec/e2/json")[0] == "NotFound: No such exec instance: e2"


def test_labels_scope_create(scoped: policy.Policy) -> None:
    ok = {"Image": "busybox", "Labels": {"team": "a", "other": "y"}}
    assert _call(scoped, "POST", "/containers/create", ok)[0] == "allow"
    want = (
        f"Forbidden: berth: the policy {scoped.name} of this socket does not allow POST "
        "/containers/create without the labels team=a"
    )
    for body in (
        {"Image": "busybox"},
        {"Image": "busybox", "Labels": {"team": "b"}},
        {"Image": "busybox", "Labels": ["team=a"]},
        None,
        ["Labels"],
    ):
        assert _call(scoped, "POST", "/containers/create", body)[0] == want
    for hc in (
        {"VolumesFrom": ["theirs:ro"]},
        {"NetworkMode": "container:theirs"},
        {"PidMode": "container:theirs"},
        {"IpcMode": "container:theirs"},
        {"Links": ["/theirs:db"]},
    ):
        got = _call(scoped, "POST", "/containers/create", {**ok, "HostConfig": hc})[0]
        assert got == "NotFound: No such container: theirs", hc
    hc_ok = {"VolumesFrom": ["mine"], "NetworkMode": "container:mine"}
    assert _call(scoped, "POST", "/containers/create", {**ok, "HostConfig": hc_ok})[0] == "allow"


def test_labels_scope_listings_prune_connect_and_commit(scoped: policy.Policy) -> None:
    got, req = _call(scoped, "GET", "/containers/json?all=1")
    assert got == "allow"
    assert json.loads(req.query["filters"][0]) == {"label": ["team=a"]}
    got, req = _call(
        scoped, "GET", '/containers/json?filters={"label":{"x=1":true},"status":["running"]}'
    )
    assert json.loads(req.query["filters"][0]) == {
        "label": ["x=1", "team=a"],
        "status": ["running"],
    }
    assert _call(scoped, "POST", "/networks/n/connect", {"Container": "mine"})[0] == "allow"
    assert _call(scoped, "POST", "/networks/n/disconnect", {"Container": "theirs"})[0].startswith(
        "NotFound"
    )
    assert _call(scoped, "POST", "/commit?container=mine")[0] == "allow"
    assert _call(scoped, "POST", "/commit?container=theirs")[0].startswith("NotFound")
    # not scoped: images, networks, volumes themselves
    assert _call(scoped, "GET", "/images/json")[0] == "allow"
    assert _call(scoped, "POST", "/networks/create", {"Name": "n"})[0] == "allow"


def test_the_read_only_policy_never_reads_the_body() -> None:
    """Unscoped, a decision is on the route alone: the body stays for the handler."""
    router = build_router()
    route, params, _ = router.match("POST", "/containers/create")
    assert route is not None
    req = FakeRequest("POST", "/containers/create", params, body={"Image": "x"})
    _decide(policy.READ_ONLY, req, route)
    assert req.json_calls == 0
