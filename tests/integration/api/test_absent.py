"""What berth does not have answers as dockerd answers without it: every swarm route 503
with dockerd's errNoManager / errNoSwarm text, `GET /plugins` an empty list, a named plugin
404 `plugin "x" not found`, and image search, plugin install, /distribution and /session a
clean 501 that says why, never `404 page not found`. Checked at the API and through the real
docker CLI, whose messages and exit statuses scripts and teardowns depend on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from berth.api.routes import absent
from tests.conftest import Daemon, docker_for

pytestmark = pytest.mark.integration

SPEC = Path(__file__).resolve().parents[2] / "data" / "engine-api-v1.50.yaml"
SWARM_PREFIXES = ("/swarm", "/nodes", "/services", "/tasks", "/secrets", "/configs")
NOT_MANAGER = (
    'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to '
    "connect this node to swarm and try again."
)


def _swarm_operations() -> list[tuple[str, str]]:
    """Every (method, path) of the Engine API spec under the swarm prefixes."""
    paths: dict[str, Any] = yaml.safe_load(SPEC.read_text())["paths"]
    out = []
    for path, ops in paths.items():
        if path.startswith(SWARM_PREFIXES):
            for method in ops:
                if method in ("get", "post", "put", "delete", "head"):
                    out.append((method.upper(), path.replace("{id}", "x1").replace("{name}", "x1")))
    return sorted(out)


SWARM_OPS = _swarm_operations()


def _expected(method: str, path: str) -> str:
    if path == "/swarm/leave":
        return "This node is not part of a swarm"
    if path in ("/swarm/init", "/swarm/join"):
        return absent.NO_SWARM_MODE
    return NOT_MANAGER


def test_the_spec_lists_the_swarm_routes() -> None:
    assert len(SWARM_OPS) >= 30  # the table below is not empty by mistake
    assert ("POST", "/swarm/leave") in SWARM_OPS and ("GET", "/secrets") in SWARM_OPS


@pytest.mark.parametrize(("method", "path"), SWARM_OPS, ids=[f"{m} {p}" for m, p in SWARM_OPS])
def test_every_swarm_route_is_503_like_dockerd_without_swarm(
    daemon: Daemon, method: str, path: str
) -> None:
    body = b"{}" if method == "POST" else None
    hdrs = {"Content-Type": "application/json"} if body else {}
    st, _, raw = daemon.api.raw(method, "/v1.50" + path, body, hdrs)
    assert st == 503, raw
    assert json.loads(raw) == {"message": _expected(method, path)}


def test_a_swarm_route_still_reads_its_body_first(daemon: Daemon) -> None:
    st, _, raw = daemon.api.raw(
        "POST", "/swarm/init", b"{not json", {"Content-Type": "application/json"}
    )
    assert st == 400, raw


def test_cluster_volume_update_is_503_like_dockerd_without_swarm(daemon: Daemon) -> None:
    st, body = daemon.api.call("PUT", "/volumes/somevol?version=1", {"Spec": {}})
    assert (st, body) == (503, {"message": absent.NO_CLUSTER_VOLUMES})


def test_plugins(daemon: Daemon) -> None:
    assert daemon.api.call("GET", "/plugins") == (200, [])
    for method, path in [
        ("GET", "/plugins/vieux/sshfs:latest/json"),
        ("DELETE", "/plugins/vieux/sshfs:latest"),
        ("POST", "/plugins/vieux/sshfs:latest/enable"),
        ("POST", "/plugins/vieux/sshfs:latest/disable"),
        ("POST", "/plugins/vieux/sshfs:latest/push"),
        ("POST", "/plugins/vieux/sshfs:latest/set"),
    ]:
        st, body = daemon.api.call(method, path, [] if path.endswith("/set") else None)
        assert (st, body) == (404, {"message": 'plugin "vieux/sshfs:latest" not found'}), path
    for method, path in [
        ("POST", "/plugins/pull?remote=vieux/sshfs"),
        ("GET", "/plugins/privileges?remote=vieux/sshfs"),
        ("POST", "/plugins/create?name=p"),
    ]:
        st, body = daemon.api.call(method, path)
        assert st == 501, body
        assert body["message"].startswith("berth does not support plugins: ")


def test_search_distribution_and_session_say_why(daemon: Daemon) -> None:
    st, body = daemon.api.call("GET", "/images/search?term=busybox")
    assert st == 501 and "https://index.docker.io/v1/search" in body["message"], body
    st, body = daemon.api.call("GET", "/distribution/busybox:latest/json")
    assert st == 501 and "/distribution/busybox:latest/json" in body["message"], body
    st, body = daemon.api.call("POST", "/session")
    assert st == 501 and "BuildKit" in body["message"], body


@pytest.mark.parametrize(
    ("args", "status", "out"),
    [
        (["node", "ls"], 1, "Error response from daemon: " + NOT_MANAGER),
        (["service", "ls"], 1, "Error response from daemon: " + NOT_MANAGER),
        (["secret", "ls"], 1, "Error response from daemon: " + NOT_MANAGER),
        (["config", "ls"], 1, "Error response from daemon: " + NOT_MANAGER),
        (["swarm", "leave"], 1, "Error response from daemon: This node is not part of a swarm"),
        (["swarm", "leave", "--force"], 1,
         "Error response from daemon: This node is not part of a swarm"),
        (["swarm", "init"], 1, "Error response from daemon: " + absent.NO_SWARM_MODE),
        (["search", "busybox"], 1, "Error response from daemon: " + absent.NO_SEARCH),
        (["plugin", "inspect", "nosuch"], 1,
         'Error response from daemon: plugin "nosuch" not found'),
    ],
)  # fmt: skip
def test_the_docker_cli_prints_dockerds_messages(
    daemon: Daemon, args: list[str], status: int, out: str
) -> None:
    r = docker_for(daemon)(*args)
    assert r.returncode == status, (r.stdout, r.stderr)
    assert r.stderr.decode().strip() == out


def test_docker_plugin_ls_lists_nothing(daemon: Daemon) -> None:
    r = docker_for(daemon)("plugin", "ls")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().splitlines()
    assert len(lines) == 1 and lines[0].split() == ["ID", "NAME", "DESCRIPTION", "ENABLED"]
