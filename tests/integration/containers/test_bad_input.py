"""Bad requests get dockerd's status and a {"message": ...}, and change nothing."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Daemon

pytestmark = pytest.mark.integration


def _state(d: Daemon) -> tuple[list[str], list[str]]:
    cs = sorted(c["Id"] for c in d.api.call("GET", "/containers/json?all=1")[1])
    ims = sorted(i["Id"] for i in d.api.call("GET", "/images/json")[1])
    return cs, ims


@pytest.fixture
def running(daemon: Daemon):  # type: ignore[no-untyped-def]
    st, body = daemon.api.call(
        "POST",
        "/containers/create?name=bad-input-run",
        {"Image": "busybox", "Cmd": ["sleep", "60"]},
    )
    assert st == 201, body
    assert daemon.api.call("POST", "/containers/bad-input-run/start")[0] == 204
    yield "bad-input-run"
    daemon.api.call("DELETE", "/containers/bad-input-run?force=1")


CASES = [
    ("POST", "/containers/create", b"{not json", 400, "invalid JSON"),
    ("POST", "/containers/create", b"", 400, "config cannot be empty"),
    ("POST", "/containers/create", b'{"Image": "nosuch:tag"}', 404, "No such image: nosuch:tag"),
    (
        "POST",
        "/containers/create?name=a%20b",
        b'{"Image": "busybox"}',
        400,
        "Invalid container name",
    ),
    (
        "POST",
        "/containers/create",
        b'{"Image": "busybox", "HostConfig": {"Memory": 10}}',
        400,
        "Minimum memory",
    ),
    (
        "POST",
        "/containers/create",
        b'{"Image": "busybox", "HostConfig": {"CapAdd": ["BOGUS"]}}',
        400,
        "unknown capability",
    ),
    (
        "POST",
        "/containers/create",
        b'{"Image": "busybox", "WorkingDir": "rel"}',
        400,
        "absolute path",
    ),
    ("POST", "/containers/nosuch/start", None, 404, "No such container: nosuch"),
    ("GET", "/containers/nosuch/json", None, 404, "No such container: nosuch"),
    ("DELETE", "/containers/nosuch", None, 404, "No such container: nosuch"),
    ("GET", "/containers/json?filters=%7Bnot", None, 400, "invalid JSON"),
    (
        "GET",
        "/containers/json?filters=%7B%22bogus%22%3A%5B%22x%22%5D%7D",
        None,
        400,
        "invalid filter 'bogus'",
    ),
    (
        "GET",
        "/containers/json?filters=%7B%22status%22%3A%5B%22sleepy%22%5D%7D",
        None,
        400,
        "invalid filter",
    ),
    ("GET", "/nosuchroute", None, 404, "page not found"),
    ("GET", "/v9.99/containers/json", None, 400, "is too new"),
    ("GET", "/v1.10/containers/json", None, 400, "is too old"),
    ("POST", "/images/load", b"this is not a tar archive" * 40, 400, ""),
    ("GET", "/images/nosuch:1/json", None, 404, "No such image: nosuch:1"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "message"), CASES)
def test_bad_request(
    daemon: Daemon, method: str, path: str, body: bytes | None, status: int, message: str
) -> None:
    before = _state(daemon)
    hdrs = {"Content-Type": "application/json"} if body is not None else {}
    st, headers, raw = daemon.api.raw(method, path, body, hdrs)
    assert st == status, raw
    doc = json.loads(raw)
    assert isinstance(doc.get("message"), str) and message in doc["message"], doc
    assert "Traceback" not in doc["message"]
    assert _state(daemon) == before


def test_state_conflicts(daemon: Daemon, running: str) -> None:
    api = daemon.api
    assert api.raw("POST", f"/containers/{running}/start")[0] == 304
    st, body = api.call("DELETE", f"/containers/{running}")
    assert st == 409 and "container is running" in body["message"]
    st, body = api.call("POST", f"/containers/{running}/kill?signal=SIGNOPE")
    assert st == 400 and "Invalid signal" in body["message"]
    st, body = api.call("GET", f"/containers/{running}/logs")
    assert st == 400 and "at least one stream" in body["message"]
    st, body = api.call("POST", f"/containers/{running}/wait?condition=sometime")
    assert st == 400 and "invalid condition" in body["message"]
    st, body = api.call("POST", "/containers/create?name=bad-input-run", {"Image": "busybox"})
    assert st == 409 and "already in use" in body["message"]
    # The container is untouched by all of that.
    assert api.call("GET", f"/containers/{running}/json")[1]["State"]["Running"] is True
    api.call("POST", f"/containers/{running}/kill")
    assert api.raw("POST", f"/containers/{running}/stop")[0] == 304
    st, body = api.call("POST", f"/containers/{running}/kill")
    assert st == 409 and "is not running" in body["message"]


def test_ping_head_and_headers(daemon: Daemon) -> None:
    st, headers, body = daemon.api.raw("HEAD", "/_ping")
    assert st == 200 and body == b""
    assert headers["Api-Version"] == "1.50" and headers["Ostype"] == "linux"
    st, _, body = daemon.api.raw("GET", "/v1.24/_ping")
    assert st == 200 and body == b"OK"
