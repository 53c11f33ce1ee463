"""A body with a field of the wrong JSON type answers 400 in dockerd's words (Go's
encoding/json, prefixed "invalid JSON: "), for every route that takes a body; nothing is
stored, no name is reserved, every object made before still inspects, and the daemon keeps
serving. The issue's cases once split "A=1" into characters, stored containers that broke
`docker inspect`, or answered 500 with a Python TypeError."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Daemon, docker_for

pytestmark = pytest.mark.integration

P = "invalid JSON: json: cannot unmarshal "
TARGET = "badbody-target"  # a created (never started) container the bodies aim at
NAME = "badbody-new"  # the name a refused create asks for

CR = "/containers/create?name=" + NAME

# (method, path, body, status, message)
CASES: list[tuple[str, str, Any, int, str]] = [
    # --- POST /containers/create: the cases
    ("POST", CR, {"Env": "A=1"}, 400, P + "string into Go struct field CreateRequest.Env of type []string"),
    ("POST", CR, {"Env": [1, 2]}, 400, P + "number into Go struct field CreateRequest.Env of type string"),
    ("POST", CR, {"HostConfig": "x"}, 400,
     P + "string into Go struct field CreateRequest.HostConfig of type container.HostConfig"),
    ("POST", CR, {"StopTimeout": "x"}, 400, P + "string into Go struct field CreateRequest.StopTimeout of type int"),
    ("POST", CR, {"HostConfig": {"Memory": 1e30}}, 400,
     P + "number 1e30 into Go struct field HostConfig.HostConfig.Memory of type int64"),
    ("POST", CR, {"HostConfig": {"Memory": "lots"}}, 400,
     P + "string into Go struct field HostConfig.HostConfig.Memory of type int64"),
    ("POST", CR, {"Cmd": 5}, 400, P + "number into Go struct field CreateRequest.Cmd of type string"),
    ("POST", CR, {"HostConfig": {"PortBindings": {"80/tcp": [{"HostPort": 8080}]}}}, 400,
     P + "number into Go struct field PortBinding.HostConfig.PortBindings.HostPort of type string"),
    ("POST", CR, {"HostConfig": {"PortBindings": {"80/tcp": "8080"}}}, 400,
     P + "string into Go struct field HostConfig.HostConfig.PortBindings of type []nat.PortBinding"),
    ("POST", CR, {"HostConfig": {"PortBindings": "80:80"}}, 400,
     P + "string into Go struct field HostConfig.HostConfig.PortBindings of type nat.PortMap"),
    # --- more of create's fields
    ("POST", CR, {"HostConfig": {"Memory": 1.5}}, 400,
     P + "number 1.5 into Go struct field HostConfig.HostConfig.Memory of type int64"),
    ("POST", CR, {"HostConfig": {"Privileged": "false"}}, 400,
     P + "string into Go struct field HostConfig.HostConfig.Privileged of type bool"),
    ("POST", CR, {"Labels": {"a": 1}}, 400, P + "number into Go struct field CreateRequest.Labels of type string"),
    ("POST", CR, {"ExposedPorts": ["80/tcp"]}, 400,
     P + "array into Go struct field CreateRequest.ExposedPorts of type nat.PortSet"),
    ("POST", CR, {"Volumes": {"/data": 1}}, 400,
     P + "number into Go struct field CreateRequest.Volumes of type struct {}"),
    ("POST", CR, {"Healthcheck": {"Test": "true"}}, 400,
     P + "string into Go struct field HealthcheckConfig.Healthcheck.Test of type []string"),
    ("POST", CR, {"HostConfig": {"Mounts": [{"Type": "volume", "ReadOnly": "yes"}]}}, 400,
     P + "string into Go struct field Mount.HostConfig.Mounts.ReadOnly of type bool"),
    ("POST", CR, {"HostConfig": {"Ulimits": [{"Name": "nofile", "Hard": 1.5}]}}, 400,
     P + "number 1.5 into Go struct field Ulimit.HostConfig.Ulimits.Hard of type int64"),
    ("POST", CR, {"HostConfig": {"Devices": ["/dev/null"]}}, 400,
     P + "string into Go struct field HostConfig.HostConfig.Devices of type container.DeviceMapping"),
    ("POST", CR, {"HostConfig": {"LogConfig": {"Config": {"max-size": 10}}}}, 400,
     P + "number into Go struct field LogConfig.HostConfig.LogConfig.Config of type string"),
    ("POST", CR, {"HostConfig": {"RestartPolicy": "always"}}, 400,
     P + "string into Go struct field HostConfig.HostConfig.RestartPolicy of type container.RestartPolicy"),
    ("POST", CR, {"HostConfig": {"BlkioWeight": 70000}}, 400,
     P + "number 70000 into Go struct field HostConfig.HostConfig.BlkioWeight of type uint16"),
    ("POST", CR, {"NetworkingConfig": {"EndpointsConfig": {"bridge": {"IPAMConfig": {"IPv4Address": 1}}}}}, 400,
     P + "number into Go struct field EndpointIPAMConfig.NetworkingConfig.EndpointsConfig.IPAMConfig"
         ".IPv4Address of type string"),
    ("POST", CR, [1], 400, P + "array into Go value of type container.CreateRequest"),
    # --- POST /containers/{id}/update
    ("POST", f"/containers/{TARGET}/update", {"Memory": "1g"}, 400,
     P + "string into Go struct field UpdateConfig.Memory of type int64"),
    ("POST", f"/containers/{TARGET}/update", {"PidsLimit": 1.5}, 400,
     P + "number 1.5 into Go struct field UpdateConfig.PidsLimit of type int64"),
    ("POST", f"/containers/{TARGET}/update", {"RestartPolicy": {"Name": ["always"]}}, 400,
     P + "array into Go struct field RestartPolicy.RestartPolicy.Name of type container.RestartPolicyMode"),
    # --- exec create / start (the body is decoded before the container is looked up)
    ("POST", f"/containers/{TARGET}/exec", {"Cmd": "ls"}, 400,
     P + "string into Go struct field ExecOptions.Cmd of type []string"),
    ("POST", f"/containers/{TARGET}/exec", {"Cmd": ["ls"], "Env": "A=1"}, 400,
     P + "string into Go struct field ExecOptions.Env of type []string"),
    ("POST", f"/containers/{TARGET}/exec", {"Cmd": ["ls"], "Privileged": "false"}, 400,
     P + "string into Go struct field ExecOptions.Privileged of type bool"),
    ("POST", "/exec/nosuchexec/start", {"Detach": "yes"}, 400,
     P + "string into Go struct field ExecStartOptions.Detach of type bool"),
    # --- networks
    ("POST", "/networks/create", {"Name": "badbody-net", "Internal": "yes"}, 400,
     P + "string into Go struct field CreateRequest.Internal of type bool"),
    ("POST", "/networks/create", {"Name": 5}, 400, P + "number into Go struct field CreateRequest.Name of type string"),
    ("POST", "/networks/create", {"Name": "badbody-net", "IPAM": {"Config": [{"Subnet": 10}]}}, 400,
     P + "number into Go struct field IPAMConfig.IPAM.Config.Subnet of type string"),
    ("POST", "/networks/create", {"Name": "badbody-net", "Labels": ["a"]}, 400,
     P + "array into Go struct field CreateRequest.Labels of type map[string]string"),
    ("POST", "/networks/create", "badbody-net", 400, P + "string into Go value of type network.CreateRequest"),
    ("POST", "/networks/bridge/connect", {"Container": 5}, 400,
     P + "number into Go struct field ConnectOptions.Container of type string"),
    ("POST", "/networks/bridge/connect", {"Container": TARGET, "EndpointConfig": {"Aliases": "a"}}, 400,
     P + "string into Go struct field EndpointSettings.EndpointConfig.Aliases of type []string"),
    ("POST", "/networks/bridge/disconnect", {"Container": TARGET, "Force": "yes"}, 400,
     P + "string into Go struct field DisconnectOptions.Force of type bool"),
    # --- volumes
    ("POST", "/volumes/create", {"Name": 5}, 400, P + "number into Go struct field CreateOptions.Name of type string"),
    ("POST", "/volumes/create", {"Name": "badbody-vol", "Labels": {"a": True}}, 400,
     P + "bool into Go struct field CreateOptions.Labels of type string"),
    ("POST", "/volumes/create", {"Name": "badbody-vol", "DriverOpts": ["o"]}, 400,
     P + "array into Go struct field CreateOptions.DriverOpts of type map[string]string"),
    # --- commit (its body is a create request) and auth
    ("POST", f"/commit?container={TARGET}&repo=badbody-img", {"Env": "A=1"}, 400,
     P + "string into Go struct field CreateRequest.Env of type []string"),
    ("POST", "/auth", {"username": 5}, 400, P + "number into Go struct field AuthConfig.username of type string"),
]  # fmt: skip


def _state(d: Daemon) -> dict[str, Any]:
    """What a refused request must leave as it was."""
    _, cs = d.api.call("GET", "/containers/json?all=1")
    _, nets = d.api.call("GET", "/networks")
    _, vols = d.api.call("GET", "/volumes")
    _, imgs = d.api.call("GET", "/images/json")
    _, target = d.api.call("GET", f"/containers/{TARGET}/json")
    return {
        "containers": sorted(n for c in cs for n in c["Names"]),
        "networks": sorted(n["Name"] for n in nets),
        "volumes": sorted(v["Name"] for v in vols["Volumes"] or []),
        "images": sorted(i["Id"] for i in imgs),
        "target": {k: target[k] for k in ("Config", "HostConfig", "NetworkSettings")},
    }


@pytest.fixture(scope="module")
def target(daemon: Daemon) -> Iterator[str]:
    st, body = daemon.api.call(
        "POST",
        f"/containers/create?name={TARGET}",
        {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"Memory": 64 << 20}},
    )
    assert st == 201, body
    try:
        yield body["Id"]
    finally:
        daemon.api.call("DELETE", f"/containers/{TARGET}?force=1")


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    CASES,
    ids=[f"{c[0]} {c[1].split('?')[0]} {json.dumps(c[2])[:40]}" for c in CASES],
)
def test_a_badly_typed_body_is_refused_and_stores_nothing(
    daemon: Daemon, target: str, method: str, path: str, body: Any, status: int, message: str
) -> None:
    before = _state(daemon)
    data = json.dumps(body).encode()
    st, _, raw = daemon.api.raw(method, path, data, {"Content-Type": "application/json"})
    assert st == status, raw
    assert json.loads(raw) == {"message": message}
    assert _state(daemon) == before
    assert daemon.api.raw("GET", "/_ping")[0] == 200


def test_a_refused_create_reserves_no_name(daemon: Daemon, target: str) -> None:
    st, _ = daemon.api.call("POST", CR, {"Image": "busybox", "Env": "A=1"})
    assert st == 400
    st, body = daemon.api.call("POST", CR, {"Image": "busybox", "Cmd": ["true"], "Env": ["A=1"]})
    try:
        assert st == 201, body
        _, got = daemon.api.call("GET", f"/containers/{NAME}/json")
        assert got["Config"]["Env"][-1] == "A=1"  # a list, not the characters of a string
    finally:
        daemon.api.call("DELETE", f"/containers/{NAME}?force=1")


def test_keys_match_case_insensitively_like_dockerd(daemon: Daemon) -> None:
    """Go's decoder matches keys case-insensitively: dockerd takes {"image": "busybox"}."""
    st, body = daemon.api.call(
        "POST",
        "/containers/create?name=badbody-lower",
        {"image": "busybox", "cmd": ["true"], "hostconfig": {"memory": 64 << 20}},
    )
    try:
        assert st == 201, body
        _, got = daemon.api.call("GET", "/containers/badbody-lower/json")
        assert got["Config"]["Image"] == "busybox" and got["Config"]["Cmd"] == ["true"]
        assert got["HostConfig"]["Memory"] == 64 << 20
    finally:
        daemon.api.call("DELETE", "/containers/badbody-lower?force=1")
    # a lower-case NetworkingConfig is read too: dockerd's rule for aliases on the default
    # bridge applies to it
    st, body = daemon.api.call(
        "POST",
        "/containers/create?name=badbody-lower",
        {"image": "busybox", "cmd": ["true"],
         "networkingconfig": {"endpointsconfig": {"bridge": {"aliases": ["low"]}}}},
    )  # fmt: skip
    assert (st, body) == (
        400,
        {"message": "network-scoped alias is supported only for containers in user defined networks"},
    )  # fmt: skip
    assert daemon.api.call("GET", "/containers/badbody-lower/json")[0] == 404


