"""berthd killed at a named point (`BERTH_TEST_FAULT=NAME:crash`: os._exit there, what a
SIGKILL leaves), then started again: nothing of an unknown id is left (process, cgroup,
mount, netns, veth, bundle), every listed container can be inspected and removed, and
addresses are handed out once. A pull killed inside its commit leaves no layer, blob or
temp file behind, and the same pull then succeeds."""

from __future__ import annotations

import contextlib
import json
import os
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import (
    IS_ROOT,
    Daemon,
    docker_for,
    ids_on_disk,
    leftover_mounts,
    own_daemon,
    shims_of,
)
from tests.integration.registry.fixtures import Registry, layer_tar, put_oci_image, registry

__all__ = ["registry"]

pytestmark = [pytest.mark.integration, pytest.mark.skipif(not IS_ROOT, reason="needs root")]


class CrashingDaemon(Daemon):
    fault = ""

    def argv(self) -> list[str]:
        pre = ["env", f"BERTH_TEST_FAULT={self.fault}:crash"] if self.fault else []
        return [*pre, *super().argv()]


@pytest.fixture
def crashing(busybox_tar: Path) -> Iterator[CrashingDaemon]:
    with own_daemon(None, make=CrashingDaemon, start=False) as d:
        assert isinstance(d, CrashingDaemon)
        try:
            yield d
        finally:
            d.fault = ""  # what remains is cleaned up by a berthd that does not crash
            if d.proc is None or d.proc.poll() is not None:
                d.proc = None
                with contextlib.suppress(RuntimeError):
                    d.start()
            if d.proc is not None:
                d.remove_all_containers()
                for n in d.api.call("GET", "/networks")[1] or []:
                    if n["Name"].startswith("bt-"):
                        d.api.call("DELETE", f"/networks/{n['Id']}")


def _processes_in(cgroup_dir: str) -> list[int]:
    pids = []
    for dirpath, _dirs, files in os.walk(cgroup_dir):
        if "cgroup.procs" in files:
            with open(os.path.join(dirpath, "cgroup.procs")) as f:
                pids += [int(x) for x in f.read().split()]
    return pids


def _crash_at(d: CrashingDaemon, fault: str, setup: list[tuple[str, ...]], *args: str) -> None:
    """Start berthd with FAULT armed, run SETUP (which does not reach the fault point),
    then ARGS, during which berthd dies at the point."""
    d.fault = fault
    d.start()
    docker = docker_for(d)
    for step in setup:
        r = docker(*step)
        assert r.returncode == 0, (step, r.stderr)
    r = docker(*args, timeout=60)
    assert d.proc is not None
    d.proc.wait(timeout=30)  # it died at the point, mid-request
    assert d.proc.returncode == 86, (r, d.log.read_text()[-2000:])
    d.proc = None
    d.fault = ""


_SLEEPER = ("run", "-d", "--name", "bt-c1", "busybox", "sleep", "600")


