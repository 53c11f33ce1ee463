"""Issue 12's rules, without a daemon: unsupported fields refused, device cgroup rules
parsed as dockerd parses them, the device-request error, the list's Command, the stats'
networks, SizeRw, the commit's container_config, the tar check of `docker load`, and a
follow ended by the client's hang-up."""

from __future__ import annotations

import asyncio
import io
import os
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from berth.api.routes.containers import _platform, command_text
from berth.engine.containers import create as create_rules
from berth.engine.containers import hostopts, stats
from berth.engine.containers.commit import container_config
from berth.engine.containers.diff import upper_size
from berth.engine.containers.logs import until_gone
from berth.engine.containers.model import Container, ContainerConfig, HostConfig
from berth.engine.errors import InvalidParameter, SystemError_
from berth.engine.images.archive import TarCheck
from berth.runtime import cgroups, devicefilter
from berth.runtime import spec as rt_spec


# ---- fields berth does not implement ---------------------------------------------
@pytest.mark.parametrize(
    ("hc", "name"),
    [
        ({"BlkioWeight": 300}, "HostConfig.BlkioWeight"),
        ({"BlkioDeviceReadBps": [{"Path": "/dev/sda", "Rate": 1}]}, "BlkioDeviceReadBps"),
        ({"CpuRealtimeRuntime": 1000}, "HostConfig.CpuRealtimeRuntime"),
        ({"StorageOpt": {"size": "1G"}}, "HostConfig.StorageOpt"),
        ({"IOMaximumIOps": 5}, "HostConfig.IOMaximumIOps"),
        ({"Annotations": {"a": "b"}}, "HostConfig.Annotations"),
    ],
)
def test_unsupported_host_config_field_is_refused_by_name(hc: dict, name: str) -> None:
    with pytest.raises(InvalidParameter, match=name):
        create_rules.decode_request({"Image": "busybox", "HostConfig": hc})


def test_zero_values_the_cli_sends_are_accepted() -> None:
    # what `docker create` sends when no flag is given
    body = {
        "Image": "busybox",
        "HostConfig": {"BlkioWeight": 0, "BlkioWeightDevice": [], "CpuCount": 0,
                       "StorageOpt": None, "DeviceCgroupRules": None, "DeviceRequests": None},
    }  # fmt: skip
    create_rules.decode_request(body)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("isolation", "hyperv", "Invalid isolation: \"hyperv\" - linux only supports 'default'"),
        ("userns_mode", "private", "invalid USERNS mode: private"),
        ("runtime", "nvidia", "Unknown runtime specified nvidia"),
    ],
)
def test_host_modes_berth_lacks_are_refused(field: str, value: str, message: str) -> None:
    hc = HostConfig()
    setattr(hc, field, value)
    with pytest.raises(InvalidParameter) as exc:
        create_rules.validate_host_config(hc)
    assert exc.value.message == message


def test_network_disabled_is_refused() -> None:
    with pytest.raises(InvalidParameter, match="NetworkDisabled"):
        create_rules.validate_config(ContainerConfig(image="busybox", network_disabled=True))


# ---- DeviceCgroupRules and DeviceRequests -----------------------------------------
def test_cgroup_rules_parse_as_dockerd() -> None:
    assert hostopts.cgroup_rules(["c 1:3 rmw", "b *:* m", "a 7:* rw"]) == [
        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rmw"},
        {"allow": True, "type": "b", "access": "m"},
        {"allow": True, "type": "a", "major": 7, "access": "rw"},
    ]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("c 1:3", "invalid device cgroup rule format: 'c 1:3'"),
        ("x 1:3 rwm", "invalid device cgroup rule format: 'x 1:3 rwm'"),
        ("c 1:3 rwmx", "invalid device cgroup rule format: 'c 1:3 rwmx'"),
        ("c 1:3 rwm\n", "invalid device cgroup rule format: 'c 1:3 rwm\n'"),
        (
            "c 99999999999999999999:3 r",
            "invalid major value in device cgroup rule format: 'c 99999999999999999999:3 r'",
        ),
    ],
)
def test_bad_cgroup_rule_is_refused_at_create(rule: str, message: str) -> None:
    hc = HostConfig(device_cgroup_rules=[rule])
    with pytest.raises(InvalidParameter) as exc:
        hostopts.validate(hc)
    assert exc.value.message == message


