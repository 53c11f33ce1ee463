"""cp through links the container (or the tar itself) sets up: everything lands in, and
is read from, the container's root; special files and hard links survive the trip."""

from __future__ import annotations

import base64
import io
import json
import os
import tarfile
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Daemon

pytestmark = pytest.mark.integration


@pytest.fixture
def api(daemon: Daemon) -> Iterator[Any]:
    yield daemon.api
    daemon.remove_all_containers()


def start(api: Any, name: str, script: str) -> None:
    """A container that ran `script` and sleeps; returns once the script is done."""
    body = {"Image": "busybox", "Cmd": ["sh", "-c", f"{script}; touch /done; sleep 60"]}
    status, resp = api.call("POST", f"/containers/create?name={name}", body)
    assert status == 201, resp
    assert api.call("POST", f"/containers/{name}/start")[0] == 204
    for _ in range(500):
        if api.raw("HEAD", f"/containers/{name}/archive?path=/done")[0] == 200:
            return
        time.sleep(0.02)
    raise AssertionError("the container's script did not finish")


def stat_of(api: Any, name: str, path: str) -> dict[str, Any]:
    status, headers, _ = api.raw("HEAD", f"/containers/{name}/archive?path={path}")
    assert status == 200, (path, status)
    raw = {k.lower(): v for k, v in headers.items()}["x-docker-container-path-stat"]
    return json.loads(base64.b64decode(raw))  # type: ignore[no-any-return]


def get_tar(api: Any, name: str, path: str) -> tarfile.TarFile:
    status, _, raw = api.raw("GET", f"/containers/{name}/archive?path={path}")
    assert status == 200, raw[:200]
    return tarfile.open(fileobj=io.BytesIO(raw))


def test_trailing_slash_follows_a_link_to_the_root(api: Any) -> None:
    start(api, "l-slash", "ln -s / /rootlink")
    st = stat_of(api, "l-slash", "/rootlink")
    assert st["mode"] & (1 << 27) and st["linkTarget"] == "/"
    st = stat_of(api, "l-slash", "/rootlink/")
    assert st["mode"] & (1 << 31) and st["linkTarget"] == "" and st["name"] == "rootlink"
    with get_tar(api, "l-slash", "/rootlink/etc/") as tf:
        f = tf.extractfile("etc/passwd")
        assert f is not None and b"nobody:x:65534" in f.read()


def test_tar_members_through_links_stay_inside(api: Any) -> None:
    start(api, "l-put", "true")
    marker = f"bt-through-link-{uuid.uuid4().hex[:8]}"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        ln = tarfile.TarInfo("lnk")
        ln.type, ln.linkname = tarfile.SYMTYPE, "/"
        tf.addfile(ln)
        data = b"through\n"
        ti = tarfile.TarInfo(f"lnk/tmp/{marker}")
        ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data))
        hl = tarfile.TarInfo("hard-passwd")
        hl.type, hl.linkname = tarfile.LNKTYPE, "lnk/etc/passwd"
        tf.addfile(hl)
    status, _, raw = api.raw("PUT", "/containers/l-put/archive?path=/", buf.getvalue())
    assert status == 200, raw
    try:
        assert not os.path.exists(f"/tmp/{marker}")
        with get_tar(api, "l-put", f"/tmp/{marker}") as tf:
            f = tf.extractfile(marker)
            assert f is not None and f.read() == data
        with get_tar(api, "l-put", "/hard-passwd") as tf:
            f = tf.extractfile("hard-passwd")
            assert f is not None and b"nobody:x:65534" in f.read()
    finally:
        if os.path.exists(f"/tmp/{marker}"):
            os.unlink(f"/tmp/{marker}")


def test_special_files_hard_links_and_modes_round_trip(api: Any) -> None:
    start(
        api,
        "l-special",
        "mkdir -p /s/sub && mkfifo /s/fifo && echo x > /s/a && ln /s/a /s/sub/b"
        " && ln -s ../a /s/sub/rel && chmod 4751 /s/a && chown 12:34 /s/sub",
    )
    with get_tar(api, "l-special", "/s") as tf:
        m = {ti.name: ti for ti in tf.getmembers()}
    assert sorted(m) == ["s", "s/a", "s/fifo", "s/sub", "s/sub/b", "s/sub/rel"]
    assert m["s/fifo"].isfifo()
    assert m["s/a"].isreg() and m["s/a"].mode == 0o4751
    assert m["s/sub/b"].islnk() and m["s/sub/b"].linkname == "s/a"
    assert m["s/sub/rel"].issym() and m["s/sub/rel"].linkname == "../a"
    assert (m["s/sub"].uid, m["s/sub"].gid) == (12, 34)
    # and back in, with the owners kept
    status, _, raw = api.raw("GET", "/containers/l-special/archive?path=/s")
    status, _, body = api.raw("PUT", "/containers/l-special/archive?path=/tmp&copyUIDGID=1", raw)
    assert status == 200, body
    with get_tar(api, "l-special", "/tmp/s") as tf:
        back = {ti.name: ti for ti in tf.getmembers()}
    assert back["s/sub/b"].islnk() and back["s/fifo"].isfifo()
    assert (back["s/sub"].uid, back["s/sub"].gid) == (12, 34)
    assert back["s/a"].mode == 0o4751 and back["s"].mtime == m["s"].mtime


def test_no_overwrite_dir_non_dir_and_dot_member(api: Any) -> None:
    start(api, "l-over", "mkdir -p /o/d && echo f > /o/f")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        ti = tarfile.TarInfo("d")
        ti.size = 1
        tf.addfile(ti, io.BytesIO(b"x"))
    q = "/containers/l-over/archive?path=/o&noOverwriteDirNonDir=1"
    status, _, body = api.raw("PUT", q, buf.getvalue())
    assert status == 400 and b"cannot overwrite directory" in body
    # a "." member is the destination itself: its mode is applied there
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        dot = tarfile.TarInfo(".")
        dot.type, dot.mode = tarfile.DIRTYPE, 0o711
        tf.addfile(dot)
    status, _, body = api.raw("PUT", "/containers/l-over/archive?path=/o/d", buf.getvalue())
    assert status == 200, body
    assert stat_of(api, "l-over", "/o/d")["mode"] & 0o777 == 0o711