def test_well_typed_nulls_and_nested_fields_create_and_inspect(daemon: Daemon) -> None:
    """null leaves a field unset, as in Go; the nested shapes round-trip to inspect."""
    st, body = daemon.api.call(
        "POST",
        "/containers/create?name=badbody-good",
        {"Image": "busybox", "Cmd": ["true"], "Env": None, "StopTimeout": 5,
         "ExposedPorts": {"80/tcp": {}}, "Healthcheck": {"Test": ["CMD", "true"],
                                                        "Interval": 1000000000},
         "HostConfig": {"PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]},
                        "Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048}],
                        "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
                        "Memory": None, "BlkioWeight": 0}},
    )  # fmt: skip
    try:
        assert st == 201, body
        _, got = daemon.api.call("GET", "/containers/badbody-good/json")
        assert got["Config"]["StopTimeout"] == 5
        assert got["Config"]["Healthcheck"]["Interval"] == 1000000000
        assert got["HostConfig"]["PortBindings"] == {
            "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]
        }
        assert got["HostConfig"]["Ulimits"] == [{"Name": "nofile", "Soft": 1024, "Hard": 2048}]
    finally:
        daemon.api.call("DELETE", "/containers/badbody-good?force=1")


def test_docker_inspect_works_for_everything_after_the_bad_bodies(
    daemon: Daemon, target: str
) -> None:
    for method, path, body, _, _ in CASES:
        daemon.api.raw(
            method, path, json.dumps(body).encode(), {"Content-Type": "application/json"}
        )
    _, cs = daemon.api.call("GET", "/containers/json?all=1")
    docker = docker_for(daemon)
    for c in cs:
        r = docker("inspect", c["Id"])
        assert r.returncode == 0, r.stderr
    r = docker("ps", "-a")
    assert r.returncode == 0, r.stderr


