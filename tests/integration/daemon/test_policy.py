"""Per-listener access policies on a real berthd: a full socket and a read-only one (set
in daemon.json), and a plain loopback TCP listener. Every operation of the Engine API
spec is called on the read-only socket: the mutating ones answer 403 and change nothing,
the read ones are served. Bad --policy options stop berthd at start."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from berth.api.app import build_router
from tests.apiclient import Api
from tests.conftest import (
    IS_ROOT,
    REPO,
    Daemon,
    cleanup_root,
    docker_for,
    own_daemon,
)

pytestmark = [pytest.mark.integration, pytest.mark.skipif(not IS_ROOT, reason="needs root")]

SPEC = REPO / "tests" / "data" / "engine-api-v1.50.yaml"
METHODS = ("get", "post", "put", "delete", "head", "patch")
# the read operations of the spec (the same table as tests/unit/api/test_policy.py)
READ_OPS = frozenset(
    {
        "SystemPing", "SystemPingHead", "SystemVersion", "SystemInfo", "SystemEvents",
        "SystemDataUsage", "ContainerList", "ContainerInspect", "ContainerTop",
        "ContainerLogs", "ContainerChanges", "ContainerStats", "ContainerExport",
        "ContainerArchive", "ContainerArchiveInfo", "ContainerWait", "ExecInspect",
        "ImageList", "ImageInspect", "ImageHistory", "ImageGet", "ImageGetAll",
        "NetworkList", "NetworkInspect", "VolumeList", "VolumeInspect", "PluginList",
        "PluginInspect",
    }
)  # fmt: skip
# Harmless parameters: nothing here can hang or reach the network even if it were served.
QUERY = {
    "SystemEvents": "since=0&until=1",
    "ContainerStats": "stream=0",
    "ContainerLogs": "stdout=1",
    "ContainerArchive": "path=/etc/hostname",
    "ContainerArchiveInfo": "path=/etc/hostname",
    "ImageGetAll": "names=busybox",
    "ImageCreate": "fromImage=127.0.0.1:1/nothing&tag=x",
    "ImageSearch": "term=nothing",
    "ImageCommit": "container=target",
    "ContainerExec": "",
    "GetPluginPrivileges": "remote=127.0.0.1:1/nothing",
    "PluginPull": "remote=127.0.0.1:1/nothing",
}
BODY: dict[str, Any] = {
    "SystemAuth": {"serveraddress": "127.0.0.1:1", "username": "u", "password": "p"},
    "ContainerCreate": {"Image": "busybox", "Cmd": ["true"]},
    "ContainerExec": {"Cmd": ["true"]},
    "NetworkConnect": {"Container": "target"},
    "NetworkDisconnect": {"Container": "target"},
    "NetworkCreate": {"Name": "policy-net"},
    "VolumeCreate": {"Name": "policy-vol"},
}


def spec_operations() -> list[tuple[str, str, str]]:
    spec = yaml.safe_load(SPEC.read_text())
    return [
        (m.upper(), path, op["operationId"])
        for path, ops in spec["paths"].items()
        for m, op in ops.items()
        if m in METHODS
    ]


def _target(path: str, op: str) -> str:
    """The spec path with real objects where a read can use them (the target container,
    the busybox image, the default bridge, the volume) and a dummy elsewhere."""
    if op == "ContainerWait":  # a created container's wait could block: a dummy
        return path.replace("{id}", "policy-dummy")
    if path.startswith("/containers/"):
        path = path.replace("{id}", "target")
    elif path.startswith("/images/"):
        path = path.replace("{name}", "busybox")
    elif path.startswith("/networks/"):
        path = path.replace("{id}", "bridge")
    elif path.startswith("/volumes/"):
        path = path.replace("{name}", "vol1")
    return re.sub(r"\{[^}]*\}", "policy-dummy", path)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Policed:
    def __init__(self, d: Daemon, ro: str, tcp: str) -> None:
        self.d = d
        self.full = d.api
        self.ro = Api(ro)
        self.ro_host = "unix://" + ro
        self.tcp = tcp


@contextlib.contextmanager
def berthd(
    busybox_tar: Path, extra: list[str], daemon_json: dict[str, Any] | None = None
) -> Iterator[Daemon]:
    """A berthd of its own (as tests.conftest's fixtures make one), with a daemon.json."""
    with own_daemon(busybox_tar, extra, daemon_json=daemon_json or {}) as d:
        yield d


@pytest.fixture(scope="module")
def policed(busybox_tar: Path) -> Iterator[Policed]:
    holder = Path(tempfile.mkdtemp(prefix="bt-pol-", dir="/tmp"))
    ro = str(holder / "ro.sock")
    tcp = f"tcp://127.0.0.1:{_free_port()}"
    # the read-only policy from daemon.json (the --policy flag is tested below)
    try:
        with berthd(
            busybox_tar,
            ["-H", "unix://" + ro, "-H", tcp],
            {"policies": {"unix://" + ro: "read-only"}},
        ) as d:
            st, body = d.api.call(
                "POST", "/containers/create?name=target", {"Image": "busybox", "Cmd": ["true"]}
            )
            assert st == 201, body
            st, body = d.api.call("POST", "/volumes/create", {"Name": "vol1"})
            assert st == 201, body
            yield Policed(d, ro, tcp)
            d.api.call("DELETE", "/containers/target?force=1")
            d.api.call("DELETE", "/volumes/vol1")
    finally:
        cleanup_root(holder)


def _snapshot(api: Api) -> dict[str, Any]:
    """What a write could change: containers (names, states), images (tags), networks,
    volumes, and the target container's networks and config."""
    out: dict[str, Any] = {}
    st, items = api.call("GET", "/containers/json?all=1")
    assert st == 200, items
    out["containers"] = sorted((c["Id"], tuple(c["Names"]), c["State"]) for c in items)
    st, items = api.call("GET", "/images/json?all=1")
    assert st == 200, items
    out["images"] = sorted((i["Id"], tuple(sorted(i["RepoTags"] or []))) for i in items)
    st, items = api.call("GET", "/networks")
    assert st == 200, items
    out["networks"] = sorted((n["Id"], n["Name"]) for n in items)
    st, vols = api.call("GET", "/volumes")
    assert st == 200
    out["volumes"] = sorted(v["Name"] for v in vols["Volumes"] or [])
    st, target = api.call("GET", "/containers/target/json")
    assert st == 200, target
    out["target"] = (
        target["Name"],
        target["State"]["Status"],
        sorted(target["NetworkSettings"]["Networks"]),
        target["HostConfig"].get("Memory"),
        target["Config"]["Labels"],
    )
    return out


def test_every_spec_operation_on_the_read_only_socket(policed: Policed) -> None:
    router = build_router()
    before = _snapshot(policed.full)
    wrong: list[str] = []
    for method, path, op in spec_operations():
        target = _target(path, op)
        query = QUERY.get(op, "")
        url = "/v1.50" + target + ("?" + query if query else "")
        body = BODY.get(op, {}) if method in ("POST", "PUT") else None
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        status, _, raw = policed.ro.raw(method, url, data, headers)
        served = router.match(method, target)[0] is not None
        if op in READ_OPS:
            if status == 403 or status >= 500:
                wrong.append(f"{op} {method} {url}: read answered {status} {raw[:200]!r}")
        elif served:
            want = f"berth: the read-only policy of this socket does not allow {method} {target}"
            msg = json.loads(raw or b"{}").get("message") if status == 403 else None
            if status != 403 or msg != want:
                wrong.append(f"{op} {method} {url}: {status} {raw[:200]!r}, want 403 {want}")
        elif status not in (403, 404, 405):
            # berth does not serve it: the server answers before any policy (404)
            wrong.append(f"{op} {method} {url}: unserved write answered {status}")
    assert wrong == []
    assert _snapshot(policed.full) == before, "a call on the read-only socket changed state"


@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("POST", "/v1.50/containers/%2e%2e/start"),
        ("POST", "/v1.50/containers/target/start"),
        ("POST", "/v1.50//containers/create"),
        ("POST", "//containers/create"),
        ("POST", "/v1.50/CONTAINERS/create"),
        ("POST", "/v1.50/containers/create/"),
        ("POST", "/v1.50/containers/create?name=/containers/json"),
        ("POST", "/v1.50/v1.50/containers/create"),
        ("DELETE", "/v1.50/containers/target?force=1"),
        ("DELETE", "/containers/%74arget"),
        ("POST", "/v1.50/containers/target/kill"),
        ("HEAD", "/v1.50/containers/create"),
        ("PUT", "/v1.50/containers/target/archive?path=/"),
    ],
)
def test_no_spelling_gets_around_the_policy(policed: Policed, method: str, target: str) -> None:
    before = _snapshot(policed.full)
    status, _, raw = policed.ro.raw(method, target, b"{}", {"Content-Type": "application/json"})
    assert status in (403, 404, 405), (status, raw)
    assert _snapshot(policed.full) == before


