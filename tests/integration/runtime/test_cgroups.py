"""Resource limits the kernel enforces, OOM detection, freezing, cleanup."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import stat
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.runtime import bpf, cgroups, devicefilter, executor
from berth.runtime.spec import DEFAULT_DEVICE_RULES, RuntimeSpec, to_oci
from tests.integration.runtime.conftest import Runner, cgroup_exists

# a shell string of ~100 MiB: busybox tr and the shell both hold it in memory
HOG = 'x=$(head -c 100000000 /dev/zero | tr "\\0" a); echo survived'


def test_memory_limit_oom_kills(run: Runner) -> None:
    res = run("sh", "-c", HOG, memory=32 << 20, memory_swap=32 << 20)
    assert res.code == -9, res.out
    assert "survived" not in res.out
    assert res.oom_killed
    assert not cgroup_exists(res.config)


def test_no_oom_without_limit_pressure(run: Runner) -> None:
    res = run("sh", "-c", "head -c 1000000 /dev/zero | wc -c", memory=64 << 20)
    assert (res.code, res.out.strip(), res.oom_killed) == (0, "1000000", False)


def test_memory_limit_visible_in_own_cgroup(run: Runner) -> None:
    res = run("cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes", memory=48 << 20)
    assert res.out.strip() == str(48 << 20)


def test_cgroup_namespace_root(run: Runner) -> None:
    res = run("cat", "/proc/self/cgroup")
    assert all(ln.endswith(":/") for ln in res.out.splitlines()), res.out


def test_pids_limit(run: Runner) -> None:
    res = run("sh", "-c", "for i in $(seq 20); do sleep 5 & done 2>&1; echo end", pids_limit=5)
    assert "can't fork" in res.out


def test_cpu_settings_written(run: Runner) -> None:
    res = run(
        "sh",
        "-c",
        "cat /sys/fs/cgroup/cpu/cpu.shares /sys/fs/cgroup/cpu/cpu.cfs_quota_us",
        cpu_shares=256,
        cpu_quota=20000,
        cpu_period=100000,
    )
    assert res.out.split() == ["256", "20000"]


def test_freeze_and_thaw(rootfs_dir: Path) -> None:
    cfg = to_oci(
        RuntimeSpec(
            id="bt-frz",
            rootfs=str(rootfs_dir),
            args=["sleep", "100"],
            env=["PATH=/bin"],
            cgroup_path="/berth/bt-frz",
        )
    )
    pid = executor.spawn(cfg, (0, 1, 2))
    try:
        cgroups.freeze("/berth/bt-frz")
        assert cgroups.state("/berth/bt-frz") == "FROZEN"
        assert Path(f"/proc/{pid}/stat").read_text().split(") ")[1].split()[0] in ("D", "S")
        cgroups.thaw("/berth/bt-frz")
        assert cgroups.state("/berth/bt-frz") == "THAWED"
        assert pid in cgroups.pids("/berth/bt-frz")
    finally:
        cgroups.thaw("/berth/bt-frz")
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        executor.cleanup(cfg)
    assert not cgroup_exists(cfg)


# ---- cgroup v2 devices: the eBPF program ---------------------------------------------

# name -> (node type, device): what a process in the cgroup mknods and then opens. Nodes
# root can open on this host (its root disk it cannot, whatever the cgroup says), so an
# EPERM is the program's doing: test_v2_without_program_everything_opens shows it
_NODES = {
    "null": (stat.S_IFCHR, os.makedev(1, 3)),  # allowed by the defaults
    "kmsg": (stat.S_IFCHR, os.makedev(1, 11)),
    "kvm": (stat.S_IFCHR, os.makedev(10, 232)),
    "loop0": (stat.S_IFBLK, os.makedev(7, 0)),  # a host block device, as 8:0 would be
}
_ALL_OK = dict.fromkeys(_NODES, "ok")


def _v2_dir(name: str) -> str:
    lay = cgroups.layout()
    d = lay.v2_dir(name)
    if d is None:
        pytest.skip("no cgroup v2 hierarchy on this host")
    return d


def _probe_in_cgroup(cg_dir: str, tmp: str) -> dict[str, str]:
    """Fork a process, move it into `cg_dir`, let it mknod and open each of _NODES in
    `tmp`; its report per node: "ok", or the errno name of the step that failed."""
    rep_r, rep_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no pytest machinery past this point, only os._exit
        code = 1
        try:
            os.close(rep_r)
            os.close(go_w)
            if os.read(go_r, 1) != b"x":  # until the parent has moved us into the cgroup
                os._exit(2)  # it could not: probe nothing outside the cgroup
            out = {}
            for name, (kind, dev) in _NODES.items():
                p = os.path.join(tmp, name)
                try:
                    os.mknod(p, kind | 0o600, dev)
                except OSError as e:
                    out[name] = "mknod " + errno.errorcode[e.errno or 0]
                    continue
                try:
                    os.close(os.open(p, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC))
                    out[name] = "ok"
                except OSError as e:
                    out[name] = "open " + errno.errorcode[e.errno or 0]
            os.write(rep_w, json.dumps(out).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(rep_w)
    os.close(go_r)
    reaped = False
    try:
        with open(os.path.join(cg_dir, "cgroup.procs"), "w") as f:
            f.write(str(pid))
        os.write(go_w, b"x")
        data = b""
        while chunk := os.read(rep_r, 4096):
            data += chunk
        _, status = os.waitpid(pid, 0)
        reaped = True
        assert os.waitstatus_to_exitcode(status) == 0
        return json.loads(data)
    finally:
        os.close(go_w)
        os.close(rep_r)
        if not reaped:  # only our own child, and only while its pid is still ours
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


@pytest.fixture
def v2_cgroup() -> Iterator[tuple[str, str]]:
    """A fresh cgroup in the v2 (on this hybrid host: unified) hierarchy, and a temp dir
    for device nodes; both removed even when the test fails."""
    if os.geteuid() != 0:
        pytest.skip("needs root: cgroups, mknod, bpf")
    name = f"berth-test-dev-{uuid.uuid4().hex[:8]}"
    d = _v2_dir(name)
    os.mkdir(d)
    tmp = tempfile.mkdtemp(prefix="bt-devnodes-", dir="/tmp")
    try:
        yield d, tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        cgroups.remove(name, root=cgroups.ROOT, timeout=5)


def _attached(cg_dir: str) -> list[int]:
    fd = os.open(cg_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return bpf.prog_query(fd)
    finally:
        os.close(fd)


def test_v2_without_program_everything_opens(v2_cgroup: tuple[str, str]) -> None:
    """The baseline the tests below are measured against."""
    cg, tmp = v2_cgroup
    for name in ("kvm", "loop0"):
        if not os.path.exists(f"/dev/{name}"):
            pytest.skip(f"this host has no /dev/{name}")
    assert _attached(cg) == []
    assert _probe_in_cgroup(cg, tmp) == _ALL_OK


def test_v2_device_program_default_rules(v2_cgroup: tuple[str, str]) -> None:
    """On this hybrid host the process stays in the root v1 devices cgroup (allow all):
    only the eBPF program stands between it and the host's devices."""
    cg, tmp = v2_cgroup
    cgroups.attach_device_program(
        cg, devicefilter.program(cgroups.with_implicit(DEFAULT_DEVICE_RULES))
    )
    assert len(_attached(cg)) == 1
    report = _probe_in_cgroup(cg, tmp)
    # mknod is allowed everywhere (as under dockerd); opening is what the rules guard
    assert report == {
        "null": "ok",
        "kmsg": "open EPERM",
        "kvm": "open EPERM",
        "loop0": "open EPERM",
    }


