"""The cgroup escapes, against a real berthd.

- CgroupParent with `..` (`--cgroup-parent ../../../../tmp/x`): berth used to create
  directories and write devices.allow/deny outside the cgroup tree, and with a planted
  cgroup.procs a container landed in the root devices cgroup and opened /dev/kvm. Now
  the request is refused (400), the daemon flag too, and the runtime cleans any path
  under each hierarchy's root whatever it is given.
- cgroup v2 has no devices controller: with CAP_MKNOD in the default set, root in a
  container could mknod a host device and open it. Now an eBPF device program guards
  the container's v2 cgroup; on this hybrid host it sits in the unified hierarchy behind
  the v1 devices controller, and the test takes v1's rules away to show it holds alone.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from berth.runtime import bpf, cgroups
from tests.conftest import Daemon, cleanup_root

pytestmark = pytest.mark.integration

ROOT = Path(cgroups.ROOT)


def _hierarchies() -> list[Path]:
    lay = cgroups.layout()
    if lay.v2:
        return [Path(lay.root)]
    dirs = [Path(m) for _, m in lay.v1]
    return dirs + ([Path(lay.unified)] if lay.unified else [])


def _create(daemon: Daemon, host: dict[str, Any], cmd: list[str] | None = None) -> tuple[int, Any]:
    return daemon.api.call(
        "POST",
        "/containers/create",
        {"Image": "busybox", "Cmd": cmd or ["true"], "HostConfig": host},
    )


@pytest.fixture
def outside() -> Iterator[str]:
    """A name for the directory an escaping cgroup path would make under /tmp; the test
    checks it never appears, and it is removed if it does."""
    name = f"bt-cgesc-{uuid.uuid4().hex[:8]}"
    yield name
    with contextlib.suppress(OSError):
        for p in sorted(Path("/tmp", name).rglob("*"), reverse=True):
            p.rmdir() if p.is_dir() else p.unlink()
        Path("/tmp", name).rmdir()


@pytest.mark.parametrize(
    "parent", ["../../../../tmp/{}", "/../../../../tmp/{}", "{}/../../../../../tmp/{}"]
)
def test_cgroup_parent_escape_is_refused(daemon: Daemon, outside: str, parent: str) -> None:
    value = parent.format(outside, outside)
    status, body = _create(daemon, {"CgroupParent": value})
    assert status == 400, body
    assert value in body["message"] and "cgroup" in body["message"], body
    assert not Path("/tmp", outside).exists()
    # nothing was made in any hierarchy either, not even the cleaned-up path
    assert not any((h / "tmp" / outside).exists() or (h / outside).exists() for h in _hierarchies())
    status, items = daemon.api.call("GET", "/containers/json?all=1")
    assert all(value != (c.get("HostConfig") or {}).get("CgroupParent") for c in items)


def test_cgroup_parent_escape_through_the_cli(docker, outside: str) -> None:  # type: ignore[no-untyped-def]
    value = f"../../../../tmp/{outside}"
    r = docker("run", "--rm", "--cgroup-parent", value, "busybox", "true")
    assert r.returncode == 125, r
    assert f"invalid CgroupParent '{value}'" in r.stderr.decode(), r.stderr
    assert not Path("/tmp", outside).exists()


def test_runtime_cleans_an_escaping_path_it_is_handed(outside: str) -> None:
    """Defence in depth: a config.json made without the engine (so not validated) still
    cannot reach outside the hierarchies; the path is cleaned under each root."""
    if os.geteuid() != 0:
        pytest.skip("needs root: cgroups")
    path = f"../../../../tmp/{outside}/c"
    made_tmp = [h / "tmp" for h in _hierarchies() if not (h / "tmp").exists()]
    cgroups.create(path, {"devices": [{"allow": False, "access": "rwm"}]})
    try:
        assert not Path("/tmp", outside).exists()
        lay = cgroups.layout()
        devices = lay.controller_dir("devices", path)
        if devices is not None:
            assert devices == f"{cgroups.ROOT}/devices/tmp/{outside}/c"
            assert Path(devices, "devices.list").read_text().split("\n")[0] != "a *:* rwm"
        for h in _hierarchies():
            assert (h / "tmp" / outside / "c").is_dir(), h
    finally:
        cgroups.remove(path)
        for d in [h / "tmp" / outside for h in _hierarchies()] + made_tmp:
            with contextlib.suppress(OSError):
                d.rmdir()


def test_cgroup_parent_dotdot_that_stays_inside_is_cleaned(daemon: Daemon) -> None:
    """A `..` that does not climb out is the user's business: it is cleaned the way runc
    cleans it, and the container's cgroups are where the cleaned path says."""
    inner = f"berth-test-cgp-{uuid.uuid4().hex[:8]}"
    status, body = _create(daemon, {"CgroupParent": f"nosuch/../{inner}"}, ["sleep", "60"])
    assert status == 201, body
    cid = body["Id"]
    try:
        status, err = daemon.api.call("POST", f"/containers/{cid}/start")
        assert status == 204, err
        for h in _hierarchies():
            assert (h / inner / cid).is_dir(), h
            assert not (h / "nosuch").exists()
    finally:
        daemon.api.call("DELETE", f"/containers/{cid}?force=1")
        for h in _hierarchies():
            with contextlib.suppress(FileNotFoundError):
                (h / inner).rmdir()