NULLS_INSIDE: list[dict[str, Any]] = [
    {"HostConfig": {"Ulimits": [None]}},
    {"HostConfig": {"Mounts": [None]}},
    {"HostConfig": {"Devices": [None]}},
    {"HostConfig": {"PortBindings": {"80/tcp": None}}},
    {"HostConfig": {"PortBindings": {"80/tcp": [None]}}},
    {"HostConfig": {"LogConfig": None, "RestartPolicy": None, "Tmpfs": {"/t": None}}},
    {"NetworkingConfig": {"EndpointsConfig": {"bridge": None}}},
    {"Healthcheck": {"Test": None}},
    {"ExposedPorts": {"80/tcp": None}, "Volumes": {"/v": None}},
    {"Env": [None], "Cmd": ["true", None], "Labels": {"a": None}},
]


@pytest.mark.parametrize("extra", NULLS_INSIDE, ids=[json.dumps(b)[:50] for b in NULLS_INSIDE])
def test_nulls_inside_a_body_are_zero_values_never_a_500(
    daemon: Daemon, extra: dict[str, Any]
) -> None:
    """Go reads a null element as the zero value: the create succeeds or is a clean 400,
    and what it stores inspects."""
    st, body = daemon.api.call(
        "POST",
        "/containers/create?name=badbody-null",
        {"Image": "busybox", "Cmd": ["true"], **extra},
    )
    try:
        assert st in (201, 400), body
        assert isinstance(body.get("message", ""), str)
        if st == 201:
            r = docker_for(daemon)("inspect", "badbody-null")
            assert r.returncode == 0, r.stderr
        else:
            assert daemon.api.call("GET", "/containers/badbody-null/json")[0] == 404
    finally:
        daemon.api.call("DELETE", "/containers/badbody-null?force=1&v=1")
