"""`berth build` against the shared berthd: contexts of every kind, the flags that change
what is built, -q/--iidfile, a failing RUN, and that the images are there afterwards."""

from __future__ import annotations

import io
import os
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Daemon
from tests.integration.cli.conftest import BerthRun

pytestmark = pytest.mark.integration


@pytest.fixture
def images(daemon: Daemon) -> Iterator[list[str]]:
    """Names (or ids) the test builds; removed afterwards whatever happened."""
    made: list[str] = []
    yield made
    for name in made:
        daemon.api.call("DELETE", f"/images/{name}?force=1")


@pytest.fixture(autouse=True)
def needs_build(daemon: Daemon) -> None:
    status, _, _ = daemon.api.raw("POST", "/build", b"", {"Content-Type": "application/x-tar"})
    if status == 404:
        pytest.skip("the daemon does not implement POST /build yet")


def name() -> str:
    return f"bt-build-{uuid.uuid4().hex[:8]}"


def inspect(daemon: Daemon, ref: str) -> dict:
    status, body = daemon.api.call("GET", f"/images/{ref}/json")
    assert status == 200, body
    return body  # type: ignore[no-any-return]


def context(tmp: Path, dockerfile: str) -> Path:
    (tmp / "Dockerfile").write_text(dockerfile)
    return tmp


def test_build_directory_with_tag_and_build_arg(
    daemon: Daemon, berth: BerthRun, tmp: Path, images: list[str]
) -> None:
    ctx = context(tmp, "FROM busybox\nARG GREETING=none\nRUN echo \"said $GREETING\"\n"
                       "COPY a.txt /a.txt\nCMD [\"cat\", \"/a.txt\"]\n")  # fmt: skip
    ctx.joinpath("a.txt").write_text("hello\n")
    tag = name() + ":v1"
    images.append(tag)
    r = berth("build", "-t", tag, "--build-arg", "GREETING=hi", str(ctx))
    out = r.stdout.decode()
    assert r.returncode == 0, r.stderr
    assert out.startswith("Sending build context to berth daemon")
    assert "Step 1/5 : FROM busybox\n" in out and "said hi\n" in out
    assert "Successfully built " in out and "Successfully tagged " in out
    img = inspect(daemon, tag)
    assert img["Config"]["Cmd"] == ["cat", "/a.txt"]
    assert tag in img["RepoTags"]


def test_build_arg_from_the_environment(
    daemon: Daemon, berth: BerthRun, tmp: Path, images: list[str]
) -> None:
    ctx = context(tmp, 'FROM busybox\nARG FROMENV\nRUN echo "got=$FROMENV"\n')
    tag = name()
    images.append(tag)
    os.environ["FROMENV"] = "from-env"
    try:
        r = berth("build", "-t", tag, "--build-arg", "FROMENV", str(ctx))
    finally:
        del os.environ["FROMENV"]
    assert r.returncode == 0, r.stderr
    assert "got=from-env\n" in r.stdout.decode()


def test_target_stops_at_the_named_stage(
    daemon: Daemon, berth: BerthRun, tmp: Path, images: list[str]
) -> None:
    ctx = context(
        tmp,
        "FROM busybox AS first\nLABEL stage=first\nRUN echo first\n"
        "FROM busybox AS second\nLABEL stage=second\nRUN echo second\n",
    )
    tag = name()
    images.append(tag)
    r = berth("build", "--target", "first", "-t", tag, str(ctx))
    assert r.returncode == 0, r.stderr
    assert "echo second" not in r.stdout.decode()
    assert inspect(daemon, tag)["Config"]["Labels"]["stage"] == "first"


def test_dockerfile_outside_the_context_and_dockerignore(
    daemon: Daemon, berth: BerthRun, tmp: Path, images: list[str]
) -> None:
    ctx = tmp / "ctx"
    ctx.mkdir()
    (ctx / "keep.txt").write_text("keep\n")
    (ctx / "secret.txt").write_text("secret\n")
    (ctx / "logs").mkdir()
    (ctx / "logs" / "x.log").write_text("log\n")
    (ctx / ".dockerignore").write_text("secret.txt\nlogs\n")
    df = tmp / "elsewhere.Dockerfile"
    df.write_text("FROM busybox\nCOPY . /ctx\nRUN find /ctx | sort\n")
    tag = name()
    images.append(tag)
    r = berth("build", "-f", str(df), "-t", tag, str(ctx))
    out = r.stdout.decode()
    assert r.returncode == 0, r.stderr
    assert "/ctx/keep.txt\n" in out
    assert "secret.txt" not in out and "x.log" not in out
    # the Dockerfile travelled under a name of its own, which COPY must not see
    assert ".dockerfile." not in out


