"""Wire shapes of a few list and inspect answers, as docker clients read them."""

from __future__ import annotations

from tests.unit.api.fake_backend import FakeBackend, container, image
from tests.unit.api.route_client import request

SUMMARY_KEYS = {
    "Id", "Names", "Image", "ImageID", "Command", "Created", "Ports", "Labels", "State",
    "Status", "HostConfig", "NetworkSettings", "Mounts",
}  # fmt: skip


def _web(**kw: object) -> FakeBackend:
    be = FakeBackend()
    c = be.containers.add(container(1, "web", status="running", **kw))
    c.state.started_at = "2024-05-01T10:00:00Z"
    return be


def test_container_summary() -> None:
    be = _web(ports={"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}], "53/udp": None})
    [s] = request(be, "GET", "/containers/json").json()
    assert set(s) == SUMMARY_KEYS
    assert s["Names"] == ["/web"]
    assert s["Command"] == "sh -c 'echo hi'"
    assert s["State"] == "running" and s["Status"].startswith("Up ")
    assert s["Ports"] == [
        {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
        {"PrivatePort": 53, "Type": "udp"},
    ]
    assert s["Created"] == 1714557600


def test_container_inspect_on_the_default_bridge() -> None:
    ep = {"IPAddress": "172.17.0.2", "IPPrefixLen": 16, "Gateway": "172.17.0.1",
          "MacAddress": "02:42:ac:11:00:02", "EndpointID": "ep1", "Ifname": "eth0"}  # fmt: skip
    be = _web(networks={"bridge": ep}, ports={})
    be.execs.add(be.containers.get("web").id, "e1")
    out = request(be, "GET", "/containers/web/json").json()
    assert out["Name"] == "/web"
    assert out["ExecIDs"] == ["e1"]
    assert out["State"]["Running"] is True and out["State"]["Paused"] is False
    assert "Health" not in out["State"]
    assert out["Config"]["Env"] == []
    ns = out["NetworkSettings"]
    assert ns["SandboxKey"] == f"/run/netns/berth-{out['Id'][:12]}"
    assert (ns["IPAddress"], ns["IPPrefixLen"], ns["Gateway"]) == ("172.17.0.2", 16, "172.17.0.1")
    assert (ns["EndpointID"], ns["MacAddress"]) == ("ep1", "02:42:ac:11:00:02")
    assert (ns["GlobalIPv6Address"], ns["GlobalIPv6PrefixLen"]) == ("", 0)
    assert "Ifname" not in ns["Networks"]["bridge"]
    assert list(ns)[:2] == ["Bridge", "SandboxID"] and list(ns)[-1] == "Networks"


def test_container_inspect_on_a_user_network_leaves_the_legacy_fields_empty() -> None:
    be = _web(networks={"mynet": {"IPAddress": "10.0.0.2", "IPPrefixLen": 24}})
    ns = request(be, "GET", "/containers/web/json").json()["NetworkSettings"]
    assert (ns["IPAddress"], ns["IPPrefixLen"], ns["Gateway"]) == ("", 0, "")
    assert ns["Networks"]["mynet"]["IPAddress"] == "10.0.0.2"
    assert ns["SandboxKey"].startswith("/run/netns/berth-")


def test_image_list_summary() -> None:
    be = FakeBackend()
    be.images.add(image(1, ["busybox:latest"]))
    [s] = request(be, "GET", "/images/json").json()
    assert s == {
        "Containers": -1,
        "Created": 1714557600,
        "Id": "sha256:" + "0" * 63 + "1",
        "Labels": {},
        "ParentId": "",
        "RepoDigests": [],
        "RepoTags": ["busybox:latest"],
        "SharedSize": -1,
        "Size": 1234,
    }


def test_volume_list_and_create() -> None:
    be = FakeBackend()
    a = request(be, "POST", "/volumes/create", {"Name": "data", "Labels": {"a": "b"}})
    assert a.status == 201
    assert a.json()["Name"] == "data"
    out = request(be, "GET", "/volumes").json()
    assert out["Warnings"] is None
    assert [v["Name"] for v in out["Volumes"]] == ["data"]
    assert set(out["Volumes"][0]) == {
        "CreatedAt", "Driver", "Labels", "Mountpoint", "Name", "Options", "Scope",
    }  # fmt: skip


def test_exec_inspect() -> None:
    be = _web()
    cid = be.containers.get("web").id
    be.execs.add(cid, "e1", user="nobody", detach_keys=b"\x10")
    out = request(be, "GET", "/exec/e1/json").json()
    assert out["ID"] == "e1" and out["ContainerID"] == cid
    assert out["ProcessConfig"] == {
        "tty": False, "privileged": False, "entrypoint": "sh", "arguments": ["-c", "true"],
        "user": "nobody",
    }  # fmt: skip
    assert out["DetachKeys"] == "EA=="
    assert out["CanRemove"] is False


def test_create_answers_201_with_id_and_warnings() -> None:
    be = FakeBackend()
    a = request(be, "POST", "/containers/create?name=box", {"Image": "busybox", "Cmd": ["ls"]})
    assert a.status == 201
    assert set(a.json()) == {"Id", "Warnings"}
    name, body = be.calls.last("create")
    assert name == "box" and body.config.cmd == ["ls"]
    assert request(be, "POST", "/containers/create?name=box", {"Image": "busybox"}).status == 409


def test_network_connect_saves_the_container() -> None:
    from berth.engine.network.model import Network

    be = _web()
    be.network.add(Network("n" * 64, "mynet", "bridge", "2024-05-01T10:00:00Z"))
    a = request(be, "POST", "/networks/mynet/connect", {"Container": "web"})
    assert a.status == 200
    assert "mynet" in be.containers.get("web").networks
    assert be.calls.last("save") == (be.containers.get("web").id,)