def test_the_full_socket_is_not_limited(policed: Policed) -> None:
    st, body = policed.full.call("POST", "/containers/create?name=pol-full", {"Image": "busybox"})
    assert st == 201, body
    st, _ = policed.full.call("DELETE", "/containers/pol-full")
    assert st == 204


def test_info_lists_the_listeners_and_warns_of_plain_tcp(policed: Policed) -> None:
    st, info = policed.ro.call("GET", "/info")
    assert st == 200
    assert info["BerthListeners"] == [
        {"Host": policed.d.host, "TLS": False, "Policy": "full"},
        {"Host": policed.ro_host, "TLS": False, "Policy": "read-only"},
        {"Host": policed.tcp, "TLS": False, "Policy": "full"},
    ]
    addr = policed.tcp.removeprefix("tcp://")
    # the plain TCP listener's warning, first, beside whatever else is true of this host
    # (dockerd's "IPv4 forwarding is disabled", no swap limit, ...)
    assert info["Warnings"][0] == (
        f"WARNING: API is accessible on http://{addr} without encryption.\n"
        "         Access to the remote API is equivalent to root access on the host. Refer\n"
        "         to the 'Docker daemon attack surface' section in the documentation for\n"
        "         more information: https://docs.docker.com/go/attack-surface/"
    )
    assert sum("without encryption" in w for w in info["Warnings"]) == 1
    p = docker_for(policed.d)("info")
    assert p.returncode == 0, p.stderr.decode()
    assert (
        f"WARNING: API is accessible on http://{addr} without encryption."
        in (p.stdout + p.stderr).decode()
    )