def test_cgroup_rules_reach_both_enforcers_after_the_defaults() -> None:
    spec = rt_spec.RuntimeSpec(
        id="x", rootfs="/r", args=["sh"], env=[],
        device_cgroup_rules=hostopts.cgroup_rules(["c 1:11 rw"]),
    )  # fmt: skip
    devices = rt_spec.to_oci(spec)["linux"]["resources"]["devices"]
    assert devices[-1] == {"allow": True, "type": "c", "major": 1, "minor": 11, "access": "rw"}
    assert (True, "c 1:11 rw") in cgroups.device_rules(devices)  # v1 devices.allow
    rules = devicefilter.parse_rules(cgroups.with_implicit(devices))  # v2 program's rules
    assert devicefilter.decide(rules, devicefilter.DEV_CHAR, 1, 11, devicefilter.ACC_READ)
    assert devicefilter.decide(rules, devicefilter.DEV_CHAR, 1, 11, devicefilter.ACC_WRITE)
    assert not devicefilter.decide(rules, devicefilter.DEV_CHAR, 1, 12, devicefilter.ACC_READ)


@pytest.mark.parametrize(
    ("req", "message"),
    [
        (
            {"Driver": "", "Count": -1, "Capabilities": [["gpu"]]},
            'could not select device driver "" with capabilities: [[gpu]]',
        ),
        (
            {"Driver": "nvidia", "Capabilities": [["gpu", "utility"], ["compute"]]},
            'could not select device driver "nvidia" with capabilities: [[gpu utility] [compute]]',
        ),
        ({"Driver": "cdi"}, 'could not select device driver "cdi" with capabilities: []'),
    ],
)
def test_device_request_fails_the_start_as_dockerd(req: dict, message: str, tmp_path: Path) -> None:
    c = Container(
        id="c" * 64, name="x", created="", image_id="", path="sh", args=[],
        config=ContainerConfig(), host_config=HostConfig(device_requests=[req]),
    )  # fmt: skip
    with pytest.raises(SystemError_) as exc:
        hostopts.runtime_fields(c, lambda ref: c, tmp_path)
    assert exc.value.message == message


# ---- the list's Command ------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "args", "want"),
    [
        ("sh", ["-c", "echo hi"], "sh -c 'echo hi'"),
        ("top", [], "top"),
        ("sleep", ["60"], "sleep 60"),
        ("sh", ["-c", "a'b c"], "sh -c 'a'b c'"),  # dockerd does not escape
    ],
)
def test_command_is_quoted_as_dockerd_does(path: str, args: list[str], want: str) -> None:
    assert command_text(path, args) == want


@pytest.mark.parametrize(
    ("given", "want"),
    [
        (("linux", "x86_64", ""), ("linux", "amd64", "")),
        (("linux", "aarch64", "v8"), ("linux", "arm64", "")),
        (("linux", "armhf", ""), ("linux", "arm", "v7")),
        (("linux", "arm", "7"), ("linux", "arm", "v7")),
    ],
)
def test_platforms_normalise_as_containerd(given: tuple, want: tuple) -> None:
    assert _platform(*given) == want


# ---- stats' networks ---------------------------------------------------------------
NET_DEV = """\
Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     100       2    0    0    0     0          0         0      100       2    0    0    0     0       0          0
  eth0:    5286      40    1    2    0     0          0         0     1502      17    3    4    0     0       0          0
"""  # noqa: E501


def test_net_dev_is_read_as_dockerd_names_it() -> None:
    assert stats.parse_net_dev(NET_DEV)["eth0"] == {
        "rx_bytes": 5286, "rx_packets": 40, "rx_errors": 1, "rx_dropped": 2,
        "tx_bytes": 1502, "tx_packets": 17, "tx_errors": 3, "tx_dropped": 4,
    }  # fmt: skip


