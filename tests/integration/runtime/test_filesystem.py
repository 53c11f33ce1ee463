"""The container's filesystem: default mounts, masked and read-only paths, binds,
read-only root, the overlay root, and no mounts left on the host."""

from __future__ import annotations

import os
from pathlib import Path

from berth.runtime import rootfs
from berth.runtime.spec import BindMount
from tests.integration.runtime.conftest import Runner


def _mounts(out: str) -> dict[str, tuple[str, set[str]]]:
    """mountpoint -> (fstype, options) from /proc/mounts text."""
    res = {}
    for ln in out.splitlines():
        parts = ln.split()
        if len(parts) >= 4:
            res[parts[1]] = (parts[2], set(parts[3].split(",")))
    return res


def test_default_mounts(run: Runner) -> None:
    m = _mounts(run("cat", "/proc/mounts").out)
    assert m["/proc"][0] == "proc"
    assert m["/dev"][0] == "tmpfs" and "size=65536k" in m["/dev"][1]
    assert m["/dev/pts"][0] == "devpts"
    assert m["/sys"][0] == "sysfs" and "ro" in m["/sys"][1]
    assert m["/sys/fs/cgroup"][0] == "tmpfs" and "ro" in m["/sys/fs/cgroup"][1]
    assert m["/sys/fs/cgroup/memory"][0] in ("cgroup", "cgroup2")
    assert m["/dev/mqueue"][0] == "mqueue"
    assert m["/dev/shm"][0] == "tmpfs" and "size=65536k" in m["/dev/shm"][1]
    assert "ro" in m["/proc/sys"][1]


def test_sys_is_read_only(run: Runner) -> None:
    res = run("sh", "-c", "echo 1 > /sys/kernel/mm/ksm/run && echo wrote")
    assert "wrote" not in res.out and "Read-only file system" in res.out


def test_proc_sys_is_read_only(run: Runner) -> None:
    res = run("sh", "-c", "echo x > /proc/sys/kernel/hostname && echo wrote")
    assert "wrote" not in res.out and "Read-only file system" in res.out


def test_masked_paths(run: Runner) -> None:
    res = run("sh", "-c", "wc -c < /proc/keys; ls /sys/firmware | wc -l")
    assert res.out.split() == ["0", "0"]


def test_devices_and_links(run: Runner) -> None:
    res = run("sh", "-c", "ls -l /dev/null /dev/zero /dev/urandom /dev/tty; readlink /dev/fd")
    lines = res.out.splitlines()
    assert all(ln.startswith("crw-rw-rw-") for ln in lines[:4]), res.out
    assert lines[4] == "/proc/self/fd"


def test_loopback_is_up(run: Runner) -> None:
    res = run("sh", "-c", "cat /sys/class/net/lo/flags; ls /sys/class/net")
    flags, nets = res.out.split("\n", 1)
    assert int(flags, 16) & 1  # IFF_UP
    assert nets.split() == ["lo"]


def test_bind_mounts(run: Runner, tmp: Path) -> None:
    (tmp / "rw").mkdir()
    (tmp / "ro").mkdir()
    (tmp / "ro" / "f").write_text("hello\n")
    res = run(
        "sh",
        "-c",
        "cat /in/f; echo data > /out/new; touch /in/x 2>/dev/null || echo ro-ok",
        mounts=[
            BindMount(str(tmp / "ro"), "/in", readonly=True),
            BindMount(str(tmp / "rw"), "/out"),
        ],
    )
    assert res.out.split() == ["hello", "ro-ok"]
    assert (tmp / "rw" / "new").read_text() == "data\n"


def test_read_only_root(run: Runner) -> None:
    res = run("sh", "-c", "touch /x 2>&1; touch /dev/shm/ok && echo shm-ok", readonly_rootfs=True)
    assert "Read-only file system" in res.out and "shm-ok" in res.out


def test_sysctl(run: Runner) -> None:
    res = run("cat", "/proc/sys/net/ipv4/ip_forward", sysctls={"net.ipv4.ip_forward": "1"})
    assert res.out.strip() == "1"


def test_no_mounts_leak_to_host(run: Runner, rootfs_dir: Path) -> None:
    run("true")
    with open("/proc/self/mountinfo") as f:
        assert str(rootfs_dir) not in f.read()


def test_overlay_root(run: Runner, rootfs_dir: Path, tmp: Path) -> None:
    # 40 layers with long names: the option string exceeds a page
    lowers = [str(rootfs_dir)]
    for i in range(39):
        d = tmp / ("layer-" + "x" * 80 + f"-{i:02d}")
        d.mkdir()
        (d / f"f{i}").write_text(f"{i}\n")
        lowers.append(str(d))
    (tmp / "upper").mkdir()
    (tmp / "work").mkdir()
    (tmp / "merged").mkdir()
    target = str(tmp / "merged")
    rootfs.mount_overlay(lowers, str(tmp / "upper"), str(tmp / "work"), target)
    try:
        res = run("sh", "-c", "cat /f0 /f38; echo new > /created", rootfs=Path(target))
        assert res.out.split() == ["0", "38"]
        assert (tmp / "upper" / "created").read_text() == "new\n"
        assert not (rootfs_dir / "created").exists()
    finally:
        rootfs.unmount(target)
    rootfs.unmount(target)  # idempotent
    assert not os.path.ismount(target)
