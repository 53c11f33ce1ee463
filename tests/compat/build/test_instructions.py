"""The Dockerfile's instructions as the classic builder runs them, checked in the image
they make (with the docker CLI against berthd)."""

from __future__ import annotations

import io
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Daemon, docker_for

pytestmark = pytest.mark.compat

Build = Callable[..., subprocess.CompletedProcess[bytes]]
Ctx = Callable[..., Path]


def _out(r: subprocess.CompletedProcess[bytes]) -> str:
    return r.stdout.decode() + r.stderr.decode()


def _run(daemon: Daemon, image: str, script: str) -> str:
    r = docker_for(daemon)("run", "--rm", image, "sh", "-c", script)
    assert r.returncode == 0, r.stderr
    return r.stdout.decode()


def _tgz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode = len(data), 0o640
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def test_copy_and_add(daemon: Daemon, build_cli: Build, ctx: Ctx) -> None:
    d = ctx(
        {
            "src/a.py": "a\n",
            "src/b.py": "b\n",
            "src/c.txt": "c\n",
            "tree/sub/deep.txt": "deep\n",
            "bundle.tar.gz": _tgz({"unpacked/one.txt": b"one\n"}),
            "Dockerfile": (
                "FROM busybox\n"
                "RUN echo app:x:1234:1234::/:/bin/sh >>/etc/passwd && echo app:x:1234: >>/etc/group\n"
                "COPY src/*.py /py/\n"
                "COPY --chown=app:app --chmod=600 src/c.txt /owned/c.txt\n"
                "COPY tree /tree\n"
                "WORKDIR /rel\n"
                "COPY src/c.txt here.txt\n"
                "ADD bundle.tar.gz /opt/\n"
                "ADD src/c.txt /added/\n"
            ),
        }
    )
    r = build_cli("-t", "bt-build-copy:1", str(d))
    assert r.returncode == 0, _out(r)
    out = _run(
        daemon,
        "bt-build-copy:1",
        "ls /py; stat -c '%U:%G %a' /owned/c.txt; cat /tree/sub/deep.txt /rel/here.txt "
        "/opt/unpacked/one.txt /added/c.txt",
    )
    assert out.split("\n") == [
        "a.py", "b.py", "app:app 600", "deep", "c", "one", "c", "",
    ], out  # fmt: skip


def test_add_of_a_url_without_a_route_is_a_clear_error(build_cli: Build, ctx: Ctx) -> None:
    r = build_cli(str(ctx({"Dockerfile": "FROM busybox\nADD http://bt-build.invalid/x.txt /x\n"})))
    assert r.returncode == 1, _out(r)
    assert "ADD failed" in _out(r) and "bt-build.invalid" in _out(r), _out(r)
    assert "Traceback" not in _out(r)


def test_shell_onbuild_healthcheck_escape_and_args(
    daemon: Daemon, build_cli: Build, ctx: Ctx
) -> None:
    d = ctx(
        {
            "Dockerfile": (
                "# escape=`\n"
                "ARG BASE=busybox\n"
                "FROM ${BASE}\n"
                "ARG ONE=1 TWO\n"
                'SHELL ["/bin/sh", "-ec"]\n'
                "ENV WHERE=/data `\n"
                "    OTHER=${WHERE:-unset}/x\n"
                "RUN echo $ONE$TWO > /args && echo $WHERE $OTHER > /env\n"
                "HEALTHCHECK --interval=5s --retries=2 CMD true\n"
                "ONBUILD RUN echo triggered > /onbuild\n"
            )
        }
    )
    r = build_cli("--build-arg", "TWO=2", "-t", "bt-build-base:1", str(d))
    assert r.returncode == 0, _out(r)
    # one ENV's values expand with the environment before it, as in dockerd
    assert _run(daemon, "bt-build-base:1", "cat /args /env") == "12\n/data unset/x\n"
    cfg = daemon.api.call("GET", "/images/bt-build-base:1/json")[1]["Config"]
    assert cfg["Shell"] == ["/bin/sh", "-ec"]
    assert cfg["Healthcheck"]["Test"] == ["CMD-SHELL", "true"]
    assert cfg["Healthcheck"]["Interval"] == 5_000_000_000 and cfg["Healthcheck"]["Retries"] == 2
    assert cfg["OnBuild"] == ["RUN echo triggered > /onbuild"]
    child = build_cli("-t", "bt-build-child:1", "-", input=b"FROM bt-build-base:1\n")
    assert child.returncode == 0, _out(child)
    assert "# Executing 1 build trigger" in _out(child), _out(child)
    assert _run(daemon, "bt-build-child:1", "cat /onbuild") == "triggered\n"
    assert not daemon.api.call("GET", "/images/bt-build-child:1/json")[1]["Config"].get("OnBuild")