@pytest.mark.parametrize(
    ("fault", "setup", "args"),
    [
        ("create:before-store", [], ("create", "--name", "bt-c1", "busybox", "true")),
        ("start:after-spawn", [], _SLEEPER),
        ("start:after-process", [], _SLEEPER),
        ("start:after-process", [], ("run", "-d", "--rm", "--name", "bt-c1", "busybox",
                                     "sleep", "600")),
        ("remove:midway", [("run", "--name", "bt-c1", "busybox", "true")], ("rm", "bt-c1")),
        ("network:connect", [("network", "create", "bt-cn"), _SLEEPER],
         ("network", "connect", "bt-cn", "bt-c1")),
    ],
)  # fmt: skip
def test_restart_after_a_crash_leaves_nothing_unknown(
    crashing: CrashingDaemon,
    busybox_tar: Path,
    fault: str,
    setup: list[tuple[str, ...]],
    args: tuple[str, ...],
) -> None:
    d = crashing
    d.start()
    d.load_image(busybox_tar)
    d.stop()
    d.proc = None
    _crash_at(d, fault, setup, *args)
    seen = ids_on_disk(d)  # what the crash left, before berthd looks at it
    assert seen, "the crash point left nothing to recover: the test would prove nothing"
    d.start()
    docker = docker_for(d)
    status, listed = d.api.call("GET", "/containers/json?all=1")
    assert status == 200
    known = {c["Id"] for c in listed}
    seen |= known
    # everything listed can be looked at and removed
    for cid in known:
        assert d.api.call("GET", f"/containers/{cid}/json")[0] == 200
    # nothing on disk but what the store knows
    assert ids_on_disk(d) <= known
    # no container process berth cannot see: only the listed running ones have one
    running = [c for c in listed if c["State"] == "running"]
    assert len(shims_of(d)) == len(running), (listed, shims_of(d))
    if fault == "network:connect":
        # the connect the crash cut short can be made again (its stale veth is replaced)
        r = docker("network", "connect", "bt-cn", "bt-c1")
        assert r.returncode == 0, r.stderr
    # two new containers get two addresses, none of them one in use by another
    ips = []
    for i in range(2):
        r = docker("run", "-d", "--name", f"bt-n{i}", "busybox", "sleep", "600")
        assert r.returncode == 0, r.stderr
        ips.append(docker("inspect", "-f", "{{.NetworkSettings.IPAddress}}", f"bt-n{i}").stdout)
    for c in running:
        ips.append(docker("inspect", "-f", "{{.NetworkSettings.IPAddress}}", c["Id"]).stdout)
    assert len(set(ips)) == len(ips), ips
    for name in ("bt-n0", "bt-n1"):
        seen.add(docker("inspect", "-f", "{{.Id}}", name).stdout.decode().strip())
    for cid in [*known, "bt-n0", "bt-n1"]:
        assert docker("rm", "-f", cid).returncode == 0
    deadline = time.monotonic() + 10
    while (shims_of(d) or _net_leftovers(seen)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert shims_of(d) == []
    assert _net_leftovers(seen) == []
    assert ids_on_disk(d) == set()
    assert [m for m in leftover_mounts(d.root) if "/overlay/" in m or "/shm" in m] == []
    cg = "/sys/fs/cgroup/pids/berth"
    if os.path.isdir(cg):
        mine = [p for p in _processes_in(cg) if _in_root(p, d)]
        assert mine == []


def _net_leftovers(ids: set[str]) -> list[str]:
    """The netns and host veths of these containers that still exist."""
    out = [f"netns berth-{c[:12]}" for c in ids if os.path.exists(f"/run/netns/berth-{c[:12]}")]
    links = os.listdir("/sys/class/net")
    out += [n for n in links for c in ids if n.startswith(f"veth{c[:7]}")]
    return out


def _in_root(pid: int, d: Daemon) -> bool:
    try:
        return os.readlink(f"/proc/{pid}/cwd").startswith(str(d.root))
    except OSError:
        return False


def _image_files(d: Daemon) -> dict[str, set[str]]:
    """What the image store holds on disk: extracted layers, blobs, and its work area."""
    root = d.data_root / "image"
    return {
        "layers": set(os.listdir(root / "layers")),
        "blobs": set(os.listdir(root / "blobs" / "sha256")),
        "tmp": set(os.listdir(root / "tmp")),
    }


def _busybox_layer(busybox_tar: Path) -> bytes:
    """The busybox image's one layer tar (so the pulled image runs, and shares a layer with
    the image already there)."""
    with tarfile.open(busybox_tar) as tf:
        manifest = tf.extractfile("manifest.json")
        assert manifest is not None
        member = tf.extractfile(json.load(manifest)[0]["Layers"][0])
        assert member is not None
        return member.read()


def test_restart_after_a_crash_in_the_pull_commit(
    crashing: CrashingDaemon, busybox_tar: Path, registry: Registry
) -> None:
    d = crashing
    d.start()
    d.load_image(busybox_tar)
    before = _image_files(d)
    d.stop()
    d.proc = None
    repo = "crash/pull-commit"
    _, config, diff_ids = put_oci_image(
        registry,
        repo,
        "v1",
        [
            (_busybox_layer(busybox_tar), True),  # one the store has: "Already exists"
            (layer_tar({"bt-pulled": b"whole\n"}), True),
            (layer_tar({"etc/bt-second": b"2\n"}), False),
        ],
    )
    name = f"{registry.host}/{repo}:v1"
    new_layers = {diff_ids[1].removeprefix("sha256:"), diff_ids[2].removeprefix("sha256:")}
    assert diff_ids[0].removeprefix("sha256:") in before["layers"]

    _crash_at(d, "pull:commit", [], "pull", name)
    # It died mid-commit: the new layers and the config are in place, with no row.
    left = _image_files(d)
    assert new_layers <= left["layers"], left
    assert config.removeprefix("sha256:") in left["blobs"], left
    assert left["tmp"], "the pull's work dir is what a crash leaves in tmp/"

    d.start()
    docker = docker_for(d)
    # Swept at start: exactly what was there before the pull, and only whole images listed.
    assert _image_files(d) == before
    listed = d.api.call("GET", "/images/json?all=1")[1]
    assert [i["RepoTags"] for i in listed] == [["busybox:latest"]], listed
    r = docker("image", "inspect", name)
    assert r.returncode != 0 and b"No such image" in r.stderr, r

    # The same pull succeeds again, and gives a whole image.
    r = docker("pull", name, timeout=120)
    assert r.returncode == 0, r.stderr
    assert new_layers <= _image_files(d)["layers"]
    r = docker("run", "--rm", name, "cat", "/bt-pulled", "/etc/bt-second")
    assert (r.returncode, r.stdout) == (0, b"whole\n2\n"), r.stderr
    assert docker("image", "inspect", "-f", "{{.Id}}", name).stdout.decode().strip() == config

    # rmi takes it away, and with it every file of its own (the shared layer stays).
    r = docker("rmi", name)
    assert r.returncode == 0, r.stderr
    deadline = time.monotonic() + 10
    while _image_files(d) != before and time.monotonic() < deadline:
        time.sleep(0.1)  # the layer trees are deleted in the background (tmp/rm-*)
    assert _image_files(d) == before
    listed = d.api.call("GET", "/images/json?all=1")[1]
    assert [i["RepoTags"] for i in listed] == [["busybox:latest"]], listed
    assert leftover_mounts(d.root) == []
