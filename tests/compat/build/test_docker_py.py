"""docker-py's images.build and api.build against berthd: the options Compose and CI
scripts pass, a context of their own (custom_context, gzip), and both stream forms."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import Daemon

docker_sdk = pytest.importorskip("docker", reason="docker-py is not installed")

pytestmark = pytest.mark.compat

Ctx = Callable[..., Path]


@pytest.fixture
def client(daemon: Daemon, built: list[str]) -> Iterator[object]:
    c = docker_sdk.DockerClient(base_url=daemon.host, version="auto", timeout=120)
    yield c
    c.close()


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def test_images_build_runs_the_options(client, daemon: Daemon, built: list[str], ctx: Ctx) -> None:  # type: ignore[no-untyped-def]
    d = ctx(
        {
            "Dockerfile": (
                "FROM busybox AS base\nARG WHO=nobody\n"
                "RUN echo $WHO >/who && cat /etc/hosts >/hosts && df -k /dev/shm | tail -1 >/shm\n"
                "FROM base AS extra\nRUN echo never >/never\n"
            )
        }
    )
    built.append("bt-build-py:2")
    image, _ = client.images.build(
        path=str(d), tag="bt-build-py:2", buildargs={"WHO": "docker-py"}, target="base",
        extra_hosts={"bt-build-host": "10.9.8.7"}, network_mode="none",
        shmsize=96 * 1024 * 1024,
    )  # fmt: skip
    out = client.containers.run(
        "bt-build-py:2", ["sh", "-c", "cat /who /hosts /shm; test ! -e /never"], remove=True
    ).decode()
    assert out.startswith("docker-py\n"), out
    assert "10.9.8.7\tbt-build-host" in out or "10.9.8.7 bt-build-host" in out, out
    assert " 98304 " in out, out  # the shm size of the RUN's container


def test_a_dockerfile_outside_the_context_and_a_gzip_context(
    client, built: list[str], ctx: Ctx, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    d = ctx({"data.txt": "data\n"})
    outside = tmp_path / "Dockerfile.outside"
    outside.write_text("FROM busybox\nCOPY data.txt /data.txt\n")
    built.append("bt-build-py:3")
    client.images.build(path=str(d), dockerfile=str(outside), tag="bt-build-py:3")
    assert client.containers.run("bt-build-py:3", ["cat", "/data.txt"], remove=True) == b"data\n"
    # gzip-encoded context: docker-py sends Content-Encoding gzip? no: the tar gzipped
    import gzip

    raw = gzip.compress(_tar({"Dockerfile": b"FROM busybox\nENV GZ=1\n"}))
    built.append("bt-build-py:4")
    image, _ = client.images.build(
        fileobj=io.BytesIO(raw), custom_context=True, encoding="gzip", tag="bt-build-py:4"
    )
    assert "GZ=1" in image.attrs["Config"]["Env"]


def test_custom_context_and_the_low_level_stream(client, daemon: Daemon, built: list[str]) -> None:  # type: ignore[no-untyped-def]
    ctx_tar = _tar({"Dockerfile": b"FROM busybox\nRUN echo low level\n"})
    built.append("bt-build-py:5")
    msgs = list(
        client.api.build(
            fileobj=io.BytesIO(ctx_tar), custom_context=True, tag="bt-build-py:5", decode=True
        )
    )
    assert {"stream": "low level\n"} in msgs, msgs
    assert any("aux" in m and m["aux"]["ID"].startswith("sha256:") for m in msgs)
    # the error form: docker-py raises BuildError with the daemon's message
    bad = _tar({"Dockerfile": b"FROM busybox\nRUN exit 7\n"})
    with pytest.raises(docker_sdk.errors.BuildError) as err:
        client.images.build(fileobj=io.BytesIO(bad), custom_context=True)
    assert "returned a non-zero code: 7" in str(err.value)
    # and an error before the build: an APIError with the status
    with pytest.raises(docker_sdk.errors.APIError) as api_err:
        client.images.build(fileobj=io.BytesIO(_tar({"x": b""})), custom_context=True)
    assert "Cannot locate specified Dockerfile" in str(api_err.value)
