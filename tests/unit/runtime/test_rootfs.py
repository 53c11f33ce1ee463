"""rootfs: mount option parsing, symlink-safe paths, the overlay mount (with a fake)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from berth.runtime import rootfs, syscalls
from berth.runtime.syscalls import (
    MNT_DETACH,
    MS_BIND,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_PRIVATE,
    MS_RDONLY,
    MS_REC,
    MS_STRICTATIME,
)
from tests.unit.runtime.fake_syscalls import FakeSyscalls


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeSyscalls:
    f = FakeSyscalls()
    monkeypatch.setattr(syscalls, "sys_", f)
    return f


def test_parse_options() -> None:
    flags, prop, data = rootfs.parse_options(
        ["nosuid", "strictatime", "mode=755", "size=65536k", "rprivate", "ro"]
    )
    assert flags == MS_NOSUID | MS_STRICTATIME | MS_RDONLY
    assert prop == MS_PRIVATE | MS_REC
    assert data == "mode=755,size=65536k"
    flags, _, _ = rootfs.parse_options(["ro", "rw", "nodev", "dev", "noexec", "rbind"])
    assert flags == MS_NOEXEC | MS_BIND | MS_REC
    assert not flags & (MS_RDONLY | MS_NODEV)


def test_resolve_in_root_keeps_symlinks_inside(tmp: Path) -> None:
    (tmp / "etc").mkdir()
    (tmp / "abs").symlink_to("/etc")
    (tmp / "up").symlink_to("../../../../etc")
    (tmp / "etc" / "loop").symlink_to("loop")
    root = str(tmp)
    assert rootfs.resolve_in_root(root, "/abs/passwd") == f"{root}/etc/passwd"
    assert rootfs.resolve_in_root(root, "/up/x") == f"{root}/etc/x"
    assert rootfs.resolve_in_root(root, "/../../tmp") == f"{root}/tmp"
    assert rootfs.resolve_in_root(root, "/") == root
    with pytest.raises(OSError) as e:
        rootfs.resolve_in_root(root, "/etc/loop/x")
    assert e.value.errno == errno.ELOOP


def test_overlay_reverses_lowers(fake: FakeSyscalls) -> None:
    rootfs.mount_overlay(["/l/bottom", "/l/top"], "/u", "/w", "/t")
    assert fake.mounts() == [
        ("overlay", "/t", "overlay", 0, "lowerdir=/l/top:/l/bottom,upperdir=/u,workdir=/w")
    ]


def test_overlay_single_lower_without_upper_is_ro_bind(fake: FakeSyscalls) -> None:
    rootfs.mount_overlay(["/l/only"], "", "", "/t")
    (src, tgt, _, fl1, _), (_, _, _, fl2, _) = fake.mounts()
    assert (src, tgt) == ("/l/only", "/t") and fl1 == MS_BIND
    assert fl2 & MS_RDONLY


def test_overlay_many_long_layers_use_short_links(fake: FakeSyscalls) -> None:
    lowers = [f"/var/lib/berth/layers/{i:064d}/diff" for i in range(60)]
    rootfs.mount_overlay(lowers, "/u", "/w", "/t")
    ((_, _, fstype, _, data),) = fake.mounts()
    assert fstype == "overlay" and len(data) < 4096
    # the links were removed after the mount; their names were in top-first order
    names = data.split(",")[0][len("lowerdir=") :].split(":")
    assert [os.path.basename(n) for n in names] == [str(i) for i in range(60)]
    assert not os.path.exists(os.path.dirname(names[0]))


def test_unmount_tolerates_not_mounted(fake: FakeSyscalls) -> None:
    fake.fail["umount2"] = OSError(errno.EINVAL, "not mounted")
    rootfs.unmount("/nothing")
    fake.fail["umount2"] = OSError(errno.EBUSY, "busy")
    rootfs.unmount("/busy")
    assert fake.calls[-1] == ("umount2", ("/busy", MNT_DETACH))


def _config(root: str, **linux: object) -> dict:
    return {
        "root": {"path": root, "readonly": True},
        "process": {"terminal": False, "cwd": "/"},
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid"]},
            {
                "destination": "/dev",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "mode=755"],
            },
            {"destination": "/data", "type": "bind", "source": "/etc", "options": ["rbind", "ro"]},
        ],
        "linux": {
            "namespaces": [{"type": "mount"}, {"type": "network"}],
            "maskedPaths": ["/proc/kcore"],
            "readonlyPaths": ["/proc/sys"],
            **linux,
        },
    }


def test_plan_orders_mounts_then_pivot(tmp: Path) -> None:
    fake = FakeSyscalls()
    before, after = rootfs.plan(_config(str(tmp)))
    rootfs.run(before, fake)
    m = fake.mounts()
    root = str(tmp)
    # the host tree becomes a slave first, then the root is bound onto itself
    assert m[0][:2] == (None, "/") and m[1][:2] == (root, root)
    assert m[2][:3] == ("proc", f"{root}/proc", "proc")
    assert m[3][:3] == ("tmpfs", f"{root}/dev", "tmpfs") and m[3][4] == "mode=755"
    assert m[4][:2] == ("/etc", f"{root}/data") and m[4][3] == MS_BIND | MS_REC
    assert m[5][1] == f"{root}/data" and m[5][3] & MS_RDONLY  # ro needs a remount
    assert fake.index("mknod", f"{root}/dev/null") > fake.index("mount", "tmpfs")
    pivot = fake.index("pivot_root")
    assert pivot > fake.index("mknod", f"{root}/dev/null")
    assert fake.names()[pivot:] == ["pivot_root", "mount", "umount2", "chdir"]

    fake2 = FakeSyscalls()
    rootfs.run(after, fake2)
    targets = [a[1] for a in fake2.mounts()]
    # read-only paths, then masks, then the read-only root
    assert targets == ["/proc/sys", "/proc/sys", "/proc/kcore", "/"]


def test_plan_mask_falls_back_to_tmpfs_for_dirs() -> None:
    fake = FakeSyscalls()
    fake.fail["mount"] = OSError(errno.ENOTDIR, "not a dir")
    rootfs.run([(rootfs._do_mask, ("/sys/firmware",))], fake)
    assert fake.mounts()[1][:3] == ("tmpfs", "/sys/firmware", "tmpfs")


def test_plan_cgroup_v1_with_namespace(tmp: Path) -> None:
    cfg = _config(str(tmp))
    cfg["mounts"] = [
        {
            "destination": "/sys/fs/cgroup",
            "type": "cgroup",
            "source": "cgroup",
            "options": ["ro", "nosuid", "noexec", "nodev"],
        }
    ]
    cfg["linux"]["namespaces"].append({"type": "cgroup"})
    host = (("cpu,cpuacct", "cgroup", "cpu,cpuacct"), ("memory", "cgroup", "memory"))
    links = (("cpu", "cpu,cpuacct"),)
    before, _ = rootfs.plan(cfg, cgroup_host=host, cgroup_links=links)
    fake = FakeSyscalls()
    rootfs.run(before, fake)
    base = f"{tmp}/sys/fs/cgroup"
    m = [a for a in fake.mounts() if a[1].startswith(base)]
    assert m[0][:3] == ("tmpfs", base, "tmpfs")
    assert m[1][1:3] == (f"{base}/cpu,cpuacct", "cgroup") and m[1][4] == "cpu,cpuacct"
    assert m[2][1:3] == (f"{base}/memory", "cgroup") and m[2][3] & MS_RDONLY
    assert m[3][1] == base and m[3][3] & MS_RDONLY  # the tmpfs made ro last
    assert ("symlink", ("cpu,cpuacct", f"{base}/cpu")) in fake.calls