def test_stdin_tar_context(daemon: Daemon, berth: BerthRun, images: list[str]) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for n, data in (("build/Dockerfile.x", b"FROM busybox\nCOPY f /f\nRUN cat /f\n"),
                        ("f", b"from the tar\n")):  # fmt: skip
            ti = tarfile.TarInfo(n)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    tag = name()
    images.append(tag)
    r = berth("build", "-f", "build/Dockerfile.x", "-t", tag, "-", input=buf.getvalue())
    assert r.returncode == 0, r.stderr
    assert "from the tar\n" in r.stdout.decode()
    inspect(daemon, tag)


def test_stdin_dockerfile(daemon: Daemon, berth: BerthRun, images: list[str]) -> None:
    tag = name()
    images.append(tag)
    r = berth("build", "-t", tag, "-", input=b"FROM busybox\nRUN echo from-stdin\n")
    assert r.returncode == 0, r.stderr
    assert "from-stdin\n" in r.stdout.decode()
    inspect(daemon, tag)


def test_quiet_and_iidfile(daemon: Daemon, berth: BerthRun, tmp: Path, images: list[str]) -> None:
    (tmp / "c").mkdir()
    ctx = context(tmp / "c", "FROM busybox\nRUN true\n")
    iid = tmp / "iid"
    iid.write_text("stale")
    r = berth("build", "-q", "--iidfile", str(iid), str(ctx))
    assert r.returncode == 0, r.stderr
    image_id = r.stdout.decode().strip()
    images.append(image_id)
    assert image_id.startswith("sha256:") and len(image_id) == 71
    assert r.stdout.decode() == image_id + "\n"  # nothing but the id
    assert iid.read_text().strip() == image_id
    assert inspect(daemon, image_id)["Id"] == image_id


def test_failing_run_exits_with_its_code(
    daemon: Daemon, berth: BerthRun, tmp: Path, images: list[str]
) -> None:
    ctx = context(tmp, "FROM busybox\nRUN echo before-failing; false\n")
    r = berth("build", "-t", name(), str(ctx))
    assert r.returncode == 1
    assert "before-failing\n" in r.stdout.decode()
    assert (
        "The command '/bin/sh -c echo before-failing; false' returned a non-zero code: 1"
        in r.stderr.decode()
    )
    r = berth("build", "-", input=b"FROM busybox\nRUN exit 3\n")
    assert r.returncode == 3, r.stderr  # docker exits with the step's code


def test_no_cache_rebuilds(daemon: Daemon, berth: BerthRun, tmp: Path, images: list[str]) -> None:
    ctx = context(tmp, "FROM busybox\nRUN echo cached-step\n")
    tag = name()
    images.append(tag)
    assert berth("build", "-t", tag, str(ctx)).returncode == 0
    first = inspect(daemon, tag)["Id"]
    again = berth("build", "-t", tag, str(ctx))
    assert again.returncode == 0 and " ---> Using cache\n" in again.stdout.decode()
    assert inspect(daemon, tag)["Id"] == first
    fresh = berth("build", "--no-cache", "-t", tag, str(ctx))
    assert fresh.returncode == 0, fresh.stderr
    assert "Using cache" not in fresh.stdout.decode()
    assert "cached-step\n" in fresh.stdout.decode()
    images.append(first)


def test_context_errors(berth: BerthRun, tmp: Path) -> None:
    r = berth("build", str(tmp / "nope"))
    assert r.returncode == 1
    assert f'unable to prepare context: path "{tmp / "nope"}" not found' in r.stderr.decode()
    r = berth("build", str(tmp))
    assert r.returncode == 1
    assert "unable to prepare context: unable to evaluate symlinks in Dockerfile path" in (
        r.stderr.decode()
    )
    r = berth("build", "-f", "-", "-", input=b"FROM busybox\n")
    assert "can't use stdin for both build context and dockerfile" in r.stderr.decode()
