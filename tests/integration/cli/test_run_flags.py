"""berth run/create's resource, namespace and networking flags (issue 12).

Two proofs: the create body is the docker CLI's (both CLIs against one recording server,
every field docker sets compared), and each flag the engine keeps reaches it (the created
container inspected through the API of the shared berthd).
"""

from __future__ import annotations

import json
import os
import shutil
import socketserver
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, Daemon
from tests.integration.cli.conftest import BerthRun, berth_argv

# Every new flag with a value that differs from its default.
NEW_FLAGS = [
    "-P",
    "--group-add", "10",
    "--cpuset-cpus", "0",
    "--cpuset-mems", "0",
    "--cpu-period", "100000",
    "--cpu-quota", "50000",
    "--cpu-shares", "512",
    "--dns-search", "example.com",
    "--dns-option", "ndots:2",
    "--link", "foo:bar",
    "--oom-score-adj", "100",
    "--memory-reservation", "10m",
    "--memory-swappiness", "50",
    "--userns", "host",
    "--gpus", "all",
    "--gpus", "driver=nvidia,device=1,capabilities=compute",
    "--runtime", "crun",
    "--cgroup-parent", "mygroup",
    "--domainname", "example.org",
    "-q",
    "--security-opt", "no-new-privileges",
    "--device-cgroup-rule", "c 1:3 mr",
    "--platform", "linux/amd64",
    "--blkio-weight", "300",
    "--blkio-weight-device", "/dev/sda:200",
    "--device-read-bps", "/dev/sda:1mb",
    "--device-write-bps", "/dev/sda:2mb",
    "--device-read-iops", "/dev/sda:100",
    "--device-write-iops", "/dev/sda:200",
    "--ip6", "2001:db8::33",
    "--link-local-ip", "169.254.1.1",
    "--storage-opt", "size=1G",
    "--annotation", "a=b",
    "--oom-kill-disable",
    "--cpu-rt-period", "1000",
    "--cpu-rt-runtime", "500",
]  # fmt: skip


class _Recorder(BaseHTTPRequestHandler):
    """Answers what a create needs (_ping, POST /containers/create) and keeps each body."""

    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, Any]]

    def log_message(self, *args: Any) -> None:
        pass

    def address_string(self) -> str:
        return "unix"

    def _reply(self, code: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Api-Version", "1.50")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_HEAD(self) -> None:
        self._reply(200, {})

    def do_GET(self) -> None:
        if "/_ping" in self.path:
            self._reply(200, "OK")
        else:
            self._reply(404, {"message": "not recorded"})

    def do_POST(self) -> None:
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        self.seen.append((self.path, json.loads(raw) if raw else None))
        if "/containers/create" in self.path:
            self._reply(201, {"Id": "c" * 64, "Warnings": []})
        else:
            self._reply(404, {"message": "not recorded"})


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@pytest.fixture
def recorder(tmp_path: Path) -> Iterator[tuple[str, list[tuple[str, Any]]]]:
    sock = str(tmp_path / "rec.sock")
    seen: list[tuple[str, Any]] = []
    handler = type("H", (_Recorder,), {"seen": seen})
    server = _Server(sock, handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield "unix://" + sock, seen
    finally:
        server.shutdown()
        server.server_close()
        t.join()


def _set_fields(doc: Any, prefix: str = "") -> dict[str, Any]:
    """Every leaf docker gave a non-zero value, by dotted path."""
    out: dict[str, Any] = {}
    if isinstance(doc, dict):
        for k, v in doc.items():
            if isinstance(v, dict) and v:
                out.update(_set_fields(v, prefix + k + "."))
            elif v not in (None, "", 0, False, [], {}):
                out[prefix + k] = v
    return out


def _leaf(doc: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(doc, dict) or part not in doc:
            return "<absent>"
        doc = doc[part]
    return doc


def _create_body(argv: list[str], env: dict[str, str], seen: list[tuple[str, Any]]) -> Any:
    seen.clear()
    p = subprocess.run(argv, env=env, capture_output=True, timeout=60)
    assert p.returncode == 0, (argv[:2], p.stderr)
    assert p.stdout == b"c" * 64 + b"\n", argv[:2]
    creates = [(path, body) for path, body in seen if "/containers/create" in path]
    assert len(creates) == 1, argv[:2]
    return creates[0]


def test_create_body_is_the_docker_clis(
    recorder: tuple[str, list[tuple[str, Any]]], tmp_path: Path
) -> None:
    docker = shutil.which("docker") or "/usr/local/bin/docker"
    if not os.path.exists(docker):
        pytest.skip("the docker CLI is not installed")
    host, seen = recorder
    env = {**os.environ, "DOCKER_HOST": host, "BERTH_HOST": host, "PYTHONPATH": str(REPO)}
    # what the flags change in docker's body: its fields beside a body without them
    _, plain = _create_body([docker, "create", "busybox"], env, seen)
    bodies = {}
    for who, argv in (("docker", [docker, "create"]), ("berth", berth_argv("create"))):
        cidfile = tmp_path / f"cid-{who}"
        path, body = _create_body(
            [*argv, "--cidfile", str(cidfile), *NEW_FLAGS, "busybox"], env, seen
        )
        assert cidfile.read_text() == "c" * 64, who  # written, no newline
        assert path.endswith("/containers/create?platform=linux%2Famd64"), (who, path)
        assert body["HostConfig"].pop("ContainerIDFile") == str(cidfile), who
        bodies[who] = body
    base = _set_fields(plain)
    want = {k: v for k, v in _set_fields(bodies["docker"]).items() if base.get(k) != v}
    assert "HostConfig.BlkioDeviceWriteIOps" in want  # the comparison covers the new flags
    assert len(want) > 30
    got = {k: _leaf(bodies["berth"], k) for k in want}
    assert got == want


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--memory-swappiness", "101"],
            "invalid value: 101. Valid memory swappiness range is 0-100",
        ),
        (["--device-cgroup-rule", "x 1:3 r"], "invalid device cgroup format 'x 1:3 r'"),
        (["--blkio-weight-device", "sda:10"], "bad format for device path: sda:10"),
        (["--blkio-weight-device", "/dev/sda:5"], "invalid weight for device: /dev/sda:5"),
        (["--device-read-iops", "/dev/sda:x"], "invalid rate for device: /dev/sda:x."),
        (["--dns-search", "-bad-"], "-bad- is not a valid domain"),
        (["--link", "a:b:c"], "bad format for links: a:b:c"),
        (["--gpus", "count=x"], 'invalid count (x): value must be either "all" or an integer'),
        (["--userns", "private"], "--userns: invalid USER mode"),
    ],
)
def test_bad_values_are_refused_before_the_daemon(
    recorder: tuple[str, list[tuple[str, Any]]], args: list[str], message: str
) -> None:
    host, seen = recorder
    env = {**os.environ, "BERTH_HOST": host, "PYTHONPATH": str(REPO)}
    env.pop("DOCKER_HOST", None)
    p = subprocess.run(
        [*berth_argv("create"), *args, "busybox"], env=env, capture_output=True, timeout=60
    )
    assert p.returncode == 125
    assert message in p.stderr.decode()
    assert not [s for s in seen if "/containers/create" in s[0]]


