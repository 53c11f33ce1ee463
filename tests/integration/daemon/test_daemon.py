"""berthd as a process: socket permissions, pid file, restarts, shutdown, bad options."""

from __future__ import annotations

import grp
import os
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import IS_ROOT, REPO, Daemon, cleanup_root
from tests.users import run_as, user_and_group

pytestmark = [pytest.mark.integration, pytest.mark.skipif(not IS_ROOT, reason="needs root")]


@pytest.fixture
def scratch() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="bt-", dir="/tmp"))
    yield root
    cleanup_root(root)


@pytest.fixture
def user_group() -> Iterator[tuple[str, str]]:
    yield from user_and_group()


def _docker_as(user: str, host: str) -> subprocess.CompletedProcess[bytes]:
    """The real (static) docker CLI run as an unprivileged user."""
    return run_as(
        user, "docker", "version", "--format", "{{.Server.APIVersion}}", env={"DOCKER_HOST": host}
    )


def test_socket_mode_and_group_membership(scratch: Path, user_group: tuple[str, str]) -> None:
    user, group = user_group
    os.chmod(scratch, 0o755)  # let the user reach the socket's directory
    d = Daemon(scratch, ["--group", group])
    try:
        d.start()
        st = os.stat(d.sock)
        assert oct(st.st_mode & 0o777) == "0o660"
        assert st.st_uid == 0 and st.st_gid == grp.getgrnam(group).gr_gid
        # Outside the group: permission denied.
        r = _docker_as(user, d.host)
        assert r.returncode != 0 and b"permission denied" in r.stderr, r
        # In the group: the API answers.
        subprocess.run(["usermod", "-aG", group, user], check=True)
        r = _docker_as(user, d.host)
        assert r.returncode == 0 and r.stdout.strip() == b"1.50", r
    finally:
        d.stop()


def test_missing_group_makes_the_socket_root_only(scratch: Path) -> None:
    d = Daemon(scratch, ["--group", "bt-no-such-group"])
    try:
        d.start()
        assert os.stat(d.sock).st_mode & 0o777 == 0o600
        assert "groupadd bt-no-such-group" in d.log.read_text()
    finally:
        d.stop()


def test_pidfile_second_daemon_refused_and_stale_files_ignored(scratch: Path) -> None:
    d = Daemon(scratch)
    d.start()
    try:
        assert d.pidfile.read_text().strip() == str(d.proc.pid)  # type: ignore[union-attr]
        second = subprocess.run(d.argv(), capture_output=True, timeout=30, cwd=REPO)
        assert second.returncode == 1
        assert b"pid file found" in second.stderr
        assert d.api.raw("GET", "/_ping")[0] == 200  # the first one is untouched
    finally:
        d.kill()  # SIGKILL: leaves a stale socket and pid file behind
    assert os.path.exists(d.sock) and d.pidfile.exists()
    d.start()
    try:
        assert d.api.raw("GET", "/_ping")[0] == 200
    finally:
        assert d.stop() == 0
    assert not os.path.exists(d.sock) and not d.pidfile.exists()


def test_sigint_also_shuts_down_cleanly(scratch: Path) -> None:
    d = Daemon(scratch)
    d.start()
    d.proc.send_signal(signal.SIGINT)  # type: ignore[union-attr]
    assert d.proc.wait(30) == 0  # type: ignore[union-attr]
    assert not os.path.exists(d.sock) and not d.pidfile.exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["-H", "tcp://0.0.0.0:23750"], b"without TLS"),
        (["-H", "bogus://x"], b"unsupported scheme"),
        (["--log-level", "loud"], b"invalid choice"),
    ],
)
def test_bad_options_are_refused_with_a_message(
    scratch: Path, args: list[str], message: bytes
) -> None:
    d = Daemon(scratch, args)
    (scratch / "daemon.json").write_text("{}")
    r = subprocess.run(d.argv(), capture_output=True, timeout=30, cwd=REPO)
    assert r.returncode != 0
    assert message in r.stderr
    assert b"Traceback" not in r.stderr
    assert not os.path.exists(d.sock)


def test_state_survives_a_restart(fresh_daemon: Daemon) -> None:
    d = fresh_daemon
    api = d.api
    st, body = api.call(
        "POST", "/containers/create?name=keep", {"Image": "busybox", "Cmd": ["sh", "-c", "exit 7"]}
    )
    assert st == 201, body
    assert api.call("POST", "/containers/keep/start")[0] == 204
    assert api.call("POST", "/containers/keep/wait")[1]["StatusCode"] == 7
    st, body = api.call(
        "POST", "/containers/create?name=sleeper", {"Image": "busybox", "Cmd": ["sleep", "60"]}
    )
    assert api.call("POST", "/containers/sleeper/start")[0] == 204
    before_c = sorted((c["Id"], c["State"]) for c in api.call("GET", "/containers/json?all=1")[1])
    before_i = sorted(i["Id"] for i in api.call("GET", "/images/json")[1])
    assert d.stop() == 0
    d.start()
    after_c = {c["Id"]: c for c in api.call("GET", "/containers/json?all=1")[1]}
    assert sorted(after_c) == sorted(cid for cid, _ in before_c)
    keep = api.call("GET", "/containers/keep/json")[1]
    assert keep["State"]["ExitCode"] == 7 and keep["State"]["Status"] == "exited"
    # A clean shutdown stops running containers, as dockerd does without live-restore.
    assert api.call("GET", "/containers/sleeper/json")[1]["State"]["Status"] == "exited"
    assert sorted(i["Id"] for i in api.call("GET", "/images/json")[1]) == before_i
    # And they still work.
    assert api.call("POST", "/containers/sleeper/start")[0] == 204
    assert api.call("DELETE", "/containers/sleeper?force=1")[0] == 204


def test_killed_daemon_finds_its_containers_again(fresh_daemon: Daemon) -> None:
    d = fresh_daemon
    api = d.api
    api.call(
        "POST", "/containers/create?name=survivor", {"Image": "busybox", "Cmd": ["sleep", "60"]}
    )
    assert api.call("POST", "/containers/survivor/start")[0] == 204
    pid = api.call("GET", "/containers/survivor/json")[1]["State"]["Pid"]
    d.kill()
    d.start()
    st = api.call("GET", "/containers/survivor/json")[1]["State"]
    assert st["Running"] and st["Pid"] == pid
    assert api.call("POST", "/containers/survivor/kill")[0] == 204
    st = api.call("POST", "/containers/survivor/wait")[1]
    assert st["StatusCode"] == 137
