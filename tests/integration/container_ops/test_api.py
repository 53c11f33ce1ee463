"""cp (archive), changes, export, commit, top, stats, pause, update, restart through the
Engine API of a real berthd."""

from __future__ import annotations

import base64
import io
import json
import tarfile
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Daemon
from tests.waiting import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def api(daemon: Daemon) -> Iterator[Any]:
    yield daemon.api
    daemon.remove_all_containers()


def run(api: Any, name: str, *cmd: str, start: bool = True) -> str:
    status, body = api.call(
        "POST", f"/containers/create?name={name}", {"Image": "busybox", "Cmd": list(cmd)}
    )
    assert status == 201, body
    if start:
        assert api.call("POST", f"/containers/{name}/start")[0] == 204
    return str(body["Id"])


def stat_of(headers: dict[str, str]) -> dict[str, Any]:
    raw = {k.lower(): v for k, v in headers.items()}["x-docker-container-path-stat"]
    return json.loads(base64.b64decode(raw))  # type: ignore[no-any-return]


def tar_of(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mode = 0o640
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def test_archive_stat_header(api: Any) -> None:
    run(api, "a-stat", "sleep", "60")
    status, headers, body = api.raw("HEAD", "/containers/a-stat/archive?path=/etc/passwd")
    assert status == 200 and body == b""
    st = stat_of(headers)
    assert st["name"] == "passwd" and st["size"] > 0 and st["linkTarget"] == ""
    assert st["mode"] & 0o777 == 0o644 and not st["mode"] & (1 << 31)
    assert st["mtime"].endswith("Z")
    st = stat_of(api.raw("HEAD", "/containers/a-stat/archive?path=/bin")[1])
    assert st["mode"] & (1 << 31)  # Go's ModeDir
    # busybox applets are symlinks: Go's ModeSymlink and the resolved target
    st = stat_of(api.raw("HEAD", "/containers/a-stat/archive?path=/bin/ls")[1])
    assert st["mode"] & (1 << 27) and st["linkTarget"] == "/bin/busybox"


def test_archive_not_found_and_bad_input(api: Any) -> None:
    run(api, "a-bad", "sleep", "60")
    status, body = api.call("GET", "/containers/a-bad/archive?path=/nope")
    assert status == 404
    assert body["message"] == "Could not find the file /nope in container a-bad"
    status, _, _ = api.raw("HEAD", "/containers/a-bad/archive?path=/nope")
    assert status == 404
    assert api.call("GET", "/containers/a-bad/archive")[0] == 400
    status, body = api.call("GET", "/containers/nosuch/archive?path=/")
    assert status == 404 and body["message"] == "No such container: nosuch"
    # a PUT onto a file is refused; into a missing dir is a 404
    data = tar_of({"x": b"1"})
    status, _, raw = api.raw("PUT", "/containers/a-bad/archive?path=/etc/passwd", data)
    assert status == 400 and b"extraction point is not a directory" in raw
    status, _, raw = api.raw("PUT", "/containers/a-bad/archive?path=/nodir", data)
    assert status == 404


def test_put_then_get_stopped_container(api: Any) -> None:
    run(api, "a-put", "true", start=False)
    data = tar_of({"dir/inner.txt": b"inner\n", "top.txt": b"top\n"})
    status, _, raw = api.raw("PUT", "/containers/a-put/archive?path=/tmp", data)
    assert status == 200, raw
    status, headers, raw = api.raw("GET", "/containers/a-put/archive?path=/tmp/dir")
    assert status == 200
    with tarfile.open(fileobj=io.BytesIO(raw)) as tf:
        assert sorted(tf.getnames()) == ["dir", "dir/inner.txt"]
        f = tf.extractfile("dir/inner.txt")
        assert f is not None and f.read() == b"inner\n"
        ti = tf.getmember("dir/inner.txt")
        assert (ti.uid, ti.gid, ti.mode) == (0, 0, 0o640)
    # "/." copies the contents
    raw = api.raw("GET", "/containers/a-put/archive?path=/tmp/dir/.")[2]
    with tarfile.open(fileobj=io.BytesIO(raw)) as tf:
        assert sorted(tf.getnames()) == [".", "./inner.txt"]
    # the files are in the container's layer: they show in its changes
    status, changes = api.call("GET", "/containers/a-put/changes")
    assert {"Path": "/tmp/top.txt", "Kind": 1} in changes
    # and nothing stays mounted for the stopped container
    with open("/proc/self/mountinfo") as f:
        assert "view-" not in f.read()


def test_symlinks_and_dotdot_resolve_inside(api: Any) -> None:
    run(api, "a-esc", "sh", "-c", "ln -s / /rootlink; ln -s ../../../../etc /tmp/up; sleep 60")
    wait_for(
        lambda: api.raw("HEAD", "/containers/a-esc/archive?path=/tmp/up")[0] == 200,
        "the container's two links",
    )
    raw = api.raw("GET", "/containers/a-esc/archive?path=/rootlink/etc/passwd")[2]
    with tarfile.open(fileobj=io.BytesIO(raw)) as tf:
        f = tf.extractfile("passwd")
        assert f is not None and b"nobody:x:65534" in f.read()
    raw = api.raw("GET", "/containers/a-esc/archive?path=/tmp/up/passwd")[2]
    with tarfile.open(fileobj=io.BytesIO(raw)) as tf:
        f = tf.extractfile("passwd")
        assert f is not None
        assert f.read() == _container_passwd(api, "a-esc")
    # writing through an escaping link lands inside the container too
    data = tar_of({"written-by-test": b"x"})
    status, _, _ = api.raw("PUT", "/containers/a-esc/archive?path=/tmp/up", data)
    assert status == 200
    st = stat_of(api.raw("HEAD", "/containers/a-esc/archive?path=/etc/written-by-test")[1])
    assert st["size"] == 1
    import os

    assert not os.path.exists("/etc/written-by-test")


def _container_passwd(api: Any, name: str) -> bytes:
    raw = api.raw("GET", f"/containers/{name}/archive?path=/etc/passwd")[2]
    with tarfile.open(fileobj=io.BytesIO(raw)) as tf:
        f = tf.extractfile("passwd")
        assert f is not None
        return f.read()


def test_export_running_and_changes_kinds(api: Any) -> None:
    run(api, "a-exp", "sh", "-c", "rm /bin/cat; echo hi > /etc/motd && sleep 60")

    def _changed() -> bool:
        paths = {ch["Path"] for ch in api.call("GET", "/containers/a-exp/changes")[1] or []}
        return {"/bin/cat", "/etc/motd"} <= paths

    wait_for(_changed, "the container's changes to /bin and /etc")
    status, headers, raw = api.raw("GET", "/containers/a-exp/export")
    assert status == 200
    with tarfile.open(fileobj=io.BytesIO(raw)) as tf:
        names = set(tf.getnames())
    assert "etc/motd" in names and "bin/busybox" in names and "bin/cat" not in names
    status, changes = api.call("GET", "/containers/a-exp/changes")
    assert status == 200
    assert {"Path": "/bin/cat", "Kind": 2} in changes
    assert {"Path": "/etc/motd", "Kind": 1} in changes
    assert {"Path": "/bin", "Kind": 0} in changes
    assert [c["Path"] for c in changes] == sorted(c["Path"] for c in changes)


def test_commit_keeps_whiteouts_and_config(api: Any, daemon: Daemon) -> None:
    run(api, "a-commit", "sh", "-c", "rm /bin/cat; echo v > /v")
    api.call("POST", "/containers/a-commit/wait")
    status, body = api.call(
        "POST",
        "/commit?container=a-commit&repo=a-committed&tag=t&comment=why&author=me"
        "&changes=ENV%20A%3Db&changes=WORKDIR%20%2Ftmp",
        {"Labels": {"k": "v"}},
    )
    assert status == 201, body
    try:
        status, img = api.call("GET", "/images/a-committed:t/json")
        assert img["Id"] == body["Id"]
        assert img["Comment"] == "why" and img["Author"] == "me"
        assert "A=b" in img["Config"]["Env"] and img["Config"]["WorkingDir"] == "/tmp"
        assert img["Config"]["Labels"] == {"k": "v"}
        assert len(img["RootFS"]["Layers"]) == 2
        status, c = api.call(
            "POST",
            "/containers/create?name=a-child",
            {"Image": "a-committed:t", "Cmd": ["sh", "-c", "cat /v; pwd; test -e /bin/cat"]},
        )
        cid = c["Id"]
        api.call("POST", f"/containers/{cid}/start")
        assert api.call("POST", f"/containers/{cid}/wait")[1]["StatusCode"] == 1
        _, _, logs = api.raw("GET", f"/containers/{cid}/logs?stdout=1&stderr=1")
        assert b"v\n" in logs and b"/tmp\n" in logs
        status, hist = api.call("GET", "/images/a-committed:t/history")
        assert hist[0]["Comment"] == "why"
    finally:
        daemon.remove_all_containers()
        api.call("DELETE", "/images/a-committed:t")


def test_top_shape_and_errors(api: Any) -> None:
    cid = run(api, "a-top", "sleep", "61")
    status, doc = api.call("GET", "/containers/a-top/top?ps_args=-o%20pid,args")
    assert status == 200
    assert doc["Titles"] == ["PID", "COMMAND"]
    assert [p[1] for p in doc["Processes"]] == ["sleep 61"]
    api.call("POST", "/containers/a-top/kill")
    status, body = api.call("GET", "/containers/a-top/top")
    assert status == 409 and body["message"] == f"Container {cid} is not running"


def test_stats_shape(api: Any) -> None:
    cid = run(api, "a-stats", "sleep", "60")
    status, s = api.call("GET", "/containers/a-stats/stats?stream=0")
    assert status == 200
    assert s["id"] == cid and s["name"] == "/a-stats"
    cpu = s["cpu_stats"]
    assert cpu["online_cpus"] >= 1 and cpu["system_cpu_usage"] > 0
    assert set(cpu["cpu_usage"]) >= {"total_usage", "usage_in_kernelmode", "usage_in_usermode"}
    assert s["precpu_stats"]["system_cpu_usage"] < cpu["system_cpu_usage"]
    assert s["preread"] != "0001-01-01T00:00:00Z"
    assert s["memory_stats"]["usage"] > 0 and s["memory_stats"]["limit"] > 0
    assert s["pids_stats"]["current"] == 1
    status, s = api.call("GET", "/containers/a-stats/stats?stream=0&one-shot=1")
    assert s["preread"] == "0001-01-01T00:00:00Z"
    # streaming: one frame a second, the second with the first as precpu
    status, _, raw = api.raw("GET", "/containers/a-stats/stats?stream=0")
    api.call("POST", "/containers/a-stats/kill")
    status, s = api.call("GET", "/containers/a-stats/stats?stream=0")
    assert status == 200 and s["read"] == "0001-01-01T00:00:00Z" and s["memory_stats"] == {}


def test_stats_stream_frames(daemon: Daemon, api: Any) -> None:
    import http.client

    from tests.apiclient import UnixHTTPConnection

    run(api, "a-stream", "sleep", "60")
    conn: http.client.HTTPConnection = UnixHTTPConnection(daemon.sock, timeout=10)
    try:
        conn.request("GET", "/containers/a-stream/stats")
        r = conn.getresponse()
        first = json.loads(r.readline())
        second = json.loads(r.readline())
    finally:
        conn.close()
    assert first["preread"] == "0001-01-01T00:00:00Z"
    assert second["precpu_stats"] == first["cpu_stats"]
    assert second["preread"] == first["read"]


def test_pause_errors_and_restart_of_paused(api: Any) -> None:
    cid = run(api, "a-pause", "sleep", "60", start=False)
    status, body = api.call("POST", "/containers/a-pause/pause")
    assert status == 409 and body["message"] == f"Container {cid} is not running"
    api.call("POST", "/containers/a-pause/start")
    status, body = api.call("POST", "/containers/a-pause/unpause")
    assert status == 409 and body["message"] == f"Container {cid} is not paused"
    assert api.call("POST", "/containers/a-pause/pause")[0] == 204
    status, info = api.call("GET", "/containers/a-pause/json")
    assert info["State"]["Status"] == "paused" and info["State"]["Paused"] is True
    assert info["State"]["Running"] is True
    # restart of a paused container: stopped (thawed for the signal) and started
    assert api.call("POST", "/containers/a-pause/restart?t=0")[0] == 204
    status, info = api.call("GET", "/containers/a-pause/json")
    assert info["State"]["Status"] == "running" and info["State"]["Paused"] is False


def test_update_rules(api: Any) -> None:
    cid = run(api, "a-upd", "sleep", "60", start=False)
    status, body = api.call("POST", "/containers/a-upd/update", {"Memory": 1024})
    assert status == 400 and body["message"] == "Minimum memory limit allowed is 6MB"
    status, body = api.call(
        "POST", "/containers/a-upd/update", {"NanoCpus": 500000000, "CpuQuota": 50000}
    )
    assert status == 400 and "Conflicting options" in body["message"]
    status, body = api.call("POST", "/containers/a-upd/update", {"CpuShares": 512})
    assert status == 200 and body == {"Warnings": []}
    assert api.call("GET", "/containers/a-upd/json")[1]["HostConfig"]["CpuShares"] == 512
    api.call("POST", "/containers/a-upd/start")
    import glob

    cpu = glob.glob(f"/sys/fs/cgroup/cpu/*/{cid}/cpu.shares")
    assert cpu and open(cpu[0]).read().strip() == "512"  # noqa: SIM115
    status, body = api.call(
        "POST", "/containers/a-upd/update", {"Memory": 32 << 20, "MemorySwap": 64 << 20}
    )
    assert status == 200
    status, body = api.call("POST", "/containers/a-upd/update", {"Memory": 128 << 20})
    assert status == 409
    assert body["message"] == (
        f"Cannot update container {cid}: Memory limit should be smaller than already set "
        "memoryswap limit, update the memoryswap at the same time"
    )


def test_restart_keeps_rm_container(api: Any) -> None:
    status, body = api.call(
        "POST",
        "/containers/create?name=a-rmrestart",
        {"Image": "busybox", "Cmd": ["sleep", "60"], "HostConfig": {"AutoRemove": True}},
    )
    assert status == 201
    api.call("POST", "/containers/a-rmrestart/start")
    status, body = api.call("POST", "/containers/a-rmrestart/restart?t=0")
    assert status == 204, body
    status, info = api.call("GET", "/containers/a-rmrestart/json")
    assert status == 200 and info["State"]["Status"] == "running"
