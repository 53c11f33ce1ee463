"""Volumes and mounts through the Engine API against a real berthd and real containers."""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
import tempfile
import uuid
from pathlib import Path

import pytest

from tests.conftest import Daemon

pytestmark = pytest.mark.integration


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _run(d: Daemon, body: dict, name: str | None = None) -> tuple[str, int, str]:
    """Create, start and wait for a container; returns (id, exit code, logs)."""
    q = f"?name={name}" if name else ""
    st, out = d.api.call("POST", "/containers/create" + q, {"Image": "busybox", **body})
    assert st == 201, out
    cid = out["Id"]
    assert d.api.call("POST", f"/containers/{cid}/start")[0] == 204
    st, res = d.api.call("POST", f"/containers/{cid}/wait")
    _, _, logs = d.api.raw("GET", f"/containers/{cid}/logs?stdout=1&stderr=1")
    return cid, res["StatusCode"], logs[8:].decode(errors="replace") if logs else ""


def _volumes(d: Daemon) -> set[str]:
    return {v["Name"] for v in d.api.call("GET", "/volumes")[1]["Volumes"]}


def test_create_inspect_list_remove(daemon: Daemon) -> None:
    name = _name("api")
    st, v = daemon.api.call(
        "POST", "/volumes/create", {"Name": name, "Labels": {"k": "v"}, "DriverOpts": {}}
    )
    assert st == 201, v
    try:
        assert v["Driver"] == "local" and v["Scope"] == "local" and v["Labels"] == {"k": "v"}
        assert v["Mountpoint"] == str(daemon.data_root / "volumes" / name / "_data")
        assert os.path.isdir(v["Mountpoint"])
        assert daemon.api.call("GET", f"/volumes/{name}") == (200, v)
        st, lst = daemon.api.call("GET", '/volumes?filters={"label":["k=v"]}')
        assert st == 200 and name in {x["Name"] for x in lst["Volumes"]}
        st, lst = daemon.api.call("GET", '/volumes?filters={"label":["k=other"]}')
        assert name not in {x["Name"] for x in lst["Volumes"]}
    finally:
        assert daemon.api.call("DELETE", f"/volumes/{name}")[0] == 204
    assert not os.path.exists(v["Mountpoint"])
    st, err = daemon.api.call("GET", f"/volumes/{name}")
    assert st == 404 and err["message"] == f"get {name}: no such volume"


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"Image": "busybox", "HostConfig": {"Binds": ["x/y:/data"]}}, 400,
         '"x/y" includes invalid characters for a local volume name, only '
         '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, '
         "use absolute path"),
        ({"Image": "busybox", "HostConfig": {"Binds": ["..:/data"]}}, 400,
         '".." includes invalid characters'),
        ({"Image": "busybox", "HostConfig": {"Binds": ["okvol-bt:rel"]}}, 400,
         "invalid mount path: 'rel' mount path must be absolute"),
        ({"Image": "busybox", "HostConfig": {"VolumesFrom": ["nosuch-bt"]}}, 404,
         "No such container: nosuch-bt"),
        ({"Image": "busybox", "HostConfig": {"Mounts": [
            {"Type": "bind", "Source": "/nonexistent-bt", "Target": "/x"}]}}, 400,
         "bind source path does not exist: /nonexistent-bt"),
        ({"Image": "busybox", "HostConfig": {"Binds": ["okvol-bt:/a"], "Tmpfs": {"/t": "bogus"}}},
         400, 'invalid tmpfs option ["bogus"]'),
        # a good named volume first, then a bad one: neither is created
        ({"Image": "busybox", "HostConfig": {"Binds": ["okvol-bt:/a", "bad/name:/b"]}}, 400,
         "includes invalid characters"),
    ],
)  # fmt: skip
def test_bad_mounts_change_nothing(daemon: Daemon, body: dict, status: int, message: str) -> None:
    before_c = daemon.api.call("GET", "/containers/json?all=1")[1]
    before_v = _volumes(daemon)
    st, err = daemon.api.call("POST", "/containers/create", body)
    assert st == status, err
    assert message in err["message"]
    assert daemon.api.call("GET", "/containers/json?all=1")[1] == before_c
    assert _volumes(daemon) == before_v


