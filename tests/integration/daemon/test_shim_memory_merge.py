"""berthd --shim-memory-merge: the shims' pages are offered to the kernel's KSM, the
containers' never are (a container process execs into an address space of its own, and
an exec'd process too). Checked on the marks themselves (VmFlags "mg"), which do not
depend on ksmd running: berth never changes the host's KSM setting."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.runtime.memmerge import mergeable_bytes
from tests.conftest import IS_ROOT, Daemon, docker_for, own_daemon

pytestmark = [pytest.mark.integration, pytest.mark.skipif(not IS_ROOT, reason="needs root")]


def _shim_of(d: Daemon, cid: str) -> int:
    """The shim's pid: the process whose cwd is the container's bundle."""
    bundle = str(d.exec_root / cid)
    for p in os.listdir("/proc"):
        if p.isdigit():
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{p}/cwd") == bundle:
                    return int(p)
    raise AssertionError(f"no shim runs in {bundle}")


def _pid(d: Daemon, cid: str) -> int:
    out = docker_for(d)("inspect", "-f", "{{.State.Pid}}", cid)
    assert out.returncode == 0, out.stderr
    return int(out.stdout)


def _exec_pid(container_pid: int) -> int:
    """The pid of the `sleep 3001` an exec started in the container's pid namespace."""
    deadline = time.monotonic() + 10
    ns = os.readlink(f"/proc/{container_pid}/ns/pid")
    while time.monotonic() < deadline:
        for p in os.listdir("/proc"):
            if not p.isdigit() or int(p) == container_pid:
                continue
            with contextlib.suppress(OSError):
                if (
                    os.readlink(f"/proc/{p}/ns/pid") == ns
                    and Path(f"/proc/{p}/cmdline").read_bytes() == b"sleep\x003001\x00"
                ):
                    return int(p)
        time.sleep(0.05)
    raise AssertionError("the exec'd process did not show up")


@pytest.fixture(params=["flag", "daemon.json"])
def merging(request: pytest.FixtureRequest, busybox_tar: Path) -> Iterator[Daemon]:
    if request.param == "flag":
        cm = own_daemon(busybox_tar, ["--shim-memory-merge"])
    else:
        cm = own_daemon(busybox_tar, daemon_json={"shim-memory-merge": True})
    with cm as d:
        yield d


def test_the_shims_are_mergeable_and_their_containers_are_not(merging: Daemon) -> None:
    docker = docker_for(merging)
    run = docker("run", "-d", "busybox", "sleep", "3000")
    assert run.returncode == 0, run.stderr
    cid = run.stdout.decode().strip()
    shim = _shim_of(merging, cid)
    # the heap and the interpreter's arenas, at least: several MiB
    assert mergeable_bytes(shim) > 4 << 20
    init = _pid(merging, cid)
    assert mergeable_bytes(init) == 0
    ex = docker("exec", "-d", cid, "sleep", "3001")
    assert ex.returncode == 0, ex.stderr
    assert mergeable_bytes(_exec_pid(init)) == 0
    # and the shim still does its work: logs, exec, exit code
    out = docker("run", "--rm", "busybox", "sh", "-c", "echo merged; exit 3")
    assert (out.returncode, out.stdout) == (3, b"merged\n")


def test_without_the_option_nothing_is_marked(busybox_tar: Path) -> None:
    with own_daemon(busybox_tar) as d:
        run = docker_for(d)("run", "-d", "busybox", "sleep", "3000")
        assert run.returncode == 0, run.stderr
        assert mergeable_bytes(_shim_of(d, run.stdout.decode().strip())) == 0


def test_a_bad_value_stops_berthd(tmp_path: Path) -> None:
    d = Daemon(tmp_path)
    (tmp_path / "daemon.json").write_text(json.dumps({"shim-memory-merge": "yes"}) + "\n")
    with pytest.raises(RuntimeError, match="invalid shim-memory-merge 'yes'"):
        d.start()
