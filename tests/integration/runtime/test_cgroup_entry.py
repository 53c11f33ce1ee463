"""A container's init and its execs start in the container's cgroup in every hierarchy:
forked into the cgroup2 directory by clone3 (CLONE_INTO_CGROUP) and moved into each v1
hierarchy by its `tasks` file, so that no start waits for the cgroup core's RCU grace
period (cgroups.entry)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.runtime import cgroups
from tests.conftest import CGROUP_PARENT, REPO, Daemon, needs_root
from tests.waiting import wait_for

pytestmark = needs_root


def _cgroups_of(pid: int) -> dict[str, str]:
    """/proc/PID/cgroup as hierarchy -> path ("" is the unified hierarchy)."""
    out = {}
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        out[controllers] = path
    return out


def _assert_in(pid: int, cid: str) -> None:
    """PID is in the cgroup of container CID (under the daemon's parent) everywhere."""
    lay = cgroups.layout()
    got = _cgroups_of(pid)
    want = next(v for v in got.values() if v.endswith("/" + cid))
    if lay.v2 or lay.unified:
        assert got[""] == want, got
    for controller, _ in lay.v1:
        line = next(v for k, v in got.items() if controller in k.split(","))
        assert line == want, (controller, got)


@pytest.fixture
def running(daemon: Daemon) -> Iterator[tuple[str, int]]:
    st, body = daemon.api.call(
        "POST", "/containers/create?name=bt-cgentry", {"Image": "busybox", "Cmd": ["sleep", "60"]}
    )
    assert st == 201, body
    cid = body["Id"]
    try:
        assert daemon.api.call("POST", f"/containers/{cid}/start")[0] == 204
        pid = daemon.api.call("GET", f"/containers/{cid}/json")[1]["State"]["Pid"]
        yield cid, pid
    finally:
        daemon.api.call("DELETE", f"/containers/{cid}?force=1")


def test_init_and_exec_start_in_the_containers_cgroups(
    daemon: Daemon, running: tuple[str, int]
) -> None:
    cid, pid = running
    _assert_in(pid, cid)
    st, body = daemon.api.call(
        "POST", f"/containers/{cid}/exec", {"Cmd": ["sleep", "30"], "AttachStdout": False}
    )
    assert st == 201, body
    eid = body["Id"]
    assert daemon.api.call("POST", f"/exec/{eid}/start", {"Detach": True})[0] == 200
    epid = wait_for(lambda: daemon.api.call("GET", f"/exec/{eid}/json")[1]["Pid"], "the exec")
    _assert_in(epid, cid)


_FORK = textwrap.dedent(
    """
    import os, sys
    from berth.runtime import syscalls
    fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    me = os.getpid()
    pid = syscalls.sys_.fork_into_cgroup(fd)
    if pid == 0:
        # the child runs Python as after os.fork: its own pid, and in the cgroup already
        ok = os.getpid() != me and "0::" + sys.argv[2] in open("/proc/self/cgroup").read()
        os._exit(0 if ok else 3)
    _, status = os.waitpid(pid, 0)
    print(os.waitstatus_to_exitcode(status))
    """
)


def test_fork_into_cgroup(tmp_path: Path) -> None:
    lay = cgroups.layout()
    name = f"{CGROUP_PARENT}-fork"
    top = lay.root if lay.v2 else lay.unified
    if not top:
        pytest.skip("no cgroup2 hierarchy on this host (pure v1): clone3 into a cgroup needs one")
    d = Path(top, name)
    d.mkdir()
    try:
        # a fresh interpreter: one thread, as the shim is
        out = subprocess.run(
            [sys.executable, "-c", _FORK, str(d), f"/{name}"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert out.returncode == 0 and out.stdout.strip() == "0", out.stderr
    finally:
        d.rmdir()