def test_networks_are_the_endpoints_interfaces(tmp_path: Path) -> None:
    (tmp_path / "42" / "net").mkdir(parents=True)
    (tmp_path / "42" / "net" / "dev").write_text(NET_DEV)
    c = Container(
        id="c" * 64, name="x", created="", image_id="", path="sh", args=[],
        config=ContainerConfig(), host_config=HostConfig(network_mode="bridge"),
        networks={"bridge": {"Ifname": "eth0"}},
    )  # fmt: skip
    c.state.pid = 42
    got = stats.networks(c, proc=str(tmp_path))
    assert got is not None and list(got) == ["eth0"]
    c.host_config.network_mode = "host"
    assert stats.networks(c, proc=str(tmp_path)) is None


# ---- sizes, commit -------------------------------------------------------------------
def test_upper_size_counts_file_bytes_once(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a").write_bytes(b"x" * 1000)
    os.link(tmp_path / "d" / "a", tmp_path / "d" / "b")  # the same inode
    (tmp_path / "c").write_bytes(b"y" * 24)
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "hosts").write_bytes(b"z" * 500)  # init layer: not counted
    assert upper_size(str(tmp_path)) == 1024


def test_container_config_is_the_containers_whole_config() -> None:
    cfg = ContainerConfig(hostname="h", image="busybox", cmd=["sh"], labels={"a": "b"})
    c = Container(
        id="c" * 64, name="x", created="", image_id="", path="sh", args=[],
        config=cfg, host_config=HostConfig(),
    )  # fmt: skip
    out = container_config(c)
    assert out["Hostname"] == "h" and out["Image"] == "busybox" and out["Cmd"] == ["sh"]
    assert out["Labels"] == {"a": "b"} and out["Tty"] is False and "OpenStdin" in out
    assert "StopSignal" not in out and "Healthcheck" not in out  # omitempty in Go


# ---- docker load's tar check -------------------------------------------------------
def _tar() -> bytes:
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, size in (("manifest.json", 5000), ("b", 3)):
            ti = tarfile.TarInfo(name)
            ti.size = size
            tf.addfile(ti, io.BytesIO(b"x" * size))
        ti = tarfile.TarInfo("d")
        ti.type = tarfile.DIRTYPE
        tf.addfile(ti)
    return b.getvalue()


def _check(data: bytes, chunk: int = 700) -> str | None:
    tc = TarCheck()
    for i in range(0, len(data), chunk):
        tc.feed(data[i : i + chunk])
    return tc.finish()


def test_tar_check_gives_gos_words() -> None:
    full = _tar()
    assert _check(full) is None
    assert _check(full[:3000]) == "unexpected EOF"  # inside a member's data
    assert _check(full[: 512 * 12 + 100]) == "unexpected EOF"  # inside a header
    assert _check(b"hello") == "unexpected EOF"
    assert _check(b"this is not a tar archive" * 40) == "archive/tar: invalid tar header"
    assert _check(full + b"trailing junk" * 100) is None  # after the end: not read
    assert _check(b"\x1f\x8b" + b"\0" * 100) is None  # compressed: the loader's to judge


# ---- a follow ended by the client ----------------------------------------------------
def test_until_gone_ends_a_quiet_follow_and_closes_it() -> None:
    closed = asyncio.Event()

    async def quiet() -> AsyncIterator[bytes]:
        try:
            yield b"first"
            await asyncio.Event().wait()  # a container that says nothing more
        finally:
            closed.set()

    async def main() -> list[bytes]:
        state = {"gone": False}
        got = []
        async for chunk in until_gone(quiet(), lambda: state["gone"], poll=0.01):
            got.append(chunk)
            # the client hangs up while the source waits for its next line
            asyncio.get_running_loop().call_later(0.05, state.__setitem__, "gone", True)
        assert closed.is_set()
        return got

    assert asyncio.run(asyncio.wait_for(main(), 10)) == [b"first"]