def test_v2_device_program_privileged_rules(v2_cgroup: tuple[str, str]) -> None:
    cg, tmp = v2_cgroup
    rules = cgroups.with_implicit([{"allow": True, "access": "rwm"}])
    cgroups.attach_device_program(cg, devicefilter.program(rules))
    assert _probe_in_cgroup(cg, tmp) == _ALL_OK


def test_v2_device_program_mknod_can_be_denied(v2_cgroup: tuple[str, str]) -> None:
    """The general rule form --device-cgroup-rule will use: no implicit 'm' allow here."""
    cg, tmp = v2_cgroup
    rules = [{"allow": True, "access": "rwm"}, {"allow": False, "type": "b", "access": "m"}]
    cgroups.attach_device_program(cg, devicefilter.program(rules))
    assert _probe_in_cgroup(cg, tmp) == {**_ALL_OK, "loop0": "mknod EPERM"}


def test_container_cgroup_gets_the_device_program(rootfs_dir: Path) -> None:
    """executor.spawn on this host: the container joins the unified hierarchy too and its
    cgroup there carries one device program; it goes away with the cgroup."""
    if cgroups.layout().v2_dir("x") is None:
        pytest.skip("no cgroup v2 hierarchy on this host")
    cid = "bt-dev-" + uuid.uuid4().hex[:8]
    cfg = to_oci(
        RuntimeSpec(
            id=cid, rootfs=str(rootfs_dir), args=["sleep", "100"], env=["PATH=/bin"],
            cgroup_path=f"/berth/{cid}",
        )
    )  # fmt: skip
    pid = executor.spawn(cfg, (0, 1, 2))
    try:
        v2 = cgroups.layout().v2_dir(f"/berth/{cid}")
        assert v2 is not None
        assert pid in [int(x) for x in Path(v2, "cgroup.procs").read_text().split()]
        progs = _attached(v2)
        assert len(progs) == 1
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        executor.cleanup(cfg)
    assert not cgroup_exists(cfg)
    # the kernel frees the program once the cgroup is released (asynchronously)
    deadline = time.monotonic() + 10
    while _program_exists(progs[0]):
        assert time.monotonic() < deadline, "the device program outlived its cgroup"
        time.sleep(0.01)


def _program_exists(prog_id: int) -> bool:
    try:
        os.close(bpf.prog_fd_by_id(prog_id))
    except FileNotFoundError:
        return False
    return True
