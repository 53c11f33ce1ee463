"""A string where a boolean belongs is refused (400, Go's wording), never taken as true:
`"Privileged": "false"` once gave a container every capability and host device."""

from __future__ import annotations

import pytest

from tests.conftest import Daemon

pytestmark = pytest.mark.integration


def _names(d: Daemon) -> set[str]:
    return {n for c in d.api.call("GET", "/containers/json?all=1")[1] for n in c["Names"]}


@pytest.mark.parametrize("value", ["false", "true", "0", 1, [], {}])
def test_privileged_must_be_a_json_boolean(daemon: Daemon, value: object) -> None:
    before = _names(daemon)
    st, body = daemon.api.call(
        "POST",
        "/containers/create?name=typed-priv",
        {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"Privileged": value}},
    )
    assert st == 400, body
    assert body["message"].startswith("invalid JSON: json: cannot unmarshal ")
    assert "Go struct field HostConfig.HostConfig.Privileged of type bool" in body["message"]
    assert _names(daemon) == before  # nothing stored


def test_string_false_does_not_privilege_a_started_container(daemon: Daemon) -> None:
    """The end-to-end check: with a JSON false the container has Docker's default caps."""
    st, body = daemon.api.call(
        "POST",
        "/containers/create?name=typed-unpriv",
        {"Image": "busybox", "Cmd": ["sleep", "30"], "HostConfig": {"Privileged": False}},
    )
    assert st == 201, body
    try:
        assert daemon.api.call("POST", "/containers/typed-unpriv/start")[0] == 204
        st, ex = daemon.api.call(
            "POST",
            "/containers/typed-unpriv/exec",
            {"Cmd": ["grep", "CapEff", "/proc/self/status"], "AttachStdout": True},
        )
        assert st == 201, ex
        st, _, out = daemon.api.raw(
            "POST", f"/exec/{ex['Id']}/start", b'{"Detach": false, "Tty": true}',
            {"Content-Type": "application/json"},
        )  # fmt: skip
        assert st == 200
        # docker's default set is 0x00000000a80425fb; all caps would be 0x000001ffffffffff
        assert b"00000000a80425fb" in out, out
    finally:
        daemon.api.call("DELETE", "/containers/typed-unpriv?force=1")


def test_exec_privileged_must_be_a_boolean(daemon: Daemon) -> None:
    st, body = daemon.api.call(
        "POST", "/containers/create?name=typed-exec", {"Image": "busybox", "Cmd": ["sleep", "30"]}
    )
    assert st == 201, body
    try:
        assert daemon.api.call("POST", "/containers/typed-exec/start")[0] == 204
        st, body = daemon.api.call(
            "POST", "/containers/typed-exec/exec", {"Cmd": ["true"], "Privileged": "false"}
        )
        assert st == 400, body
        assert "Go struct field ExecOptions.Privileged of type bool" in body["message"]
    finally:
        daemon.api.call("DELETE", "/containers/typed-exec?force=1")
