"""Engine errors become statuses with {"message": ...} bodies, through the real router."""

from __future__ import annotations

from tests.unit.api.fake_backend import FakeBackend, container
from tests.unit.api.route_client import request


def _backend() -> FakeBackend:
    be = FakeBackend()
    be.containers.add(container(1, "web", status="running"))
    be.containers.add(container(2, "old", status="exited"))
    return be


def test_no_such_container_is_404_with_the_engines_message() -> None:
    a = request(_backend(), "GET", "/containers/nope/json")
    assert a.status == 404
    assert a.headers["content-type"] == "application/json"
    assert a.json() == {"message": "No such container: nope"}


def test_a_conflict_is_409() -> None:
    be = _backend()
    a = request(be, "DELETE", "/containers/web")
    assert a.status == 409
    assert "container is running" in a.json()["message"]
    assert be.containers.get("web").name == "web"  # still there


def test_a_forced_remove_of_the_same_container_goes() -> None:
    be = _backend()
    assert request(be, "DELETE", "/containers/web?force=1").status == 204
    assert [c.name for c in be.containers.all()] == ["old"]


def test_a_bad_boolean_is_400() -> None:
    a = request(_backend(), "GET", "/containers/json?all=maybe")
    assert a.status == 400
    assert a.json() == {"message": "invalid boolean value for all: 'maybe'"}


def test_a_bad_int_is_400_before_the_engine_is_asked() -> None:
    be = _backend()
    a = request(be, "POST", "/containers/web/stop?t=soon")
    assert a.status == 400
    assert a.json() == {"message": "invalid value for t: 'soon'"}
    assert not [c for c in a.calls if c[0] == "stop"]


def test_bad_filters_json_is_400() -> None:
    a = request(_backend(), "GET", "/containers/json?filters=%7Bnope")
    assert a.status == 400
    assert a.json()["message"].startswith("invalid JSON in filters:")


def test_a_create_body_of_the_wrong_type_is_400_and_nothing_is_created() -> None:
    be = _backend()
    a = request(be, "POST", "/containers/create?name=x", {"Image": 5})
    assert a.status == 400
    assert "Image" in a.json()["message"]
    assert not [c for c in a.calls if c[0] == "create"]
    assert len(be.containers.all()) == 2


def test_logs_without_a_stream_is_400() -> None:
    a = request(_backend(), "GET", "/containers/web/logs")
    assert a.status == 400
    assert a.json() == {"message": "Bad parameters: you must choose at least one stream"}


def test_unknown_path_is_404_and_wrong_method_405() -> None:
    be = _backend()
    a = request(be, "GET", "/nowhere")
    assert (a.status, a.json()) == (404, {"message": "page not found"})
    a = request(be, "PUT", "/containers/json")
    assert (a.status, a.json()) == (405, {"message": "method not allowed"})


def test_versions_out_of_range_are_400() -> None:
    be = _backend()
    a = request(be, "GET", "/v9.99/containers/json")
    assert a.status == 400
    assert a.json()["message"].startswith("client version 9.99 is too new.")
    a = request(be, "GET", "/v1.0/containers/json")
    assert a.status == 400
    assert "is too old" in a.json()["message"]


def test_no_such_exec_and_no_such_volume_are_404() -> None:
    be = _backend()
    a = request(be, "GET", "/exec/feed/json")
    assert (a.status, a.json()) == (404, {"message": "No such exec instance: feed"})
    a = request(be, "GET", "/volumes/gone")
    assert (a.status, a.json()) == (404, {"message": "get gone: no such volume"})


def test_an_absent_feature_answers_dockerds_status_without_the_backend() -> None:
    a = request(_backend(), "GET", "/plugins/some/thing/json")
    assert (a.status, a.json()) == (404, {"message": 'plugin "some/thing" not found'})
