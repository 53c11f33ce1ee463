"""The container process: identity, pid 1, capabilities, exit codes, start errors."""

from __future__ import annotations

import os
import pty
import signal
from pathlib import Path

import pytest

from berth.runtime import executor
from berth.runtime.spec import RuntimeSpec, to_oci
from tests.integration.runtime.conftest import Runner, cgroup_exists

DOCKER_CAPS = "00000000a80425fb"


def _status(out: str, key: str) -> str:
    return next(ln.split()[1] for ln in out.splitlines() if ln.startswith(key + ":"))


def test_hostname_pid1_and_root_identity(run: Runner) -> None:
    res = run("sh", "-c", "hostname; echo $$; id")
    assert res.code == 0, res.out
    assert res.out.splitlines() == ["ctr", "1", "uid=0(root) gid=0(root)"]


def test_non_root_user_and_groups(run: Runner) -> None:
    res = run("id", uid=65534, gid=65534, additional_gids=[10])
    assert res.out.strip() == "uid=65534(nobody) gid=65534(nogroup) groups=10"


def test_default_capabilities_match_docker(run: Runner) -> None:
    res = run("cat", "/proc/self/status")
    for key in ("CapEff", "CapPrm", "CapBnd"):
        assert _status(res.out, key) == DOCKER_CAPS
    assert _status(res.out, "CapInh") == "0000000000000000"
    assert _status(res.out, "NoNewPrivs") == "0"


def test_cap_drop_all_add_one_and_nnp(run: Runner) -> None:
    res = run(
        "cat", "/proc/self/status", cap_drop=["ALL"], cap_add=["KILL"], no_new_privileges=True
    )
    assert _status(res.out, "CapEff") == f"{1 << 5:016x}"
    assert _status(res.out, "CapBnd") == f"{1 << 5:016x}"
    assert _status(res.out, "NoNewPrivs") == "1"


def test_non_root_has_no_effective_caps(run: Runner) -> None:
    res = run("cat", "/proc/self/status", uid=65534, gid=65534)
    assert _status(res.out, "CapEff") == "0000000000000000"
    assert _status(res.out, "CapBnd") == DOCKER_CAPS


def test_env_cwd_and_exit_code(run: Runner) -> None:
    res = run("sh", "-c", 'echo "$A:$(pwd)"; exit 3', env=["PATH=/bin", "A=x"], cwd="/tmp")
    assert (res.code, res.out.strip()) == (3, "x:/tmp")


def test_init_is_our_child_and_killable(rootfs_dir: Path) -> None:
    cfg = to_oci(
        RuntimeSpec(
            id="bt-kill",
            rootfs=str(rootfs_dir),
            args=["sleep", "100"],
            env=["PATH=/bin"],
            cgroup_path="/berth/bt-kill",
        )
    )
    pid = executor.spawn(cfg, (0, 1, 2))
    try:
        assert int(Path(f"/proc/{pid}/stat").read_text().split(") ")[1].split()[1]) == os.getpid()
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    finally:
        executor.cleanup(cfg)
    assert os.waitstatus_to_exitcode(status) == -signal.SIGKILL
    assert not cgroup_exists(cfg)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuch"], 'exec: "nosuch": executable file not found in $PATH'),
        (["/etc"], 'exec: "/etc": permission denied'),
        (["/nosuch"], 'exec: "/nosuch": stat /nosuch: no such file or directory'),
    ],
)
def test_start_errors_read_like_runc(rootfs_dir: Path, args: list[str], message: str) -> None:
    spec = RuntimeSpec(
        id="bt-err",
        rootfs=str(rootfs_dir),
        args=args,
        env=["PATH=/bin"],
        cgroup_path="/berth/bt-err",
    )
    cfg = to_oci(spec)
    before = _children()
    with pytest.raises(executor.StartError) as e:
        executor.spawn(cfg, (0, 1, 2))
    assert e.value.message == "unable to start container process: " + message
    # nothing left behind: no cgroup, no new child (live or zombie). Other fixtures'
    # daemons may be children of this process too, so compare before and after.
    assert not cgroup_exists(cfg)
    assert _children() == before


def _children() -> set[int]:
    me = str(os.getpid())
    out = set()
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = open(f"/proc/{d}/stat").read()
            except OSError:
                continue
            if stat.rsplit(")", 1)[1].split()[1] == me:
                out.add(int(d))
    return out


def test_tty_is_controlling_terminal(rootfs_dir: Path) -> None:
    master, slave = pty.openpty()
    cfg = to_oci(
        RuntimeSpec(
            id="bt-tty",
            rootfs=str(rootfs_dir),
            args=["sh", "-c", "[ -t 0 ] && echo tty-yes; cat /proc/1/stat; ls /dev/console"],
            env=["PATH=/bin"],
            tty=True,
            cgroup_path="/berth/bt-tty",
        )
    )
    try:
        pid = executor.spawn(cfg, (slave, slave, slave), console_fd=master)
        os.close(slave)
        out = b""
        while True:
            try:
                b = os.read(master, 4096)
            except OSError:  # EIO once the last slave fd closes
                break
            if not b:
                break
            out += b
        os.waitpid(pid, 0)
    finally:
        os.close(master)
        executor.cleanup(cfg)
    text = out.decode()
    assert "tty-yes" in text
    stat_line = next(ln for ln in text.splitlines() if ln.startswith("1 ("))
    assert int(stat_line.split(") ")[1].split()[4]) != 0  # tty_nr: it has a controlling tty
    assert "/dev/console" in text


def test_limits_umask_and_signals_reach_the_process(run: Runner) -> None:
    # each of these is set through the syscalls seam in the child (oom_score_adj written,
    # setrlimit, umask 022, signal mask and dispositions reset)
    res = run(
        "sh",
        "-c",
        "cat /proc/self/oom_score_adj; ulimit -n; ulimit -Hn; umask; cat /proc/self/status",
        oom_score_adj=321,
        rlimits=[("RLIMIT_NOFILE", 123, 456)],
    )
    assert res.code == 0, res.out
    lines = res.out.splitlines()
    assert lines[:4] == ["321", "123", "456", "0022"]
    assert _status(res.out, "SigBlk") == "0000000000000000"
    # Python ignores SIGPIPE and SIGXFSZ; whatever else our own parent ignores stays
    ignored = int(_status(res.out, "SigIgn"), 16)
    for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM):
        assert not ignored >> (sig - 1) & 1, sig
