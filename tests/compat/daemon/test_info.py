"""`docker info` tells the truth about the host: each field checked against the host
itself, read here independently of berth."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.compat.daemon._util import ok
from tests.conftest import docker_for, needs_root, own_daemon

pytestmark = [pytest.mark.compat, needs_root]

# `stat -f -c %t` (hex f_type) -> the name moby's graphdriver gives it
_FS = {"ef53": "extfs", "58465342": "xfs", "9123683e": "btrfs", "794c7630": "overlayfs",
       "1021994": "tmpfs", "2fc12fc1": "zfs"}  # fmt: skip


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def _host_swap_limit() -> bool:
    if Path("/sys/fs/cgroup/cgroup.controllers").exists():
        own = next(ln[3:] for ln in _read("/proc/self/cgroup").splitlines() if ln.startswith("0::"))
        return Path(f"/sys/fs/cgroup{own}/memory.swap.max").exists()
    return Path("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists()


def _os_release(key: str) -> str:
    for ln in _read("/etc/os-release").splitlines():
        if ln.startswith(key + "="):
            return ln.split("=", 1)[1].strip('"')
    return ""


def _info(d: Any) -> dict[str, Any]:
    status, info = d.api.call("GET", "/info")
    assert status == 200
    return dict(info)


def test_info_matches_the_host(busybox_tar: Path) -> None:
    with own_daemon(None) as d:
        info = _info(d)
        # berthd's own cgroup decides, as dockerd's sysinfo does: berthd is this test's
        # child, in the test's cgroup
        assert info["SwapLimit"] is _host_swap_limit()
        if not info["SwapLimit"]:
            assert "WARNING: No swap limit support" in info["Warnings"]
        else:
            assert "WARNING: No swap limit support" not in info["Warnings"]

        status = dict(info["DriverStatus"])
        assert set(status) == {
            "Backing Filesystem", "Supports d_type", "Using metacopy", "Native Overlay Diff",
            "userxattr",
        }  # fmt: skip
        fstype = subprocess.run(
            ["stat", "-f", "-c", "%t", str(d.data_root / "overlay")],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        assert status["Backing Filesystem"] == _FS.get(fstype, "<unknown>")
        assert status["Supports d_type"] in ("true", "false")
        metacopy = _read("/sys/module/overlay/parameters/metacopy") == "Y"
        assert status["Using metacopy"] == ("true" if metacopy else "false")
        assert status["userxattr"] == "false"

        assert info["OSVersion"] == _os_release("VERSION_ID")
        assert info["OperatingSystem"] == _os_release("PRETTY_NAME")
        tini = "/usr/bin/tini-static"
        if os.access(tini, os.X_OK):
            assert info["InitBinary"] == tini
        assert "name=seccomp,profile=builtin" in info["SecurityOptions"]
        v2 = Path("/sys/fs/cgroup/cgroup.controllers").exists()
        assert ("name=cgroupns" in info["SecurityOptions"]) is v2
        assert info["CgroupDriver"] == "cgroupfs"

        nf = _read("/proc/sys/net/bridge/bridge-nf-call-iptables") == "1"
        assert ("WARNING: bridge-nf-call-iptables is disabled" in info["Warnings"]) is not nf
        fwd = _read("/proc/sys/net/ipv4/ip_forward") == "1"
        assert info["IPv4Forwarding"] is fwd
        # the docker CLI prints it all
        out = ok(docker_for(d)("info"))
        assert "Backing Filesystem: " + status["Backing Filesystem"] in out
        assert "Logging Driver: json-file" in out


def test_info_follows_the_daemon_config(busybox_tar: Path) -> None:
    cfg = {"default-cgroupns-mode": "host", "log-driver": "none"}
    with own_daemon(None, daemon_json=cfg, extra=["--seccomp-profile", "unconfined"]) as d:
        info = _info(d)
        assert "name=cgroupns" not in info["SecurityOptions"]
        assert "name=seccomp,profile=unconfined" in info["SecurityOptions"]
        assert "WARNING: daemon is not using the default seccomp profile" in info["Warnings"]
        assert info["LoggingDriver"] == "none"