def test_cidfile_that_exists_is_refused(
    recorder: tuple[str, list[tuple[str, Any]]], tmp_path: Path
) -> None:
    host, seen = recorder
    cidfile = tmp_path / "cid"
    cidfile.write_text("old")
    env = {**os.environ, "BERTH_HOST": host, "PYTHONPATH": str(REPO)}
    env.pop("DOCKER_HOST", None)
    p = subprocess.run(
        [*berth_argv("create"), "--cidfile", str(cidfile), "busybox"],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert p.returncode == 125
    assert p.stderr.decode() == (
        "berth: container ID file found, make sure the other container isn't running or "
        f"delete {cidfile}\n"
    )
    assert cidfile.read_text() == "old"
    assert not seen


pytestmark_daemon = pytest.mark.integration


def _inspect(daemon: Daemon, cid: str) -> dict[str, Any]:
    status, info = daemon.api.call("GET", f"/containers/{cid}/json")
    assert status == 200, info
    assert isinstance(info, dict)
    return info


@pytestmark_daemon
def test_flags_reach_the_daemon(berth: BerthRun, daemon: Daemon, tmp_path: Path) -> None:
    target = berth("create", "--name", "flags-link-target", "busybox")
    assert target.returncode == 0, target.stderr
    cidfile = tmp_path / "cid"
    p = berth(
        "create",
        "-q",
        "-P",
        "--expose", "80",
        "--cidfile", str(cidfile),
        "--group-add", "10",
        "--cpuset-cpus", "0",
        "--cpuset-mems", "0",
        "--cpu-period", "100000",
        "--cpu-quota", "50000",
        "--cpu-shares", "512",
        "--dns-search", "example.com",
        "--dns-option", "ndots:2",
        "--link", "flags-link-target:tgt",
        "--oom-score-adj", "100",
        "--memory-reservation", "10m",
        "--memory-swappiness", "50",
        "--userns", "host",
        "--domainname", "example.org",
        "--security-opt", "no-new-privileges",
        "--cgroup-parent", "berth-flags-test",
        "busybox",
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    cid = p.stdout.decode().strip()
    assert cidfile.read_text() == cid
    info = _inspect(daemon, cid)
    hc = info["HostConfig"]
    assert info["Config"]["Domainname"] == "example.org"
    assert {
        "PublishAllPorts": hc["PublishAllPorts"],
        "ContainerIDFile": hc["ContainerIDFile"],
        "GroupAdd": hc["GroupAdd"],
        "CpusetCpus": hc["CpusetCpus"],
        "CpusetMems": hc["CpusetMems"],
        "CpuPeriod": hc["CpuPeriod"],
        "CpuQuota": hc["CpuQuota"],
        "CpuShares": hc["CpuShares"],
        "DnsSearch": hc["DnsSearch"],
        "DnsOptions": hc["DnsOptions"],
        "OomScoreAdj": hc["OomScoreAdj"],
        "MemoryReservation": hc["MemoryReservation"],
        "MemorySwappiness": hc["MemorySwappiness"],
        "UsernsMode": hc["UsernsMode"],
        "SecurityOpt": hc["SecurityOpt"],
        "CgroupParent": hc["CgroupParent"],
    } == {
        "PublishAllPorts": True,
        "ContainerIDFile": str(cidfile),
        "GroupAdd": ["10"],
        "CpusetCpus": "0",
        "CpusetMems": "0",
        "CpuPeriod": 100000,
        "CpuQuota": 50000,
        "CpuShares": 512,
        "DnsSearch": ["example.com"],
        "DnsOptions": ["ndots:2"],
        "OomScoreAdj": 100,
        "MemoryReservation": 10 * 1024 * 1024,
        "MemorySwappiness": 50,
        "UsernsMode": "host",
        "SecurityOpt": ["no-new-privileges"],
        "CgroupParent": "berth-flags-test",
    }
    # dockerd answers "/target:/name/alias"; the link's two names are what the flag gave
    assert len(hc["Links"]) == 1
    assert "flags-link-target" in hc["Links"][0] and hc["Links"][0].endswith("tgt")


_GPU_ALL = {"Driver": "", "Count": -1, "DeviceIDs": None, "Capabilities": [["gpu"]], "Options": {}}


@pytestmark_daemon
@pytest.mark.parametrize(
    ("args", "key", "value"),
    [
        (["--blkio-weight", "300"], "BlkioWeight", 300),
        (["--blkio-weight-device", "/dev/null:200"], "BlkioWeightDevice",
         [{"Path": "/dev/null", "Weight": 200}]),
        (["--device-read-bps", "/dev/null:1mb"], "BlkioDeviceReadBps",
         [{"Path": "/dev/null", "Rate": 1048576}]),
        (["--device-write-bps", "/dev/null:2mb"], "BlkioDeviceWriteBps",
         [{"Path": "/dev/null", "Rate": 2097152}]),
        (["--device-read-iops", "/dev/null:100"], "BlkioDeviceReadIOps",
         [{"Path": "/dev/null", "Rate": 100}]),
        (["--device-write-iops", "/dev/null:200"], "BlkioDeviceWriteIOps",
         [{"Path": "/dev/null", "Rate": 200}]),
        (["--device-cgroup-rule", "c 1:3 mr"], "DeviceCgroupRules", ["c 1:3 mr"]),
        (["--gpus", "all"], "DeviceRequests", [_GPU_ALL]),
        (["--runtime", "runc"], "Runtime", "runc"),
    ],
)  # fmt: skip
def test_flag_reaches_the_daemon(
    berth: BerthRun, daemon: Daemon, args: list[str], key: str, value: Any
) -> None:
    """Kept (inspect shows it) or refused by name: either way berthd received the field."""
    p = berth("create", *args, "busybox")
    if p.returncode == 0:
        assert _inspect(daemon, p.stdout.decode().strip())["HostConfig"][key] == value
    else:
        assert p.returncode == 125
        assert f"HostConfig.{key} is not supported by berth" in p.stderr.decode()


@pytestmark_daemon
def test_gpus_are_refused_by_the_daemon(berth: BerthRun) -> None:
    p = berth("run", "--rm", "--gpus", "all", "busybox", "true")
    assert p.returncode == 125
    assert p.stderr.decode().startswith("berth: Error response from daemon: ")


def test_help_lists_the_new_flags() -> None:
    p = subprocess.run(
        [sys.executable, "-m", "berth.cli.main", "run", "--help"],
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=60,
    )
    assert p.returncode == 0
    text = p.stdout.decode()
    for flag in ("--publish-all", "--cidfile", "--device-write-iops", "--gpus", "--quiet"):
        assert flag in text
