"""docker-py against berthd over the unix socket."""

from __future__ import annotations

import pytest

docker_sdk = pytest.importorskip("docker", reason="docker-py is not installed")

pytestmark = pytest.mark.compat


@pytest.fixture
def client(daemon):  # type: ignore[no-untyped-def]
    c = docker_sdk.DockerClient(base_url=daemon.host, version="auto", timeout=60)
    yield c
    daemon.remove_all_containers()
    c.close()


def test_ping_version_info(client) -> None:
    assert client.ping() is True
    assert client.version()["ApiVersion"] == "1.50"
    assert client.info()["OSType"] == "linux"


def test_run_returns_output_and_removes(client) -> None:
    out = client.containers.run("busybox", ["echo", "from docker-py"], remove=True, name="from-py")
    assert out == b"from docker-py\n"
    assert client.containers.list(all=True, filters={"name": "from-py"}) == []


def test_nonzero_exit_raises_container_error(client) -> None:
    with pytest.raises(docker_sdk.errors.ContainerError) as info:
        client.containers.run("busybox", ["sh", "-c", "echo oops >&2; exit 5"])
    assert info.value.exit_status == 5
    assert b"oops" in (info.value.stderr or b"")


def test_detached_lifecycle(client) -> None:
    c = client.containers.run(
        "busybox",
        ["sh", "-c", "echo ready; sleep 60"],
        detach=True,
        name="py-det",
        labels={"suite": "py"},
        environment={"X": "1"},
        mem_limit="64m",
    )
    c.reload()
    assert c.status == "running"
    assert c.attrs["HostConfig"]["Memory"] == 64 * 1024 * 1024
    assert [x.name for x in client.containers.list(filters={"label": "suite=py"})] == ["py-det"]
    res = None
    for _ in range(50):
        if c.logs() == b"ready\n":
            res = True
            break
        import time

        time.sleep(0.05)
    assert res
    c.kill()
    assert c.wait()["StatusCode"] == 137
    c.remove()
    with pytest.raises(docker_sdk.errors.NotFound):
        client.containers.get("py-det")


def test_not_found_errors(client) -> None:
    with pytest.raises(docker_sdk.errors.ImageNotFound):
        client.images.get("nosuch:tag")
    with pytest.raises(docker_sdk.errors.NotFound):
        client.containers.get("nosuchcontainer")


def test_images_list(client) -> None:
    tags = [t for img in client.images.list() for t in img.tags]
    assert "busybox:latest" in tags
