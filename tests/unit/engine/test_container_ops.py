"""Pure parts of cp, diff, top and update."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator

import pytest

from berth.engine.containers import archive, diff, top, update
from berth.engine.containers.model import Container, ContainerConfig, HostConfig
from berth.engine.errors import Conflict, InvalidParameter, SystemError_


@pytest.fixture
def tmp() -> Iterator[str]:
    d = tempfile.mkdtemp(prefix="bt-", dir="/tmp")
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_abs_path_keeps_trailing_dot_and_slash() -> None:
    assert archive.abs_path("a/b") == "/a/b"
    assert archive.abs_path("/a/../../b/") == "/b/"
    assert archive.abs_path("/a/.") == "/a/."
    assert archive.abs_path("../..") == "/"
    assert archive.go_base("/a/b/") == "b" and archive.go_base("/a/.") == "."


def test_go_file_mode() -> None:
    assert archive.go_file_mode(stat.S_IFDIR | 0o755) == (1 << 31) | 0o755
    assert archive.go_file_mode(stat.S_IFLNK | 0o777) == (1 << 27) | 0o777
    assert archive.go_file_mode(stat.S_IFREG | stat.S_ISUID | 0o4755 & 0o777) == (1 << 23) | 0o755
    assert archive.go_file_mode(stat.S_IFCHR | 0o666) == (1 << 26) | (1 << 21) | 0o666


def test_resolve_keeps_escapes_inside(tmp: str) -> None:
    os.makedirs(os.path.join(tmp, "etc"))
    os.symlink("/", os.path.join(tmp, "up"))
    os.symlink("../../../etc", os.path.join(tmp, "rel"))
    assert archive.resolve(tmp, "/up/etc/passwd").host == tmp + "/etc/passwd"
    assert archive.resolve(tmp, "/rel/x").host == tmp + "/etc/x"
    assert archive.resolve(tmp, "/../../etc").host == tmp + "/etc"
    # the last component stays a link; with a trailing slash it is followed, inside
    assert archive.resolve(tmp, "/up").host == tmp + "/up"
    assert archive.resolve(tmp, "/rel/").host == tmp + "/etc"


def test_parse_ps_filters_pids_and_joins_command() -> None:
    out = (
        "UID PID PPID CMD\n"
        "root 1 0 /sbin/init\n"
        "root 42 1 sleep 300 now\n"
        "root - - -\n"
        "root 43 1 other\n"
        "root - - -\n"
    )
    doc = top.parse_ps(out, {42})
    assert doc["Titles"] == ["UID", "PID", "PPID", "CMD"]
    assert doc["Processes"] == [["root", "42", "1", "sleep 300 now"], ["root", "-", "-", "-"]]
    with pytest.raises(SystemError_):
        top.parse_ps("UID CMD\n", set())


def _container(**hc: object) -> Container:
    return Container(
        id="c" * 64,
        name="x",
        created="",
        image_id="",
        path="true",
        args=[],
        config=ContainerConfig(),
        host_config=HostConfig(**hc),  # type: ignore[arg-type]
    )


def test_update_rules() -> None:
    c = _container()
    hc, res, warnings = update.apply(c, {"Memory": 64 << 20, "NanoCpus": 1_500_000_000})
    assert hc.memory == 64 << 20 and hc.nano_cpus == 1_500_000_000 and warnings == []
    assert res == {"memory": {"limit": 64 << 20}, "cpu": {"period": 100000, "quota": 150000}}
    assert c.host_config.memory == 0  # untouched until the service saves
    with pytest.raises(InvalidParameter, match="Minimum memory limit allowed is 6MB"):
        update.apply(c, {"Memory": 1})
    with pytest.raises(Conflict, match="NanoCPUs has already been set"):
        update.apply(_container(nano_cpus=10**9), {"CpuQuota": 50000})
    with pytest.raises(Conflict, match="update the memoryswap at the same time"):
        update.apply(_container(memory=32 << 20, memory_swap=64 << 20), {"Memory": 128 << 20})
    with pytest.raises(Conflict, match="AutoRemove"):
        update.apply(_container(auto_remove=True), {"RestartPolicy": {"Name": "always"}})
    hc, res, _ = update.apply(c, {"PidsLimit": -1, "RestartPolicy": {"Name": "always"}})
    assert hc.pids_limit == -1 and hc.restart_policy.name == "always"
    assert res == {"pids": {"limit": -1}}


def test_changes_from_an_upper_dir(tmp: str) -> None:
    lower, upper = os.path.join(tmp, "lower"), os.path.join(tmp, "upper")
    for d in ("bin", "etc", "usr/lib"):
        os.makedirs(os.path.join(lower, d))
    open(os.path.join(lower, "bin", "ls"), "w").close()  # noqa: SIM115
    os.makedirs(os.path.join(upper, "bin"))
    os.makedirs(os.path.join(upper, "etc"))
    os.makedirs(os.path.join(upper, "new"))
    os.mknod(os.path.join(upper, "bin", "ls"), stat.S_IFCHR | 0o600, os.makedev(0, 0))
    open(os.path.join(upper, "etc", "hosts"), "w").close()  # noqa: SIM115
    open(os.path.join(upper, "new", "f"), "w").close()  # noqa: SIM115
    got = diff.changes(upper, [lower])
    assert got == [
        {"Path": "/bin", "Kind": 0},
        {"Path": "/bin/ls", "Kind": 2},
        {"Path": "/new", "Kind": 1},
        {"Path": "/new/f", "Kind": 1},
    ]
