"""Request bodies are decoded with Go's type rules at the edge: no truthy strings, no
characters of a string taken as a list, no floats for integers. The messages are dockerd
28's: `invalid JSON: ` and encoding/json's text, whose struct path is the innermost Go
struct's name followed by the JSON keys from the root (container.CreateRequest embeds the
Config, so Config's fields read `CreateRequest.Env`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest

from berth.engine import wire
from berth.engine.containers import create
from berth.engine.containers.exec import ExecOptions
from berth.engine.containers.update import UpdateConfig
from berth.engine.errors import InvalidParameter

P = "invalid JSON: json: cannot unmarshal "

CASES: list[tuple[dict[str, Any], str]] = [
    # the cases
    ({"Env": "A=1"}, "string into Go struct field CreateRequest.Env of type []string"),
    ({"Env": [1, 2]}, "number into Go struct field CreateRequest.Env of type string"),
    ({"HostConfig": "x"}, "string into Go struct field CreateRequest.HostConfig of type container.HostConfig"),
    ({"StopTimeout": "x"}, "string into Go struct field CreateRequest.StopTimeout of type int"),
    ({"HostConfig": {"Memory": 1e30}}, "number 1e30 into Go struct field HostConfig.HostConfig.Memory of type int64"),
    ({"HostConfig": {"Memory": "lots"}}, "string into Go struct field HostConfig.HostConfig.Memory of type int64"),
    ({"Cmd": 5}, "number into Go struct field CreateRequest.Cmd of type string"),
    ({"Cmd": [1]}, "array into Go struct field CreateRequest.Cmd of type string"),
    ({"HostConfig": {"PortBindings": {"80/tcp": [{"HostPort": 80}]}}},
     "number into Go struct field PortBinding.HostConfig.PortBindings.HostPort of type string"),
    ({"HostConfig": {"PortBindings": {"80/tcp": "8080"}}},
     "string into Go struct field HostConfig.HostConfig.PortBindings of type []nat.PortBinding"),
    ({"HostConfig": {"PortBindings": ["80"]}},
     "array into Go struct field HostConfig.HostConfig.PortBindings of type nat.PortMap"),
    # integers
    ({"HostConfig": {"Memory": 1.5}}, "number 1.5 into Go struct field HostConfig.HostConfig.Memory of type int64"),
    ({"HostConfig": {"Memory": 1 << 70}},
     f"number {1 << 70} into Go struct field HostConfig.HostConfig.Memory of type int64"),
    ({"HostConfig": {"BlkioWeight": -1}}, "number -1 into Go struct field HostConfig.HostConfig.BlkioWeight of type uint16"),
    ({"HostConfig": {"ConsoleSize": [1, -2]}}, "number -2 into Go struct field HostConfig.HostConfig.ConsoleSize of type uint"),
    # booleans: a string is no boolean
    ({"HostConfig": {"Privileged": "false"}}, "string into Go struct field HostConfig.HostConfig.Privileged of type bool"),
    ({"HostConfig": {"Privileged": 1}}, "number into Go struct field HostConfig.HostConfig.Privileged of type bool"),
    ({"Tty": "yes"}, "string into Go struct field CreateRequest.Tty of type bool"),
    # maps, named types, nested structs
    ({"Labels": {"a": 1}}, "number into Go struct field CreateRequest.Labels of type string"),
    ({"Labels": ["a"]}, "array into Go struct field CreateRequest.Labels of type map[string]string"),
    ({"ExposedPorts": {"80/tcp": "x"}}, "string into Go struct field CreateRequest.ExposedPorts of type struct {}"),
    ({"Volumes": ["/data"]}, "array into Go struct field CreateRequest.Volumes of type map[string]struct {}"),
    ({"Healthcheck": {"Interval": "1s"}},
     "string into Go struct field HealthcheckConfig.Healthcheck.Interval of type time.Duration"),
    ({"Healthcheck": "CMD true"}, "string into Go struct field CreateRequest.Healthcheck of type v1.HealthcheckConfig"),
    ({"HostConfig": {"NetworkMode": 1}}, "number into Go struct field HostConfig.HostConfig.NetworkMode of type container.NetworkMode"),
    ({"HostConfig": {"LogConfig": {"Type": True}}}, "bool into Go struct field LogConfig.HostConfig.LogConfig.Type of type string"),
    ({"HostConfig": {"RestartPolicy": {"MaximumRetryCount": "3"}}},
     "string into Go struct field RestartPolicy.HostConfig.RestartPolicy.MaximumRetryCount of type int"),
    ({"HostConfig": {"Ulimits": [{"Name": "nofile", "Soft": "1"}]}},
     "string into Go struct field Ulimit.HostConfig.Ulimits.Soft of type int64"),
    ({"HostConfig": {"Ulimits": "nofile=1"}}, "string into Go struct field HostConfig.HostConfig.Ulimits of type []*units.Ulimit"),
    ({"HostConfig": {"Devices": [{"PathOnHost": 5}]}},
     "number into Go struct field DeviceMapping.HostConfig.Devices.PathOnHost of type string"),
    ({"HostConfig": {"Mounts": [{"Type": "bind", "BindOptions": {"Propagation": 1}}]}},
     "number into Go struct field BindOptions.HostConfig.Mounts.BindOptions.Propagation of type mount.Propagation"),
    ({"HostConfig": {"Mounts": {"Type": "bind"}}}, "object into Go struct field HostConfig.HostConfig.Mounts of type []mount.Mount"),
    ({"HostConfig": {"Binds": "/a:/b"}}, "string into Go struct field HostConfig.HostConfig.Binds of type []string"),
    ({"HostConfig": {"CapAdd": 5}}, "number into Go struct field HostConfig.HostConfig.CapAdd of type string"),
    ({"HostConfig": {"DeviceRequests": [{"Count": "all"}]}},
     "string into Go struct field DeviceRequest.HostConfig.DeviceRequests.Count of type int"),
    ({"NetworkingConfig": {"EndpointsConfig": {"n": {"IPAMConfig": {"IPv4Address": 5}}}}},
     "number into Go struct field EndpointIPAMConfig.NetworkingConfig.EndpointsConfig.IPAMConfig.IPv4Address of type string"),
    ({"NetworkingConfig": {"EndpointsConfig": {"n": {"Aliases": "a"}}}},
     "string into Go struct field EndpointSettings.NetworkingConfig.EndpointsConfig.Aliases of type []string"),
    ({"NetworkingConfig": {"EndpointsConfig": []}},
     "array into Go struct field NetworkingConfig.NetworkingConfig.EndpointsConfig of type map[string]*network.EndpointSettings"),
    ({"NetworkingConfig": 5}, "number into Go struct field CreateRequest.NetworkingConfig of type network.NetworkingConfig"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "message"), CASES)
def test_wrong_json_types_are_refused(body: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidParameter) as exc:
        create.parse_request({"Image": "busybox", **body})
    assert exc.value.message == P + message
    assert isinstance(exc.value, wire.DecodeError)


def test_a_body_that_is_no_object() -> None:
    with pytest.raises(wire.DecodeError) as exc:
        create.parse_request([1])
    assert exc.value.message == P + "array into Go value of type container.CreateRequest"


def test_the_first_mismatch_in_document_order_is_reported() -> None:
    with pytest.raises(wire.DecodeError, match="CreateRequest.Tty"):
        create.parse_request({"Image": "b", "Tty": "x", "Env": "y"})
    with pytest.raises(wire.DecodeError, match="CreateRequest.Env"):
        create.parse_request({"Image": "b", "Env": "y", "Tty": "x"})


def test_right_types_and_nulls_decode() -> None:
    cfg, hc = create.parse_request(
        {
            "Image": "busybox",
            "Tty": False,
            "Env": ["A=1"],
            "Cmd": None,
            "StopTimeout": 3,
            "HostConfig": {"Privileged": False, "Memory": 0, "PidsLimit": None,
                           "LogConfig": {"Type": "none", "Config": {}},
                           "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2}},
        }
    )  # fmt: skip
    assert hc.privileged is False and cfg.tty is False and cfg.env == ["A=1"]
    assert cfg.cmd is None and hc.pids_limit is None and hc.log_config.type == "none"
    assert cfg.stop_timeout == 3 and hc.restart_policy.maximum_retry_count == 2


def test_null_elements_are_zero_values() -> None:
    cfg, _ = create.parse_request({"Image": "b", "Env": ["A=1", None], "Labels": {"a": None}})
    assert cfg.env == ["A=1", ""] and cfg.labels == {"a": ""}


def test_keys_match_case_insensitively_as_in_go() -> None:
    body = create.check_request(
        {"image": "busybox", "env": ["A=1"], "hostconfig": {"memory": 7 << 20,
         "portbindings": {"80/tcp": [{"hostip": "", "hostport": "8080"}]}},
         "networkingconfig": {"endpointsconfig": {"n": {"ipamconfig": {"ipv4address": "10.0.0.2"}}}}}
    )  # fmt: skip
    assert body["Image"] == "busybox" and body["Env"] == ["A=1"]
    assert body["HostConfig"]["Memory"] == 7 << 20
    assert body["HostConfig"]["PortBindings"] == {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}
    assert body["NetworkingConfig"] == {
        "EndpointsConfig": {"n": {"IPAMConfig": {"IPv4Address": "10.0.0.2"}}}
    }
    cfg, hc = create.parse_request(body)
    assert cfg.image == "busybox" and hc.memory == 7 << 20


def test_exact_key_wins_over_a_case_folded_one() -> None:
    cfg, _ = create.parse_request({"Image": "b", "USER": "x", "User": "y"})
    assert cfg.user == "y"


def test_unknown_keys_are_ignored() -> None:
    cfg, _ = create.parse_request({"Image": "b", "NoSuchField": {"x": 1}})
    assert cfg.image == "b"


def test_cmd_and_entrypoint_take_a_string_like_strslice() -> None:
    cfg, _ = create.parse_request({"Image": "b", "Cmd": "echo hi", "Entrypoint": "/bin/sh"})
    assert cfg.cmd == ["echo hi"] and cfg.entrypoint == ["/bin/sh"]


def test_exec_and_update_bodies() -> None:
    with pytest.raises(wire.DecodeError) as exc:
        wire.decode_struct(ExecOptions, {"Cmd": "ls"})
    assert exc.value.message == P + ("string into Go struct field ExecOptions.Cmd of type []string")
    with pytest.raises(wire.DecodeError) as exc:
        wire.decode_struct(ExecOptions, {"Cmd": ["ls"], "ConsoleSize": "24x80"})
    assert exc.value.message == P + (
        "string into Go struct field ExecOptions.ConsoleSize of type [2]uint"
    )
    with pytest.raises(wire.DecodeError) as exc:
        wire.check(UpdateConfig, {"RestartPolicy": {"Name": 1}})
    assert exc.value.message == P + (
        "number into Go struct field RestartPolicy.RestartPolicy.Name of type "
        "container.RestartPolicyMode"
    )
    assert wire.check(UpdateConfig, {"memory": 7 << 20}) == {"Memory": 7 << 20}
    assert wire.check(UpdateConfig, None) == {}


@dataclass
class _Inner:
    GO: ClassVar[str] = "pkg.Inner"
    n: int = 0


@dataclass
class _Outer:
    GO: ClassVar[str] = "pkg.Outer"
    inner: _Inner = field(default_factory=_Inner)
    items: list[_Inner | None] | None = None
    by_name: dict[str, _Inner] | None = None


def test_decoder_rules_on_plain_dataclasses() -> None:
    got = wire.from_wire(_Outer, {"Inner": {"N": 2}, "Items": [None, {"n": 3}]})
    assert got.inner == _Inner(2) and got.items == [None, _Inner(3)]
    with pytest.raises(wire.DecodeError) as exc:
        wire.from_wire(_Outer, {"ByName": {"a": {"N": True}}})
    assert exc.value.message == P + "bool into Go struct field Inner.ByName.N of type int64"
    with pytest.raises(wire.DecodeError) as exc:
        wire.from_wire(_Outer, {"Items": {}})
    assert exc.value.message == P + "object into Go struct field Outer.Items of type []*pkg.Inner"


def test_field_helper() -> None:
    assert wire.field({"Tty": True}, "Tty", bool, "ExecConfig", False) is True
    assert wire.field({}, "Tty", bool, "ExecConfig", False) is False
    with pytest.raises(InvalidParameter, match="ExecConfig.Privileged of type bool"):
        wire.field({"Privileged": "true"}, "Privileged", bool, "ExecConfig", False)