def test_run_options_reach_the_step_containers(daemon: Daemon, build_cli: Build, ctx: Ctx) -> None:
    d = ctx(
        {
            "Dockerfile": (
                "FROM busybox\n"
                "RUN grep bt-added /etc/hosts > /hosts; ulimit -n > /nofile; "
                "ip -o link | grep -c . > /links; true\n"
            )
        }
    )
    r = build_cli(
        "--network", "none", "--add-host", "bt-added:10.1.2.3", "--ulimit", "nofile=512:512",
        "-t", "bt-build-runopts:1", str(d),
    )  # fmt: skip
    assert r.returncode == 0, _out(r)
    out = _run(daemon, "bt-build-runopts:1", "cat /hosts /nofile /links")
    assert out.split("\n")[:3] == ["10.1.2.3\tbt-added", "512", "1"], out


def test_a_user_network_by_name(daemon: Daemon, build_cli: Build, ctx: Ctx) -> None:
    st, net = daemon.api.call("POST", "/networks/create", {"Name": "bt-build-net"})
    assert st == 201, net
    try:
        d = ctx({"Dockerfile": "FROM busybox\nRUN ip -o -4 addr show eth0 > /addr\n"})
        r = build_cli("--network", "bt-build-net", "-t", "bt-build-net:1", str(d))
        assert r.returncode == 0, _out(r)
        subnet = daemon.api.call("GET", "/networks/bt-build-net")[1]["IPAM"]["Config"][0]["Subnet"]
        prefix = subnet.split(".")[:2]
        assert ".".join(prefix) in _run(daemon, "bt-build-net:1", "cat /addr")
    finally:
        daemon.remove_all_containers()
        daemon.api.call("DELETE", "/networks/bt-build-net")


def test_cache_from_an_image_with_no_local_cache(
    daemon: Daemon, build_cli: Build, ctx: Ctx
) -> None:
    d = ctx(
        {"f.txt": "f\n", "Dockerfile": "FROM busybox\nCOPY f.txt /f\nRUN echo x >/x\nENV K=v\n"}
    )
    r = build_cli("-t", "bt-build-src:1", str(d))
    assert r.returncode == 0, _out(r)
    src_id = daemon.api.call("GET", "/images/bt-build-src:1/json")[1]["Id"]
    # an image as pulled: saved and loaded elsewhere, so no parents and no cache entries
    docker = docker_for(daemon)
    saved = docker("save", "bt-build-src:1")
    assert saved.returncode == 0
    assert docker("rmi", "bt-build-src:1").returncode == 0
    daemon.api.call("POST", "/build/prune")
    assert docker("load", input=saved.stdout).returncode == 0
    again = build_cli("--cache-from", "bt-build-src:1", "-t", "bt-build-dst:1", str(d))
    text = _out(again)
    assert again.returncode == 0, text
    assert text.count("Using cache") == 3, text
    dst = daemon.api.call("GET", "/images/bt-build-dst:1/json")[1]
    assert (
        dst["RootFS"]["Layers"]
        == daemon.api.call("GET", f"/images/{src_id}/json")[1]["RootFS"]["Layers"]
    )


@pytest.mark.parametrize(
    "line",
    [
        "RUN --mount=type=cache,target=/c true",
        "COPY --link Dockerfile /x",
        "RUN --network=none true",
    ],
)
def test_buildkit_flags_are_refused(build_cli: Build, ctx: Ctx, line: str) -> None:
    r = build_cli(str(ctx({"Dockerfile": f"FROM busybox\n{line}\n"})))
    assert r.returncode == 1, _out(r)
    assert "option requires BuildKit" in _out(r), _out(r)
