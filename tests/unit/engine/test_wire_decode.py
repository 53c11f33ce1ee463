"""Request bodies are decoded with Go's type rules at the edge: no truthy strings."""

from __future__ import annotations

import pytest

from berth.engine import wire
from berth.engine.containers import create
from berth.engine.errors import InvalidParameter


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"HostConfig": {"Privileged": "false"}},
            "json: cannot unmarshal string into Go struct field HostConfig.Privileged of type bool",
        ),
        (
            {"HostConfig": {"Privileged": 1}},
            "json: cannot unmarshal number into Go struct field HostConfig.Privileged of type bool",
        ),
        (
            {"Tty": "yes"},
            "json: cannot unmarshal string into Go struct field Config.Tty of type bool",
        ),
        (
            {"HostConfig": {"Memory": "lots"}},
            "json: cannot unmarshal string into Go struct field HostConfig.Memory of type int64",
        ),
        (
            {"HostConfig": {"Memory": 1e30}},
            "json: cannot unmarshal number 1e+30 into Go struct field HostConfig.Memory of type int64",
        ),
        (
            {"HostConfig": {"Memory": 1 << 70}},
            f"json: cannot unmarshal number {1 << 70} into Go struct field HostConfig.Memory of type int64",
        ),
        (
            {"Env": "A=1"},
            "json: cannot unmarshal string into Go struct field Config.Env of type []string",
        ),
        (
            {"Env": [1, 2]},
            "json: cannot unmarshal number into Go struct field Config.Env of type []string",
        ),
        (
            {"Cmd": 5},
            "json: cannot unmarshal number into Go struct field Config.Cmd of type []string",
        ),
        (
            {"Labels": {"a": 1}},
            "json: cannot unmarshal number into Go struct field Config.Labels of type map[string]string",
        ),
        (
            {"HostConfig": {"LogConfig": {"Type": True}}},
            "json: cannot unmarshal bool into Go struct field HostConfig.LogConfig.Type of type string",
        ),
        (
            {"HostConfig": "x"},
            "json: cannot unmarshal string into Go struct field ContainerConfigWrapper.HostConfig "
            "of type container.HostConfig",
        ),
    ],
)
def test_wrong_json_types_are_refused(body: dict, message: str) -> None:
    with pytest.raises(InvalidParameter) as exc:
        create.parse_request({"Image": "busybox", **body})
    assert exc.value.message == message


def test_right_types_and_nulls_decode() -> None:
    cfg, hc = create.parse_request(
        {
            "Image": "busybox",
            "Tty": False,
            "Env": ["A=1"],
            "Cmd": None,
            "HostConfig": {"Privileged": False, "Memory": 0, "PidsLimit": None,
                           "LogConfig": {"Type": "none", "Config": {}}},
        }
    )  # fmt: skip
    assert hc.privileged is False and cfg.tty is False and cfg.env == ["A=1"]
    assert cfg.cmd is None and hc.pids_limit is None and hc.log_config.type == "none"


def test_cmd_and_entrypoint_take_a_string_like_strslice() -> None:
    cfg, _ = create.parse_request({"Image": "b", "Cmd": "echo hi", "Entrypoint": "/bin/sh"})
    assert cfg.cmd == ["echo hi"] and cfg.entrypoint == ["/bin/sh"]


def test_field_helper() -> None:
    assert wire.field({"Tty": True}, "Tty", bool, "ExecConfig", False) is True
    assert wire.field({}, "Tty", bool, "ExecConfig", False) is False
    with pytest.raises(InvalidParameter, match="ExecConfig.Privileged of type bool"):
        wire.field({"Privileged": "true"}, "Privileged", bool, "ExecConfig", False)
