"""Secrets stay root's: the modes of the data root, the container directories, the
database (with every container's Env) and its WAL, and the exec root (the bundles'
config.json) as berthd sets them at every start, also over an older berth's 0755/0644
layout, checked with a real unprivileged user. Containers running as another user still
use their rootfs, volumes and /etc files: they see them through their own mounts."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.apiclient import Api
from tests.conftest import IS_ROOT, Daemon, cleanup_root
from tests.users import run_as, user_and_group

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not IS_ROOT, reason="needs root"),
    pytest.mark.skipif(not shutil.which("docker"), reason="needs the docker CLI"),
]

Run = Callable[..., subprocess.CompletedProcess[bytes]]
SECRET = "DB_PASSWORD=s3cret-" + uuid.uuid4().hex[:8]

# dockerd's modes for its data root and the directories in it; containers/ is root's alone
DATA_MODES = {".": 0o710, "containers": 0o700, "overlay": 0o710, "volumes": 0o701, "image": 0o700}


@pytest.fixture
def user() -> Iterator[str]:
    for u, _group in user_and_group():
        yield u


@pytest.fixture
def user_group() -> Iterator[tuple[str, str]]:
    yield from user_and_group()


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _ok(p: subprocess.CompletedProcess[bytes]) -> str:
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    return p.stdout.decode()


def _dk(d: Daemon) -> Run:
    def run(*args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(["docker", *args], env=d.env, capture_output=True, timeout=60)

    return run


def _denied(user: str, *argv: str) -> bool:
    p = run_as(user, *argv)
    return p.returncode != 0 and b"Permission denied" in p.stderr


def _check_modes(d: Daemon, cid: str) -> None:
    for sub, mode in DATA_MODES.items():
        assert _mode(d.data_root / sub) == mode, (sub, oct(_mode(d.data_root / sub)))
    assert _mode(d.data_root / "containers" / cid) == 0o700
    for suffix in ("", "-wal", "-shm"):
        db = d.data_root / f"berth.db{suffix}"
        assert db.exists() and _mode(db) == 0o600, (db, oct(_mode(db)))
    assert _mode(d.exec_root) == 0o700


def _check_user_is_kept_out(d: Daemon, user: str, cid: str) -> None:
    # the test root itself is open (0755), so berth's own modes are all that keep the user out
    assert run_as(user, "ls", str(d.root)).returncode == 0
    data = d.data_root
    for f in (data / "berth.db", data / "berth.db-wal", data / "berth.db-shm"):
        assert _denied(user, "cat", str(f)), f
    assert _denied(user, "ls", str(data / "containers"))
    assert _denied(user, "cat", str(data / "containers" / cid / "hosts"))
    assert _denied(user, "cat", str(d.exec_root / cid / "config.json"))
    assert _denied(user, "ls", str(d.exec_root))


def _secret_is_on_disk(d: Daemon, cid: str) -> None:
    """The secret really is in the files the user was kept from (else the test proves nothing)."""
    db = b"".join((d.data_root / f"berth.db{s}").read_bytes() for s in ("", "-wal"))
    assert SECRET.encode() in db
    assert SECRET in (d.exec_root / cid / "config.json").read_text()


def _old_layout(d: Daemon) -> None:
    """What an older berth left: everything 0755 (directories) and 0644 (files)."""
    for sub in DATA_MODES:
        os.chmod(d.data_root / sub, 0o755)
    for e in (d.data_root / "containers").iterdir():
        os.chmod(e, 0o755)
    for db in d.data_root.glob("berth.db*"):
        os.chmod(db, 0o644)
    os.chmod(d.exec_root, 0o755)


def test_modes_keep_an_unprivileged_user_out(fresh_daemon: Daemon, user: str) -> None:
    d = fresh_daemon
    dk = _dk(d)
    os.chmod(d.root, 0o755)
    cid = _ok(dk("run", "-d", "-e", SECRET, "busybox", "sleep", "60")).strip()
    _secret_is_on_disk(d, cid)
    _check_modes(d, cid)
    _check_user_is_kept_out(d, user, cid)


def test_modes_are_restored_over_an_older_layout(fresh_daemon: Daemon, user: str) -> None:
    d = fresh_daemon
    dk = _dk(d)
    os.chmod(d.root, 0o755)
    cid = _ok(dk("run", "-d", "-e", SECRET, "busybox", "sleep", "60")).strip()
    # killed, the daemon leaves its -wal and -shm behind, as a crashed older berth would
    d.kill()
    assert (d.data_root / "berth.db-wal").exists()
    _old_layout(d)
    assert run_as(user, "cat", str(d.data_root / "berth.db-wal")).returncode == 0
    d.start()
    assert "running" in _ok(dk("inspect", "-f", "{{.State.Status}}", cid))
    _secret_is_on_disk(d, cid)
    _check_modes(d, cid)
    _check_user_is_kept_out(d, user, cid)
    # and once more after a clean restart
    assert d.stop() == 0
    _old_layout(d)
    d.start()
    _ok(dk("start", cid))
    _check_modes(d, cid)
    _check_user_is_kept_out(d, user, cid)


def test_a_container_as_another_user_still_reaches_its_files(docker: Run) -> None:
    out = _ok(docker("run", "--rm", "--user", "1000", "busybox", "sh", "-c",
                     "cat /etc/hosts /etc/hostname /etc/resolv.conf >/dev/null && ls / >/dev/null"
                     " && echo hi > /tmp/f && cat /tmp/f && id -u"))  # fmt: skip
    assert out.split() == ["hi", "1000"]
    vol, name = "bt" + uuid.uuid4().hex[:8], "bt" + uuid.uuid4().hex[:8]
    try:
        _ok(docker("volume", "create", vol))
        _ok(docker("run", "--rm", "-v", f"{vol}:/data", "busybox", "chown", "1000", "/data"))
        out = _ok(docker("run", "--rm", "--user", "1000", "-v", f"{vol}:/data", "busybox",
                         "sh", "-c", "echo written > /data/f && cat /data/f"))  # fmt: skip
        assert out.strip() == "written"
        _ok(docker("run", "-d", "--name", name, "-v", f"{vol}:/data", "busybox", "sleep", "60"))
        out = _ok(docker("exec", "--user", "1000", name, "sh", "-c", "cat /data/f /etc/hosts"))
        assert out.startswith("written\n") and "localhost" in out
    finally:
        docker("rm", "-f", name)
        docker("volume", "rm", "-f", vol)


def test_a_socket_inside_the_exec_root_stays_reachable_by_the_group(
    user_group: tuple[str, str],
) -> None:
    user, group = user_group
    root = Path(tempfile.mkdtemp(prefix="bt-", dir="/tmp"))
    os.chmod(root, 0o755)
    d = Daemon(root, ["--group", group])
    d.sock = str(d.exec_root / "api.sock")
    d.host, d.api = "unix://" + d.sock, Api(d.sock)
    try:
        d.start()
        subprocess.run(["usermod", "-aG", group, user], check=True)
        p = run_as(user, "docker", "version", "--format", "{{.Server.APIVersion}}",
                   env={"DOCKER_HOST": d.host})  # fmt: skip
        assert p.returncode == 0 and p.stdout.strip() == b"1.50", p
        # the group may pass through the exec root, not list it
        assert _mode(d.exec_root) == 0o710
        assert _denied(user, "ls", str(d.exec_root))
    finally:
        d.stop()
        cleanup_root(root)
