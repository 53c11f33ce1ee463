"""The builtin executor and crun, on the same bundle, must show the container the same
world (the contract in docs: both executors behave the same on one bundle)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.runtime import capabilities, cgroups, executor
from berth.runtime.seccomp import profile
from berth.runtime.spec import RuntimeSpec, write_bundle

CRUN = "/usr/bin/crun"
HUGETLB = "/sys/fs/cgroup/hugetlb"
PROBE = (
    "hostname; echo $$; id; grep -E '^(Cap|NoNewPrivs|Seccomp)' /proc/self/status; "
    "unshare -U true 2>/dev/null; echo userns=$?; "
    "cut -d' ' -f2,3 /proc/mounts | sort; ls /dev | sort; cat /sys/class/net/lo/flags; "
    "wc -c < /proc/keys; ls /sys/firmware | wc -l; cat /proc/self/cgroup | cut -d: -f3 | sort -u"
)


@pytest.fixture(scope="module")
def crun_root() -> Iterator[str]:
    """crun's state dir; makes crun usable on a hybrid host (see the module docstring)."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    if not os.access(CRUN, os.X_OK):
        pytest.skip("crun is not installed")
    mounted = False
    # crun 1.8 refuses a hybrid host whose cgroup2 still has a controller (hugetlb
    # here); binding hugetlb to a v1 hierarchy takes it away from cgroup2
    controllers = Path("/sys/fs/cgroup/unified/cgroup.controllers")
    if controllers.exists() and controllers.read_text().strip() and not os.path.ismount(HUGETLB):
        os.makedirs(HUGETLB, exist_ok=True)
        # the controller moves only once no cgroup2 group uses it: the cgroups of
        # containers an earlier test just ended may still be going away
        deadline = time.monotonic() + 15
        while not os.path.ismount(HUGETLB) and time.monotonic() < deadline:
            subprocess.run(["mount", "-t", "cgroup", "-o", "hugetlb", "cgroup", HUGETLB],
                           check=False, capture_output=True)  # fmt: skip
            if not os.path.ismount(HUGETLB):
                time.sleep(0.2)
        mounted = os.path.ismount(HUGETLB)
        if not mounted:
            with contextlib.suppress(OSError):
                os.rmdir(HUGETLB)
            pytest.fail("cannot bind hugetlb to a v1 hierarchy (cgroup2 keeps using it)")
    # the executor snapshots the host's cgroup mounts and layout (an earlier test in this
    # process may have taken the snapshot): it must see the new hierarchy
    cgroups._host_mounts.cache_clear()
    cgroups.layout.cache_clear()
    d = tempfile.mkdtemp(prefix="bt-crun-", dir="/tmp")
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)
        if mounted:
            subprocess.run(["umount", HUGETLB], check=False)
            cgroups._host_mounts.cache_clear()
            cgroups.layout.cache_clear()
            try:
                os.rmdir(HUGETLB)
            except OSError:
                pass
        cgroups._host_mounts.cache_clear()


def _bundle(rootfs: Path, bundle: Path, **kw: object) -> dict:
    spec = RuntimeSpec(
        id="parity",
        rootfs=str(rootfs),
        args=["sh", "-c", PROBE],
        env=["PATH=/bin"],
        hostname="twin",
        cgroup_path="",
        **kw,  # type: ignore[arg-type]
    )
    return write_bundle(bundle, spec)


def _ours(config: dict) -> str:
    r, w = os.pipe2(os.O_CLOEXEC)
    try:
        pid = executor.spawn(config, (0, w, w))
    finally:
        os.close(w)
    out = b""
    while b := os.read(r, 65536):
        out += b
    os.close(r)
    os.waitpid(pid, 0)
    return out.decode()


def _crun(state: str, bundle: Path, name: str) -> str:
    p = subprocess.run(
        [CRUN, "--root", state, "--cgroup-manager=disabled", "run", "-b", str(bundle), name],
        capture_output=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    if p.returncode != 0 and not p.stdout:
        pytest.skip(f"crun does not run here: {p.stderr.decode().strip()}")
    return p.stdout.decode()


def _seccomp(nnp: bool = False) -> dict:
    oci = profile.to_oci(profile.default_profile(), list(capabilities.DOCKER_DEFAULT))
    return {"seccomp": oci, "no_new_privileges": nnp}


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"uid": 65534, "gid": 65534},
        {"cap_drop": ["ALL"], "cap_add": ["CHOWN"]},
        _seccomp(),
        _seccomp(nnp=True),
    ],
    ids=["root", "nobody", "caps", "seccomp", "seccomp-nnp"],
)
def test_same_observations_as_crun(
    crun_root: str, rootfs_dir: Path, kw: dict, tmp_path_factory: pytest.TempPathFactory
) -> None:
    bundle = Path(tempfile.mkdtemp(prefix="bt-b-", dir="/tmp"))
    try:
        config = _bundle(rootfs_dir, bundle, **kw)
        theirs = _crun(crun_root, bundle, "parity-" + bundle.name[-6:])
        ours = _ours(config)
    finally:
        shutil.rmtree(bundle, ignore_errors=True)
    assert _comparable(ours) == _comparable(theirs)
    assert "/proc/keys" in ours and "/sys/fs/cgroup/memory cgroup" in ours
    filtered = "seccomp" in kw
    assert ("Seccomp:\t2" in ours and "userns=1" in ours) == filtered, ours


def _comparable(out: str) -> list[str]:
    # crun masks files with the host's /dev/null (devtmpfs), runc and we with the
    # container's (tmpfs): the same empty file either way, so the type is left out
    masked = ("/proc/keys ", "/proc/timer_list ", "/proc/kcore ", "/proc/timer_stats ")
    return [ln.split()[0] if ln.startswith(masked) else ln for ln in out.splitlines()]