def test_the_log_names_each_listeners_policy(policed: Policed) -> None:
    log = policed.d.log.read_text()
    assert f"API policy of {policed.ro_host}: read-only" in log
    assert f"API policy of {policed.d.host}: full" in log


# ---- refused at start ----------------------------------------------------------------
@pytest.fixture
def scratch() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="bt-", dir="/tmp"))
    yield root
    cleanup_root(root)


def _berthd(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    d = Daemon(root, list(args))
    (root / "daemon.json").write_text("{}\n")
    return subprocess.run(d.argv(), capture_output=True, text=True, timeout=60, cwd=REPO)


def test_a_policy_for_a_host_not_listened_on_refuses_to_start(scratch: Path) -> None:
    other = f"unix://{scratch}/other.sock"
    p = _berthd(scratch, "--policy", f"{other}=read-only")
    assert p.returncode == 1
    assert f"berthd: policy for {other}, which berthd does not listen on" in p.stderr
    assert not (scratch / "berth.sock").exists()


@pytest.mark.parametrize(
    ("spec", "content", "message"),
    [
        ("readonly", None, 'unknown policy "readonly"'),
        ("{root}/missing.json", None, "cannot read policy file {root}/missing.json"),
        ("{root}/p.json", '{"allow": ["read"], "labelz": {}}', 'unknown key "labelz"'),
        (
            "{root}/p.yaml",
            "allow: [read, containers:destroy]\n",
            'unknown group "containers:destroy"',
        ),
    ],
)
def test_a_bad_policy_refuses_to_start(
    scratch: Path, spec: str, content: str | None, message: str
) -> None:
    spec = spec.format(root=scratch)
    if content is not None:
        Path(spec).write_text(content)
    host = f"unix://{scratch}/berth.sock"
    p = _berthd(scratch, "--policy", f"{host}={spec}")
    assert p.returncode == 1, p.stderr
    assert p.stderr.startswith(f"berthd: invalid policy for {host}: ")
    assert message.format(root=scratch) in p.stderr
    assert not (scratch / "berth.sock").exists()


def test_a_policy_file_with_labels_on_a_real_daemon(busybox_tar: Path, scratch: Path) -> None:
    """A socket for team a: it may create and start containers labelled team=a, sees
    only those, and cannot touch the others."""
    pfile = scratch / "team-a.yaml"
    pfile.write_text(
        "allow: [read, containers:create, containers:lifecycle, containers:remove]\n"
        "labels: {team: a}\n"
    )
    sock = str(scratch / "a.sock")
    host = "unix://" + sock
    with berthd(busybox_tar, ["-H", host, "--policy", f"{host}={pfile}"]) as d:
        a = Api(sock)
        st, body = d.api.call("POST", "/containers/create?name=other", {"Image": "busybox"})
        assert st == 201, body
        st, body = a.call("POST", "/containers/create?name=mine", {"Image": "busybox"})
        assert st == 403 and body["message"] == (
            f"berth: the policy {pfile} of this socket does not allow POST "
            "/containers/create without the labels team=a"
        )
        st, body = a.call(
            "POST",
            "/containers/create?name=mine",
            {"Image": "busybox", "Cmd": ["true"], "Labels": {"team": "a"}},
        )
        assert st == 201, body
        st, items = a.call("GET", "/containers/json?all=1")
        assert st == 200 and [c["Names"] for c in items] == [["/mine"]]
        st, body = a.call("GET", "/containers/other/json")
        assert st == 404 and body["message"] == "No such container: other"
        st, body = a.call("DELETE", "/containers/other?force=1")
        assert st == 404
        st, _ = a.call("POST", "/containers/mine/start")
        assert st == 204
        st, body = a.call("POST", "/containers/mine/exec", {"Cmd": ["true"]})
        assert st == 403, body
        st, _ = a.call("DELETE", "/containers/mine?force=1")
        assert st == 204
        st, _ = d.api.call("GET", "/containers/other/json")
        assert st == 200


def test_the_policy_flag_on_the_command_line(busybox_tar: Path, scratch: Path) -> None:
    sock = str(scratch / "ro.sock")
    host = "unix://" + sock
    with berthd(busybox_tar, ["-H", host, "--policy", f"{host}=read-only"]) as d:
        st, body = Api(sock).call("POST", "/containers/create", {"Image": "busybox"})
        assert st == 403 and body["message"] == (
            "berth: the read-only policy of this socket does not allow POST /containers/create"
        )
        st, _ = Api(sock).call("GET", "/containers/json")
        assert st == 200
        st, _ = d.api.call("POST", "/containers/create?name=rw", {"Image": "busybox"})
        assert st == 201
