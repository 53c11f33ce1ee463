"""hostopts: create-time rules, start-time translation to RuntimeSpec fields, log settings;
the json-file rotation and the reader across rotated files."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from berth.engine.containers import hostopts
from berth.engine.containers.logs import LogOptions, read_logs, rotated_files
from berth.engine.containers.model import (
    Container,
    ContainerConfig,
    HostConfig,
    LogConfig,
    State,
)
from berth.engine.errors import Conflict, InvalidParameter, NotFound, SystemError_
from berth.runtime.logfile import JsonFileWriter
from berth.runtime.spec import Device, RuntimeSpec, to_oci


def container(cid: str = "c1", **hc: object) -> Container:
    return Container(
        id=cid,
        name=cid,
        created="",
        image_id="",
        path="true",
        args=[],
        config=ContainerConfig(),
        host_config=HostConfig(**hc),  # type: ignore[arg-type]
    )


def test_defaults() -> None:
    hc = HostConfig()
    hostopts.apply_defaults(hc, cgroup_v2=False)
    assert (hc.ipc_mode, hc.cgroupns_mode) == ("private", "host")
    hc = HostConfig()
    hostopts.apply_defaults(hc, cgroup_v2=True)
    assert hc.cgroupns_mode == "private"
    hc = HostConfig(ipc_mode="shareable", cgroupns_mode="private")
    hostopts.apply_defaults(hc, cgroup_v2=False)
    assert (hc.ipc_mode, hc.cgroupns_mode) == ("shareable", "private")


@pytest.mark.parametrize(
    "hc",
    [
        HostConfig(ipc_mode="container:abc", pid_mode="container:abc"),
        HostConfig(ipc_mode="none", pid_mode="host", uts_mode="host", cgroupns_mode="private"),
        HostConfig(sysctls={"net.ipv4.ip_forward": "1", "kernel.sem": "1 2 3 4"}),
        HostConfig(ulimits=[{"Name": "nofile", "Soft": -1, "Hard": -1}]),
        HostConfig(devices=[{"PathOnHost": "/dev/fuse", "CgroupPermissions": "rw"}]),
        HostConfig(log_config=LogConfig("local", {"max-size": "1m", "compress": "false"})),
    ],
)
def test_valid(hc: HostConfig) -> None:
    hostopts.validate(hc)


def test_invalid_messages() -> None:
    with pytest.raises(InvalidParameter, match="^invalid IPC mode: container:$"):
        hostopts.validate(HostConfig(ipc_mode="container:"))
    with pytest.raises(InvalidParameter, match='^sysctl "vm.swappiness" is not whitelisted$'):
        hostopts.validate(HostConfig(sysctls={"vm.swappiness": "1"}))
    with pytest.raises(InvalidParameter, match="soft limit"):
        hostopts.validate(HostConfig(ulimits=[{"Name": "nofile", "Soft": -1, "Hard": 5}]))


def test_sizes() -> None:
    assert hostopts.from_human_size("10k") == 10_000
    assert hostopts.from_human_size("1.5m") == 1_500_000
    assert hostopts.from_human_size("7") == 7
    assert hostopts.ram_in_bytes("10k") == 10_240
    with pytest.raises(ValueError, match="invalid size: 'x'"):
        hostopts.from_human_size("x")


def test_log_settings(tmp_path: Path) -> None:
    c = container(log_config=LogConfig("json-file", {"max-size": "10k", "max-file": "3"}))
    s = hostopts.log_settings(c, tmp_path)
    assert (s.path, s.max_size, s.max_file) == (str(tmp_path / "c1-json.log"), 10_000, 3)
    local = hostopts.log_settings(container(log_config=LogConfig("local", {})), tmp_path)
    assert local.path == str(tmp_path / "local-logs" / "container.log")
    assert (local.max_size, local.max_file) == (20_000_000, 5)
    assert (tmp_path / "local-logs").is_dir()
    assert hostopts.log_settings(container(log_config=LogConfig("none", {})), tmp_path).path == ""
    for cfg, msg in (
        ({"max-size": "0"}, "max-size must be a positive number"),
        ({"max-file": "0"}, "max-file cannot be less than 1"),
        ({"max-file": "x"}, 'strconv.Atoi: parsing "x": invalid syntax'),
        ({"compress": "true"}, "compress cannot be true when max-file is less than 2"),
    ):
        with pytest.raises(SystemError_, match="^failed to initialize logging driver: " + msg):
            hostopts.log_settings(container(log_config=LogConfig("json-file", cfg)), tmp_path)


def test_runtime_fields_namespaces(tmp_path: Path) -> None:
    donor = container("d1", ipc_mode="shareable")
    donor.state = State(status="running", pid=4242)
    (tmp_path / "d1" / "mounts" / "shm").mkdir(parents=True)
    stopped = container("s1", ipc_mode="shareable")
    private = container("p1", ipc_mode="private")
    private.state = State(status="running", pid=4343)
    found = {"d1": donor, "s1": stopped, "p1": private}

    def lookup(ref: str) -> Container:
        if ref not in found:
            raise NotFound(f"No such container: {ref}")
        return found[ref]

    c = container(ipc_mode="container:d1", pid_mode="container:d1", uts_mode="host",
                  cgroupns_mode="host")  # fmt: skip
    f = hostopts.runtime_fields(c, lookup, tmp_path)
    assert f["join_namespaces"] == {"ipc": "/proc/4242/ns/ipc", "pid": "/proc/4242/ns/pid"}
    assert f["host_namespaces"] == ["uts", "cgroup"]
    assert f["shm_bind"] == str(tmp_path / "d1" / "mounts" / "shm")
    f = hostopts.runtime_fields(container(ipc_mode="host", pid_mode="host"), lookup, tmp_path)
    assert f["host_namespaces"] == ["ipc", "pid"] and f["shm_bind"] == "/dev/shm"
    assert hostopts.runtime_fields(container(ipc_mode="none"), lookup, tmp_path)["shm_none"]
    with pytest.raises(InvalidParameter, match="non-shareable IPC"):
        hostopts.runtime_fields(container(ipc_mode="container:p1"), lookup, tmp_path)
    with pytest.raises(Conflict, match="container s1 is not running"):
        hostopts.runtime_fields(container(pid_mode="container:s1"), lookup, tmp_path)
    with pytest.raises(InvalidParameter, match="No such container: zz"):
        hostopts.runtime_fields(container(pid_mode="container:zz"), lookup, tmp_path)


def test_runtime_fields_rlimits_sysctls_devices(tmp_path: Path) -> None:
    c = container(
        ulimits=[
            {"Name": "nofile", "Soft": 1024, "Hard": 2048},
            {"Name": "core", "Soft": -1, "Hard": -1},
        ],
        sysctls={"net.ipv4.ip_forward": "1"},
        devices=[
            {"PathOnHost": "/dev/null", "PathInContainer": "/dev/mynull", "CgroupPermissions": "r"}
        ],
    )
    f = hostopts.runtime_fields(c, lambda ref: c, tmp_path)
    inf = hostopts.RLIM_INFINITY
    assert f["rlimits"] == [("RLIMIT_NOFILE", 1024, 2048), ("RLIMIT_CORE", inf, inf)]
    assert f["sysctls"] == {"net.ipv4.ip_forward": "1"}
    (dev,) = f["devices"]
    assert (dev.path, dev.type, dev.major, dev.minor, dev.access) == ("/dev/mynull", "c", 1, 3, "r")


def test_resolve_device_errors_and_directories(tmp_path: Path) -> None:
    with pytest.raises(SystemError_, match='custom device "/nope/x": no such file or directory'):
        hostopts.resolve_device("/nope/x", "", "rwm")
    (tmp_path / "f").write_text("")
    with pytest.raises(SystemError_, match="not a device node"):
        hostopts.resolve_device(str(tmp_path / "f"), "", "rwm")
    if os.path.isdir("/dev/net") and os.path.exists("/dev/net/tun"):
        devs = hostopts.resolve_device("/dev/net", "/dev/n", "rw")
        assert "/dev/n/tun" in [d.path for d in devs]


def test_host_devices_skip_pts_and_console() -> None:
    paths = [d.path for d in hostopts.host_devices()]
    assert "/dev/null" in paths
    assert "/dev/console" not in paths and not any(p.startswith("/dev/pts/") for p in paths)


def test_to_oci_host_options() -> None:
    spec = RuntimeSpec(
        id="x", rootfs="/r", args=["true"], env=[],
        rlimits=[("RLIMIT_NOFILE", 10, 20)],
        devices=[Device("/dev/fuse", "c", 10, 229, 0o600, access="rw")],
        shm_bind="/host/shm",
        host_namespaces=["ipc", "uts"],
    )  # fmt: skip
    oci = to_oci(spec)
    assert oci["process"]["rlimits"] == [{"type": "RLIMIT_NOFILE", "hard": 20, "soft": 10}]
    assert oci["linux"]["devices"] == [
        {
            "path": "/dev/fuse",
            "type": "c",
            "major": 10,
            "minor": 229,
            "fileMode": 0o600,
            "uid": 0,
            "gid": 0,
        }
    ]
    # the allow comes after the default deny of fuse, so it wins
    rules = oci["linux"]["resources"]["devices"]
    assert rules[-1] == {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rw"}
    shm = [m for m in oci["mounts"] if m["destination"] == "/dev/shm"]
    assert shm == [{"destination": "/dev/shm", "type": "bind", "source": "/host/shm",
                    "options": ["rbind", "nosuid", "noexec", "nodev"]}]  # fmt: skip
    assert {n["type"] for n in oci["linux"]["namespaces"]} == {"mount", "network", "pid", "cgroup"}
    none = to_oci(RuntimeSpec(id="x", rootfs="/r", args=["true"], env=[], shm_none=True))
    assert not [m for m in none["mounts"] if m["destination"] == "/dev/shm"]


def test_writer_rotates_like_dockerd(tmp_path: Path) -> None:
    p = str(tmp_path / "c-json.log")
    w = JsonFileWriter(p, clock=lambda: 1_700_000_000_000_000_000, max_size=200, max_file=3)
    for i in range(30):
        w.write("stdout", f"line-{i:02d}\n".encode())
    w.close()
    assert rotated_files(p) == [p + ".2", p + ".1"]
    assert not os.path.exists(p + ".3")
    sizes = [os.path.getsize(f) for f in (*rotated_files(p), p)]
    entry = len(open(p, "rb").readline())
    assert all(s < 200 + entry for s in sizes)

    async def read(**kw: object) -> list[bytes]:
        return [d async for _, d in read_logs(p, LogOptions(**kw), lambda: False)]  # type: ignore[arg-type]

    got = asyncio.run(read())
    assert got[-1] == b"line-29\n"
    assert got == [f"line-{i:02d}\n".encode() for i in range(30 - len(got), 30)]
    assert asyncio.run(read(tail=5)) == [f"line-{i:02d}\n".encode() for i in range(25, 30)]
    n = len(got)
    assert asyncio.run(read(tail=n + 10)) == got
    assert asyncio.run(read(tail=0)) == []


def test_writer_max_file_one_truncates(tmp_path: Path) -> None:
    p = str(tmp_path / "c-json.log")
    w = JsonFileWriter(p, max_size=100, max_file=1)
    for i in range(20):
        w.write("stdout", f"l{i}\n".encode())
    w.close()
    assert rotated_files(p) == []
    assert os.path.getsize(p) < 200
    assert b'"l19\\n"' in open(p, "rb").read()
