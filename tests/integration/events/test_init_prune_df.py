"""--init (tini as PID 1), container/image prune and GET /system/df on a real berthd."""

from __future__ import annotations

import json
import os
import time
import urllib.parse

import pytest

from berth.runtime import spec
from tests.conftest import Daemon

pytestmark = pytest.mark.integration

needs_init = pytest.mark.skipif(
    spec.find_init() is None, reason="no init binary: install Debian's tini package"
)


def _create(d: Daemon, name: str, cmd: list[str], **extra: object) -> str:
    st, body = d.api.call(
        "POST", f"/containers/create?name={name}", {"Image": "busybox", "Cmd": cmd, **extra}
    )
    assert st == 201, body
    return body["Id"]  # type: ignore[no-any-return]


def _logs(d: Daemon, name: str) -> bytes:
    st, _, raw = d.api.raw("GET", f"/containers/{name}/logs?stdout=1&stderr=1")
    assert st == 200
    out, i = b"", 0
    while i + 8 <= len(raw):  # demultiplex the 8-byte frame headers
        n = int.from_bytes(raw[i + 4 : i + 8], "big")
        out += raw[i + 8 : i + 8 + n]
        i += 8 + n
    return out


@pytest.fixture
def d(daemon: Daemon):  # type: ignore[no-untyped-def]
    yield daemon
    daemon.remove_all_containers()


@needs_init
def test_init_runs_as_pid_1_read_only_and_forwards_signals(d: Daemon) -> None:
    cmd = ["sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; echo; grep docker-init /proc/mounts"]
    _create(d, "init-ps", cmd, HostConfig={"Init": True})
    assert d.api.call("POST", "/containers/init-ps/start")[0] == 204
    assert d.api.call("POST", "/containers/init-ps/wait")[1]["StatusCode"] == 0
    out = _logs(d, "init-ps").decode()
    assert out.splitlines()[0].startswith("/sbin/docker-init -- sh -c")
    assert " ro," in out.splitlines()[1] or " ro " in out.splitlines()[1]
    info = d.api.call("GET", "/containers/init-ps/json")[1]
    assert info["Path"] == "sh" and info["HostConfig"]["Init"] is True

    # sleep as PID 1 would ignore SIGTERM; under tini it gets it and dies at once
    _create(d, "init-stop", ["sleep", "60"], HostConfig={"Init": True})
    assert d.api.call("POST", "/containers/init-stop/start")[0] == 204
    t0 = time.monotonic()
    assert d.api.call("POST", "/containers/init-stop/stop?t=10")[0] == 204
    assert time.monotonic() - t0 < 5
    assert d.api.call("GET", "/containers/init-stop/json")[1]["State"]["ExitCode"] == 143

    _create(d, "init-code", ["sh", "-c", "exit 7"], HostConfig={"Init": True})
    assert d.api.call("POST", "/containers/init-code/start")[0] == 204
    assert d.api.call("POST", "/containers/init-code/wait")[1]["StatusCode"] == 7


def _q(flt: dict) -> str:
    return "?filters=" + urllib.parse.quote(json.dumps(flt))


def test_container_prune_removes_stopped_ones_matching_the_filters(d: Daemon) -> None:
    keep = _create(d, "pr-keep", ["true"], Labels={"keep": "yes"})
    gone = _create(d, "pr-gone", ["sh", "-c", "head -c 5000 /dev/zero > /blob"])
    run = _create(d, "pr-run", ["sleep", "60"])
    for n in ("pr-keep", "pr-gone", "pr-run"):
        assert d.api.call("POST", f"/containers/{n}/start")[0] == 204
    for n in ("pr-keep", "pr-gone"):
        d.api.call("POST", f"/containers/{n}/wait")
    st, body = d.api.call("POST", "/containers/prune" + _q({"label!": ["keep"]}))
    assert st == 200, body
    assert body["ContainersDeleted"] == [gone]
    assert body["SpaceReclaimed"] >= 5000
    ids = {c["Id"] for c in d.api.call("GET", "/containers/json?all=1")[1]}
    assert keep in ids and run in ids and gone not in ids
    # until before their creation: nothing goes
    st, body = d.api.call("POST", "/containers/prune" + _q({"until": ["1h"]}))
    assert st == 200 and body["ContainersDeleted"] is None and body["SpaceReclaimed"] == 0
    st, body = d.api.call("POST", "/containers/prune" + _q({"label": ["keep=yes"]}))
    assert body["ContainersDeleted"] == [keep]
    st, body = d.api.call("POST", "/containers/prune" + _q({"status": ["exited"]}))
    assert st == 400 and "invalid filter 'status'" in body["message"]


def test_system_df_reports_images_containers_and_sizes(d: Daemon) -> None:
    cid = _create(d, "df-one", ["sh", "-c", "head -c 3000 /dev/zero > /blob"])
    assert d.api.call("POST", "/containers/df-one/start")[0] == 204
    d.api.call("POST", "/containers/df-one/wait")
    st, body = d.api.call("GET", "/system/df")
    assert st == 200, body
    assert set(body) == {"LayersSize", "Images", "Containers", "Volumes", "BuildCache"}
    assert body["BuildCache"] == [] and isinstance(body["Volumes"], list)
    img = next(i for i in body["Images"] if "busybox:latest" in i["RepoTags"])
    assert img["Containers"] == 1 and img["Size"] > 0 and img["SharedSize"] >= 0
    assert body["LayersSize"] >= img["Size"]
    c = next(c for c in body["Containers"] if c["Id"] == cid)
    assert c["SizeRw"] >= 3000 and c["SizeRootFs"] == c["SizeRw"] + img["Size"]
    assert c["Names"] == ["/df-one"] and c["State"] == "exited"
    st, body = d.api.call("GET", "/system/df?type=container")
    assert body["Images"] is None and body["Containers"] and body["LayersSize"] == 0
    st, body = d.api.call("GET", "/system/df?type=nope")
    assert st == 400 and "unknown object type" in body["message"]


def test_image_prune_removes_dangling_images_only(fresh_daemon: Daemon) -> None:
    d = fresh_daemon
    # a file of its own: an untouched container exports busybox's very layer (same
    # diff_id), which the import then shares and a prune cannot reclaim
    _create(d, "exp", ["sh", "-c", "head -c 3000 /dev/zero > /made-here"])
    assert d.api.call("POST", "/containers/exp/start")[0] == 204
    d.api.call("POST", "/containers/exp/wait")
    st, _, tar = d.api.raw("GET", "/containers/exp/export")
    assert st == 200
    st, _, out = d.api.raw("POST", "/images/create?fromSrc=-", tar)
    assert st == 200, out
    before = {i["Id"] for i in d.api.call("GET", "/images/json")[1]}
    dangling = [i["Id"] for i in d.api.call("GET", "/images/json")[1] if not i["RepoTags"]]
    assert len(dangling) == 1
    st, body = d.api.call("POST", "/images/prune")
    assert st == 200, body
    assert {"Deleted": dangling[0]} in body["ImagesDeleted"]
    assert body["SpaceReclaimed"] > 0
    after = {i["Id"] for i in d.api.call("GET", "/images/json")[1]}
    assert after == before - {dangling[0]}
    # busybox is used by a container: even dangling=false keeps it
    st, body = d.api.call("POST", "/images/prune" + _q({"dangling": ["false"]}))
    assert st == 200 and body["ImagesDeleted"] is None
    assert os.path.exists(d.data_root)