def test_named_volume_populated_shared_and_kept(daemon: Daemon) -> None:
    vol = _name("pop")
    try:
        cid, code, out = _run(
            daemon,
            {"Cmd": ["sh", "-c", "ls /bin/busybox && echo data > /bin/added"],
             "HostConfig": {"Binds": [f"{vol}:/bin"]}},
        )  # fmt: skip
        assert code == 0, out
        st, insp = daemon.api.call("GET", f"/containers/{cid}/json")
        (m,) = insp["Mounts"]
        assert m == {
            "Type": "volume", "Name": vol, "Source": f"{daemon.data_root}/volumes/{vol}/_data",
            "Destination": "/bin", "Driver": "local", "Mode": "z", "RW": True,
            "Propagation": "",
        }  # fmt: skip
        # the image's /bin was copied in; the container's write landed in the volume
        assert os.path.exists(os.path.join(m["Source"], "busybox"))
        st, err = daemon.api.call("DELETE", f"/volumes/{vol}")
        assert st == 409 and err["message"] == f"remove {vol}: volume is in use - [{cid}]"
        assert daemon.api.call("DELETE", f"/containers/{cid}?v=1")[0] == 204
        assert vol in _volumes(daemon)  # named volumes survive rm -v
        _, code, out = _run(
            daemon, {"Cmd": ["cat", "/d/added"], "HostConfig": {"Binds": [f"{vol}:/d:ro"]}}
        )
        assert code == 0 and "data" in out
    finally:
        daemon.remove_all_containers()
        daemon.api.call("DELETE", f"/volumes/{vol}")


def test_anonymous_volumes_go_with_rm_v_and_auto_remove(daemon: Daemon) -> None:
    before = _volumes(daemon)
    st, c = daemon.api.call(
        "POST", "/containers/create",
        {"Image": "busybox", "Cmd": ["true"], "Volumes": {"/anon": {}},
         "HostConfig": {"Mounts": [{"Type": "volume", "Target": "/anon2"}]}},
    )  # fmt: skip
    assert st == 201, c
    insp = daemon.api.call("GET", f"/containers/{c['Id']}/json")[1]
    anon = {m["Name"] for m in insp["Mounts"]}
    assert len(anon) == 2 and anon <= _volumes(daemon)
    for n in anon:
        assert daemon.api.call("GET", f"/volumes/{n}")[1]["Labels"] == {
            "com.docker.volume.anonymous": ""
        }
    assert daemon.api.call("DELETE", f"/containers/{c['Id']}?v=1")[0] == 204
    assert _volumes(daemon) == before
    # --rm (AutoRemove) removes them too, once the container has exited
    st, c = daemon.api.call(
        "POST", "/containers/create",
        {"Image": "busybox", "Cmd": ["true"], "Volumes": {"/anon": {}},
         "HostConfig": {"AutoRemove": True}},
    )  # fmt: skip
    assert st == 201
    fut_status = daemon.api.call("POST", f"/containers/{c['Id']}/start")[0]
    assert fut_status == 204
    daemon.api.call("POST", f"/containers/{c['Id']}/wait?condition=removed")
    assert _volumes(daemon) == before


def test_bind_tmpfs_and_readonly(daemon: Daemon) -> None:
    host = tempfile.mkdtemp(prefix="bt-bind-", dir="/tmp")
    missing = os.path.join(host, "made", "by", "start")
    try:
        with open(os.path.join(host, "f"), "w") as f:
            f.write("from host")
        _, code, out = _run(
            daemon,
            {"Cmd": ["sh", "-c",
                     "cat /h/f; echo back > /h/g; grep -E ' /(run|t) ' /proc/mounts;"
                     " touch /ro/x || echo READONLY"],
             "HostConfig": {"Binds": [f"{host}:/h", f"{missing}:/ro:ro"],
                            "Tmpfs": {"/run": "size=64m"},
                            "Mounts": [{"Type": "tmpfs", "Target": "/t",
                                        "TmpfsOptions": {"SizeBytes": 1 << 20}}]}},
        )  # fmt: skip
        assert code == 0, out
        assert "from host" in out and "READONLY" in out
        assert "/run tmpfs rw,nosuid,nodev,noexec,relatime,size=65536k" in out
        assert "/t tmpfs rw,nosuid,nodev,noexec,relatime,size=1024k" in out
        assert open(os.path.join(host, "g")).read() == "back\n"
        assert os.path.isdir(missing)  # -v creates a missing host path
    finally:
        daemon.remove_all_containers()
        shutil.rmtree(host, ignore_errors=True)