@pytest.mark.parametrize("flag", ["../../../../tmp/{}", "a/../../{}"])
def test_daemon_refuses_an_escaping_cgroup_parent(outside: str, flag: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: berthd")
    value = flag.format(outside)
    root = Path(tempfile.mkdtemp(prefix="bt-", dir="/tmp"))
    d = Daemon(root, ["--cgroup-parent", value])
    try:
        with pytest.raises(RuntimeError) as info:
            d.start(timeout=15)
        assert f"invalid --cgroup-parent '{value}'" in str(info.value)
        assert "Traceback" not in str(info.value)
    finally:
        d.kill()
        cleanup_root(root)
    assert not Path("/tmp", outside).exists()


# ---- the device attack on cgroup v2 ---------------------------------------------------


def _v2_dir(cid: str) -> Path:
    d = cgroups.layout().v2_dir(f"/berth/{cid}")
    if d is None:
        pytest.skip("no cgroup v2 hierarchy on this host")
    return Path(d)


def _programs(d: Path) -> list[int]:
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return bpf.prog_query(fd)
    finally:
        os.close(fd)


# a host block device root can open on this host (its root disk nobody can open here);
# mknod is allowed everywhere, as under dockerd: opening the node is the attack
ATTACK = "mknod /tmp/blk b 7 0 && exec 3</tmp/blk && echo OPENED"


def test_v2_device_program_stops_the_mknod_attack(docker) -> None:  # type: ignore[no-untyped-def]
    if not os.path.exists("/dev/loop0"):
        pytest.skip("this host has no /dev/loop0 to aim at")
    r = docker("run", "-d", "busybox", "sleep", "60")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.decode().strip()
    try:
        v2 = _v2_dir(cid)
        assert len(_programs(v2)) == 1
        v1 = cgroups.layout().controller_dir("devices", f"/berth/{cid}")
        if v1 is not None:
            # play a v2-only host: take the v1 devices controller's rules away
            Path(v1, "devices.allow").write_text("a")
            assert Path(v1, "devices.list").read_text().strip() == "a *:* rwm"
        r = docker("exec", cid, "sh", "-c", ATTACK)
        assert r.returncode != 0 and b"OPENED" not in r.stdout, r
        assert b"Operation not permitted" in r.stderr, r.stderr
        r = docker("exec", cid, "sh", "-c", "exec 3</dev/null && echo fine")
        assert r.stdout.strip() == b"fine", r
    finally:
        docker("rm", "-f", cid)
    assert not _v2_dir(cid).exists()


def test_privileged_container_may_open_devices(docker) -> None:  # type: ignore[no-untyped-def]
    if not os.path.exists("/dev/loop0"):
        pytest.skip("this host has no /dev/loop0 to aim at")
    r = docker("run", "--rm", "--privileged", "busybox", "sh", "-c", ATTACK)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == b"OPENED"
