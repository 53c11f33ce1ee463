"""Committed images carry Container and ContainerConfig as dockerd 20.10 records them;
`docker load` of a broken tar answers in dockerd's words."""

from __future__ import annotations

import io
import json
import tarfile

import pytest

from tests.conftest import Daemon, docker_for

pytestmark = pytest.mark.compat


def test_commit_records_the_container(daemon: Daemon) -> None:
    docker = docker_for(daemon)
    try:
        r = docker("run", "--name", "tocommit", "-e", "K=v", "busybox", "sh", "-c", "echo hi > /f")
        assert r.returncode == 0, r.stderr.decode()
        cid = docker("inspect", "-f", "{{.Id}}", "tocommit").stdout.decode().strip()
        assert docker("commit", "tocommit", "committed:1").returncode == 0
        # API 1.44 still shows both (1.45 dropped them from image inspect)
        st, img = daemon.api.call("GET", "/v1.44/images/committed:1/json")
        assert st == 200
        assert img["Container"] == cid
        cc = img["ContainerConfig"]
        assert cc["Cmd"] == ["sh", "-c", "echo hi > /f"] and cc["Image"] == "busybox"
        assert "K=v" in cc["Env"] and cc["Hostname"] == cid[:12]
        st, hist = daemon.api.call("GET", "/images/committed:1/history")
        assert hist[0]["CreatedBy"] == "sh -c echo hi > /f"  # the Cmd joined, as dockerd
    finally:
        daemon.remove_all_containers()
        daemon.api.call("DELETE", "/images/committed:1?force=1")


def _tar(members: dict[str, bytes]) -> bytes:
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w") as tf:
        for name, data in members.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return b.getvalue()


def _load(daemon: Daemon, data: bytes) -> tuple[int, str]:
    st, _, raw = daemon.api.raw("POST", "/images/load", data, {"Content-Type": "application/x-tar"})
    return st, json.loads(raw)["message"]


def test_broken_loads_answer_as_dockerd(daemon: Daemon) -> None:
    before = daemon.api.call("GET", "/images/json")[1]
    st, msg = _load(daemon, b"this is not a tar archive" * 40)
    assert (st, msg) == (400, "archive/tar: invalid tar header")
    good = _tar({"manifest.json": b"[]" + b" " * 4000, "x": b"y" * 3000})
    st, msg = _load(daemon, good[:2500])
    assert (st, msg) == (400, "unexpected EOF")
    st, msg = _load(daemon, _tar({"hello.txt": b"hi"}))
    assert st == 400
    assert msg.startswith("open /") and msg.endswith("/repositories: no such file or directory")
    assert daemon.api.call("GET", "/images/json")[1] == before


def test_docker_load_prints_the_error(daemon: Daemon) -> None:
    r = docker_for(daemon)("load", input=b"this is not a tar archive" * 40)
    assert r.returncode != 0 and "archive/tar: invalid tar header" in r.stderr.decode()