def _image_with_link(d: Daemon, busybox_tar: Path, link_target: str) -> str:
    """busybox plus /link -> link_target (absolute), imported as a new image."""
    with tarfile.open(busybox_tar) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))  # type: ignore[arg-type]
        layer = outer.extractfile(manifest[0]["Layers"][0]).read()  # type: ignore[union-attr]
    buf = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(layer)) as src, tarfile.open(fileobj=buf, mode="w") as dst:
        for m in src.getmembers():
            dst.addfile(m, src.extractfile(m) if m.isfile() else None)
        link = tarfile.TarInfo("link")
        link.type, link.linkname = tarfile.SYMTYPE, link_target
        dst.addfile(link)
    ref = _name("bt-esc")
    st, _, body = d.api.raw(
        "POST", f"/images/create?fromSrc=-&repo={ref}&tag=1", buf.getvalue(),
        {"Content-Type": "application/x-tar"},
    )  # fmt: skip
    assert st == 200, body
    return f"{ref}:1"


def test_symlinked_destination_stays_inside_root(daemon: Daemon, busybox_tar: Path) -> None:
    """A destination through an image symlink that points at a host path is resolved
    inside the container's root: the host directory is never mounted over."""
    host = tempfile.mkdtemp(prefix="bt-esc-", dir="/tmp")
    target = tempfile.mkdtemp(prefix="bt-esc-target-", dir="/tmp")
    image = _image_with_link(daemon, busybox_tar, target)
    try:
        open(os.path.join(host, "marker"), "w").close()
        st, c = daemon.api.call(
            "POST", "/containers/create",
            {"Image": image, "Cmd": ["ls", "/link/sub"],
             "HostConfig": {"Binds": [f"{host}:/link/sub"]}},
        )  # fmt: skip
        assert st == 201, c
        assert daemon.api.call("POST", f"/containers/{c['Id']}/start")[0] == 204
        assert daemon.api.call("POST", f"/containers/{c['Id']}/wait")[1]["StatusCode"] == 0
        _, _, logs = daemon.api.raw("GET", f"/containers/{c['Id']}/logs?stdout=1")
        assert b"marker" in logs  # seen through the link, inside the container
        assert os.listdir(target) == []  # the host directory stayed untouched
    finally:
        daemon.remove_all_containers()
        daemon.api.call("DELETE", f"/images/{image}?force=1")
        shutil.rmtree(host, ignore_errors=True)
        shutil.rmtree(target, ignore_errors=True)


def test_data_survives_daemon_restart(fresh_daemon: Daemon) -> None:
    d = fresh_daemon
    _, code, out = _run(
        d, {"Cmd": ["sh", "-c", "echo kept > /v/f"], "HostConfig": {"Binds": ["keep:/v"]}}
    )
    assert code == 0, out
    d.remove_all_containers()
    d.stop()
    d.start()
    st, v = d.api.call("GET", "/volumes/keep")
    assert st == 200 and v["Name"] == "keep"
    _, code, out = _run(d, {"Cmd": ["cat", "/v/f"], "HostConfig": {"Binds": ["keep:/v"]}})
    assert code == 0 and "kept" in out
    d.remove_all_containers()
    st, rep = d.api.call("POST", "/volumes/prune")
    assert st == 200 and rep["VolumesDeleted"] == []  # named: only with all=true
    st, rep = d.api.call("POST", '/volumes/prune?filters={"all":["true"]}')
    assert rep["VolumesDeleted"] == ["keep"]
