"""Version gates: a client of an older API gets the older shape or behaviour; a request
without a version in its path is served as the newest."""

from __future__ import annotations

import pytest

from tests.unit.api.fake_backend import FakeBackend, container, image
from tests.unit.api.route_client import request


def _images() -> FakeBackend:
    be = FakeBackend()
    be.images.add(image(1, ["busybox:latest"], container="abc", container_config={"X": 1}))
    be.images.add(image(2))  # untagged
    return be


@pytest.mark.parametrize(("prefix", "virtual"), [("/v1.43", True), ("/v1.44", False), ("", False)])
def test_image_list_virtual_size_before_1_44(prefix: str, virtual: bool) -> None:
    a = request(_images(), "GET", prefix + "/images/json")
    assert a.status == 200
    assert all(("VirtualSize" in s) is virtual for s in a.json())


@pytest.mark.parametrize(
    ("prefix", "tags"), [("/v1.42", ["<none>:<none>"]), ("/v1.43", []), ("", [])]
)
def test_untagged_image_placeholders_before_1_43(prefix: str, tags: list[str]) -> None:
    a = request(_images(), "GET", prefix + "/images/json")
    untagged = next(s for s in a.json() if s["Id"].endswith("2"))
    assert untagged["RepoTags"] == tags
    assert untagged["RepoDigests"] == (["<none>@<none>"] if tags else [])


def test_image_inspect_config_by_version() -> None:
    be = _images()
    old = request(be, "GET", "/v1.44/images/busybox:latest/json").json()
    assert old["Config"] == {"Cmd": ["sh"], "Hostname": "old"}  # the stored container-config
    assert (old["Container"], old["ContainerConfig"]) == ("abc", {"X": 1})
    assert "VirtualSize" not in old
    mid = request(be, "GET", "/v1.45/images/busybox:latest/json").json()
    assert "Container" not in mid and "ContainerConfig" not in mid
    assert mid["Config"] == old["Config"]
    new = request(be, "GET", "/images/busybox:latest/json").json()
    assert new["Config"] == {"Cmd": ["sh"]}  # the image-config fields only (1.50)
    assert request(be, "GET", "/v1.43/images/busybox:latest/json").json()["VirtualSize"] == 1234


@pytest.mark.parametrize(
    ("prefix", "flt"),
    [("/v1.41", {"all": ["true"]}), ("/v1.42", {}), ("", {})],
)
def test_volume_prune_took_all_volumes_before_1_42(prefix: str, flt: dict) -> None:
    be = FakeBackend()
    a = request(be, "POST", prefix + "/volumes/prune")
    assert a.json() == {"VolumesDeleted": [], "SpaceReclaimed": 0}
    assert be.calls.last("volumes.prune") == (flt,)


@pytest.mark.parametrize(("prefix", "only_volumes"), [("/v1.41", False), ("/v1.42", True)])
def test_system_df_type_is_honoured_from_1_42(prefix: str, only_volumes: bool) -> None:
    be = _images()
    be.volumes.create("data")
    a = request(be, "GET", prefix + "/system/df?type=volume")
    assert a.status == 200
    body = a.json()
    assert [v["Name"] for v in body["Volumes"]] == ["data"]
    assert (body["Images"] is None) is only_volumes
    assert (body["Containers"] is None) is only_volumes


@pytest.mark.parametrize(
    ("prefix", "size"), [("/v1.41", None), ("/v1.42", [30, 100]), ("", [30, 100])]
)
def test_exec_console_size_from_1_42(prefix: str, size: list[int] | None) -> None:
    be = FakeBackend()
    be.containers.add(container(1, "web", status="running"))
    be.execs.add(container(1, "web").id, "e1", tty=True)
    body = {"Detach": True, "Tty": True, "ConsoleSize": [30, 100]}
    a = request(be, "POST", prefix + "/exec/e1/start", body)
    assert a.status == 200
    assert be.calls.last("exec.start") == ("e1", True, True, size)


def test_a_version_prefix_is_stripped_for_the_route() -> None:
    be = FakeBackend()
    assert request(be, "GET", "/v1.41/_ping").body == b"OK"
    assert request(be, "GET", "/v1.41/version").json()["ApiVersion"] == "fake"
