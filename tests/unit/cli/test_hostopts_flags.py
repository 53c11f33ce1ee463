"""berth run/create host option flags into the create body, as the docker CLI sends them."""

from __future__ import annotations

from typing import Any

import pytest

from berth.cli.commands.containerspec import build
from berth.cli.commands.run import RUN
from berth.cli.flags import UsageError, parse


def host(*argv: str) -> dict[str, Any]:
    opts, args = parse(RUN, [*argv, "busybox"])
    return build(RUN, opts, args, detach=False)["HostConfig"]


def test_namespace_modes_ulimits_sysctls() -> None:
    hc = host("--ipc", "host", "--pid", "container:x", "--uts", "host", "--cgroupns", "private",
              "--ulimit", "nofile=10:20", "--sysctl", "net.ipv4.ip_forward=1")  # fmt: skip
    assert (hc["IpcMode"], hc["PidMode"], hc["UTSMode"], hc["CgroupnsMode"]) == (
        "host", "container:x", "host", "private",
    )  # fmt: skip
    assert hc["Ulimits"] == [{"Name": "nofile", "Soft": 10, "Hard": 20}]
    assert hc["Sysctls"] == {"net.ipv4.ip_forward": "1"}
    assert "IpcMode" not in host()


@pytest.mark.parametrize(
    ("spec", "want"),
    [
        ("/dev/fuse", ("/dev/fuse", "/dev/fuse", "rwm")),
        ("/dev/fuse:r", ("/dev/fuse", "/dev/fuse", "r")),
        ("/dev/fuse:/dev/f", ("/dev/fuse", "/dev/f", "rwm")),
        ("/dev/fuse:/dev/f:rw", ("/dev/fuse", "/dev/f", "rw")),
    ],
)
def test_device(spec: str, want: tuple[str, str, str]) -> None:
    (d,) = host("--device", spec)["Devices"]
    assert (d["PathOnHost"], d["PathInContainer"], d["CgroupPermissions"]) == want


def test_bad_device_and_sysctl() -> None:
    with pytest.raises(UsageError):
        host("--device", "/dev/fuse:/dev/f:rwx")
    with pytest.raises(UsageError):
        host("--sysctl", "novalue")
