import pytest

from berth.engine.containers import create, names
from berth.engine.errors import InvalidParameter


class Img:
    env = ["PATH=/bin", "A=1"]
    cmd = ["sh"]
    entrypoint = None
    working_dir = ""
    user = ""
    labels = {"from": "image"}
    stop_signal = ""
    volumes = None
    exposed_ports = None
    healthcheck = None


def build(body: dict):
    cfg, hc = create.parse_request(body)
    return create.build(cfg, hc, name="n", image_id="sha256:x", image_config=Img())


def test_image_defaults_under_overrides() -> None:
    c = build({"Image": "busybox", "Env": ["A=2", "B=3"], "Labels": {"x": "y"}})
    assert c.path == "sh" and c.args == []
    assert c.config.env == ["PATH=/bin", "A=2", "B=3"]
    assert c.config.labels == {"from": "image", "x": "y"}
    assert c.config.hostname == c.id[:12]


def test_entrypoint_resets_image_cmd() -> None:
    c = build({"Image": "busybox", "Entrypoint": ["echo"]})
    assert (c.path, c.args) == ("echo", [])
    c = build({"Image": "busybox", "Entrypoint": ["echo"], "Cmd": ["hi"]})
    assert (c.path, c.args) == ("echo", ["hi"])
    c = build({"Image": "busybox", "Cmd": ["echo", "hello"]})
    assert (c.path, c.args) == ("echo", ["hello"])


@pytest.mark.parametrize(
    "hc, msg",
    [
        ({"Memory": 1024}, "Minimum memory limit allowed is 6MB"),
        ({"NanoCpus": 1, "CpuPeriod": 100}, "Conflicting options"),
        ({"RestartPolicy": {"Name": "sometimes"}}, "invalid restart policy"),
        ({"AutoRemove": True, "RestartPolicy": {"Name": "always"}}, "AutoRemove"),
        ({"CapAdd": ["NOPE"]}, 'invalid CAP_ADD: unknown capability: "CAP_NOPE"'),
    ],
)
def test_bad_host_config(hc: dict, msg: str) -> None:
    with pytest.raises(InvalidParameter, match=msg):
        build({"Image": "busybox", "HostConfig": hc})


def test_signals() -> None:
    assert create.parse_signal("SIGTERM") == 15
    assert create.parse_signal("kill") == 9
    assert create.parse_signal("10") == 10
    assert create.parse_signal("SIGRTMIN+3") == 37
    with pytest.raises(InvalidParameter, match="Invalid signal"):
        create.parse_signal("SIGNOPE")


def test_names() -> None:
    assert names.validate("/web-1") == "web-1"
    with pytest.raises(InvalidParameter, match="Invalid container name"):
        names.validate("a b")
    assert "_" in names.generate(set())
