"""Volumes and mounts with the real docker CLI and docker-py against berthd."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import uuid

import pytest

pytestmark = pytest.mark.compat


def out(r: subprocess.CompletedProcess[bytes]) -> str:
    return r.stdout.decode()


def err(r: subprocess.CompletedProcess[bytes]) -> str:
    return r.stderr.decode()


@pytest.fixture
def vname(docker):  # type: ignore[no-untyped-def]
    """A unique volume name, removed after the test whatever happens."""
    names: list[str] = []

    def make(prefix: str = "cv") -> str:
        names.append(f"{prefix}-{uuid.uuid4().hex[:8]}")
        return names[-1]

    yield make
    ids = out(docker("ps", "-aq")).split()
    if ids:
        docker("rm", "-f", *ids)
    for n in names:
        docker("volume", "rm", "-f", n)


def test_volume_commands(docker, vname) -> None:
    a, b = vname(), vname()
    r = docker("volume", "create", "--label", "team=x", a)
    assert r.returncode == 0 and out(r) == a + "\n", err(r)
    assert docker("volume", "create", b).returncode == 0
    r = docker("volume", "ls", "--filter", "label=team=x", "--format", "{{.Name}} {{.Driver}}")
    assert out(r).splitlines() == [f"{a} local"]
    r = docker("volume", "ls", "-q", "--filter", f"name={b}")
    assert out(r).split() == [b]
    r = docker("volume", "inspect", a)
    (v,) = json.loads(out(r))
    assert v["Name"] == a and v["Labels"] == {"team": "x"} and v["Scope"] == "local"
    assert v["Mountpoint"].endswith(f"/volumes/{a}/_data")
    r = docker("volume", "rm", a, "no-such-bt")
    assert r.returncode == 1
    assert out(r) == a + "\n"
    assert "get no-such-bt: no such volume" in err(r)
    r = docker("volume", "create", "x/y")
    assert r.returncode != 0
    assert '"x/y" includes invalid characters for a local volume name' in err(r)
    r = docker("volume", "create", "-o", "bogus=1", vname())
    assert r.returncode != 0 and 'invalid option: "bogus"' in err(r)


def test_named_volume_across_containers_and_rm(docker, vname) -> None:
    v = vname()
    r = docker("run", "--name", "cv-writer", "-v", f"{v}:/data", "busybox",
               "sh", "-c", "echo persisted > /data/f")  # fmt: skip
    assert r.returncode == 0, err(r)
    r = docker("volume", "rm", v)
    assert r.returncode == 1 and f"remove {v}: volume is in use - [" in err(r)
    r = docker("run", "--rm", "--volumes-from", "cv-writer:ro", "busybox",
               "sh", "-c", "cat /data/f; touch /data/g 2>&1 || true")  # fmt: skip
    assert "persisted" in out(r) and "Read-only file system" in out(r), err(r)
    r = docker("inspect", "-f", "{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}} "
               "{{.Mode}} {{.RW}}{{end}}", "cv-writer")  # fmt: skip
    assert out(r).strip() == f"volume {v} /data z true"
    assert docker("rm", "-v", "cv-writer").returncode == 0
    r = docker("run", "--rm", "-v", f"{v}:/d", "busybox", "cat", "/d/f")
    assert out(r) == "persisted\n"


def test_run_rm_removes_anonymous_volumes(docker) -> None:
    before = set(out(docker("volume", "ls", "-q")).split())
    r = docker("run", "--rm", "-v", "/scratch", "busybox", "sh", "-c", "echo x > /scratch/y")
    assert r.returncode == 0, err(r)
    assert set(out(docker("volume", "ls", "-q")).split()) == before
    r = docker("run", "--name", "cv-anon", "-v", "/scratch", "busybox", "true")
    assert r.returncode == 0
    after = set(out(docker("volume", "ls", "-q")).split())
    (anon,) = after - before
    r = docker("volume", "ls", "-q", "--filter", "dangling=true")
    assert anon not in out(r).split()
    assert docker("rm", "cv-anon").returncode == 0  # without -v it stays
    r = docker("volume", "ls", "-q", "--filter", "dangling=true")
    assert anon in out(r).split()
    r = docker("volume", "prune", "-f")
    assert r.returncode == 0 and anon in out(r) and "Total reclaimed space" in out(r)
    assert anon not in out(docker("volume", "ls", "-q")).split()


def test_bind_mount_and_tmpfs_flags(docker) -> None:
    host = tempfile.mkdtemp(prefix="bt-cv-", dir="/tmp")
    try:
        r = docker(
            "run", "--rm", "-v", f"{host}:/h", "--mount", f"type=bind,src={host},dst=/hr,ro",
            "--tmpfs", "/run:size=64m", "--mount", "type=tmpfs,dst=/t,tmpfs-size=1m",
            "busybox", "sh", "-c",
            "echo w > /h/w; touch /hr/x 2>/dev/null || echo RO; grep -E ' /(run|t) ' /proc/mounts",
        )  # fmt: skip
        assert r.returncode == 0, err(r)
        assert "RO" in out(r)
        assert "size=65536k" in out(r) and "size=1024k" in out(r)
        assert open(os.path.join(host, "w")).read() == "w\n"
        r = docker("run", "--rm", "--mount", "type=bind,src=/nonexistent-bt,dst=/x", "busybox")
        assert r.returncode == 125
        assert "bind source path does not exist: /nonexistent-bt" in err(r)
    finally:
        shutil.rmtree(host, ignore_errors=True)


def test_docker_py_volumes(daemon) -> None:
    docker_sdk = pytest.importorskip("docker", reason="docker-py is not installed")
    c = docker_sdk.DockerClient(base_url=daemon.host, version="auto", timeout=60)
    name = f"py-{uuid.uuid4().hex[:8]}"
    try:
        v = c.volumes.create(name, labels={"via": "py"})
        assert v.name == name and c.volumes.get(name).attrs["Labels"] == {"via": "py"}
        got = c.containers.run(
            "busybox", ["sh", "-c", "echo py > /v/f; cat /v/f"],
            volumes={name: {"bind": "/v", "mode": "rw"}}, remove=True,
        )  # fmt: skip
        assert got == b"py\n"
        assert name in [x.name for x in c.volumes.list(filters={"label": "via=py"})]
        with pytest.raises(docker_sdk.errors.NotFound):
            c.volumes.get("no-such-py-volume")
        v.remove()
        assert name not in [x.name for x in c.volumes.list()]
    finally:
        daemon.remove_all_containers()
        try:
            c.volumes.get(name).remove(force=True)
        except docker_sdk.errors.NotFound:
            pass
        c.close()
