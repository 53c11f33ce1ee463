"""berth run/create/start/ps/logs/stop/kill/rm/wait/rename/inspect against a real berthd."""

from __future__ import annotations

import json
import time

import pytest

from tests.integration.cli.conftest import BerthRun

pytestmark = pytest.mark.integration


def out(p: object) -> str:
    return p.stdout.decode()  # type: ignore[attr-defined, no-any-return]


def test_run_streams_and_exit_status(berth: BerthRun) -> None:
    p = berth("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert p.returncode == 3, p.stderr
    assert p.stdout == b"out\n"
    assert p.stderr == b"err\n"


def test_run_command_not_found_is_127(berth: BerthRun) -> None:
    p = berth("run", "--rm", "busybox", "no-such-command")
    assert p.returncode == 127
    assert len(p.stderr.decode().strip().splitlines()) == 1
    assert p.stderr.startswith(b"berth: Error response from daemon: ")


def test_run_not_executable_is_126(berth: BerthRun) -> None:
    assert berth("run", "--rm", "busybox", "/etc").returncode == 126


def test_run_stdin_pipe(berth: BerthRun) -> None:
    p = berth("run", "--rm", "-i", "busybox", "sh", "-c", "cat; echo done", input=b"line1\nline2\n")
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"line1\nline2\ndone\n"


def test_run_flags_reach_the_container(berth: BerthRun) -> None:
    p = berth(
        "run",
        "--rm",
        "-e",
        "A=1",
        "-w",
        "/tmp",
        "-u",
        "65534",
        "--hostname",
        "boxy",
        "busybox",
        "sh",
        "-c",
        'echo "$A $(pwd) $(id -u) $(hostname)"',
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"1 /tmp 65534 boxy\n"


def test_run_rm_removes_container(berth: BerthRun) -> None:
    assert berth("run", "--rm", "--name", "bt-rm", "busybox", "true").returncode == 0
    assert out(berth("ps", "-a", "-q", "--filter", "name=bt-rm")) == ""


def test_detached_lifecycle(berth: BerthRun) -> None:
    p = berth(
        "run",
        "-d",
        "--name",
        "bt-life",
        "-l",
        "team=cli",
        "busybox",
        "sh",
        "-c",
        "echo started; trap 'exit 7' TERM; while true; do sleep 0.1; done",
    )
    assert p.returncode == 0, p.stderr
    cid = out(p).strip()
    assert len(cid) == 64
    ps = out(
        berth("ps", "--no-trunc", "--format", '{{.ID}} {{.Names}} {{.State}} {{.Label "team"}}')
    )
    assert f"{cid} bt-life running cli" in ps.splitlines()
    assert out(berth("ps", "-q", "--filter", "label=team=cli")) == cid[:12] + "\n"
    table = out(berth("ps")).splitlines()
    assert table[0].startswith("CONTAINER ID   IMAGE")
    assert any(line.startswith(cid[:12]) and "Up " in line for line in table[1:])
    row = json.loads(out(berth("ps", "--format", "{{json .}}", "--filter", "id=" + cid)))
    assert row["Names"] == "bt-life" and row["Image"] == "busybox"
    deadline = time.monotonic() + 10
    while b"started" not in berth("logs", "bt-life").stdout and time.monotonic() < deadline:
        time.sleep(0.05)
    assert berth("logs", "bt-life").stdout == b"started\n"
    assert berth("logs", "-t", "bt-life").stdout.decode().split(" ", 1)[1] == "started\n"
    assert berth("inspect", "-f", "{{.State.Status}} {{.Config.Image}}", "bt-life").stdout == (
        b"running busybox\n"
    )
    assert berth("rename", "bt-life", "bt-life2").returncode == 0
    assert berth("stop", "-t", "5", "bt-life2").stdout == b"bt-life2\n"
    assert berth("wait", "bt-life2").stdout == b"7\n"
    assert "Exited (7)" in out(berth("ps", "-a", "--filter", "name=bt-life2"))
    assert berth("rm", "bt-life2").stdout == b"bt-life2\n"
    assert berth("inspect", "bt-life2").returncode == 1


def test_create_then_start_attached(berth: BerthRun) -> None:
    p = berth("create", "--name", "bt-cs", "busybox", "sh", "-c", "echo hi; exit 4")
    assert p.returncode == 0, p.stderr
    p = berth("start", "-a", "bt-cs")
    assert (p.returncode, p.stdout) == (4, b"hi\n")
    assert berth("start", "bt-cs").stdout == b"bt-cs\n"
    assert berth("wait", "bt-cs").stdout == b"4\n"


def test_kill_with_signal_and_rm_force(berth: BerthRun) -> None:
    cid = out(berth("run", "-d", "busybox", "sleep", "100")).strip()
    assert berth("kill", "-s", "KILL", cid).returncode == 0
    assert berth("wait", cid).stdout == b"137\n"
    cid2 = out(berth("run", "-d", "busybox", "sleep", "100")).strip()
    assert berth("rm", "-f", cid2).returncode == 0
    assert berth("inspect", "--type", "container", cid2).returncode == 1


def test_errors_are_one_line(berth: BerthRun) -> None:
    p = berth("stop", "bt-does-not-exist")
    assert p.returncode == 1
    assert p.stderr.decode().strip() == (
        "berth: Error response from daemon: No such container: bt-does-not-exist"
    )
    p = berth("inspect", "bt-does-not-exist")
    assert (p.returncode, p.stdout) == (1, b"[]\n")
    assert b"No such object: bt-does-not-exist" in p.stderr


def test_inspect_json_document(berth: BerthRun) -> None:
    cid = out(berth("create", "busybox", "true")).strip()
    doc = json.loads(out(berth("inspect", cid)))
    assert len(doc) == 1 and doc[0]["Id"] == cid
    assert berth("inspect", "-f", "{{json .Config.Cmd}}", cid).stdout == b'["true"]\n'


def test_logs_tail_and_since(berth: BerthRun) -> None:
    cid = out(berth("run", "-d", "busybox", "sh", "-c", "for i in 1 2 3 4; do echo $i; done"))
    cid = cid.strip()
    berth("wait", cid)
    assert berth("logs", "--tail", "2", cid).stdout == b"3\n4\n"
    assert berth("logs", "--since", "1h", cid).stdout == b"1\n2\n3\n4\n"
    assert berth("logs", "--until", "2000-01-01T00:00:00Z", cid).stdout == b""


def test_ps_matches_docker_cli(berth: BerthRun, docker) -> None:  # type: ignore[no-untyped-def]
    berth("run", "--name", "bt-cmp", "busybox", "sh", "-c", "exit 2")
    fmt = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.Names}}\t{{.State}}"
    mine = berth("ps", "-a", "--format", fmt)
    theirs = docker("ps", "-a", "--format", fmt)
    assert theirs.returncode == 0, theirs.stderr
    assert mine.stdout == theirs.stdout
    assert berth("ps", "-a", "-q").stdout == docker("ps", "-a", "-q").stdout


def test_logs_follow_until_exit(berth: BerthRun) -> None:
    cid = out(
        berth("run", "-d", "busybox", "sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.2; done")
    )
    p = berth("logs", "-f", cid.strip(), timeout=20)
    assert (p.returncode, p.stdout) == (0, b"1\n2\n3\n")


def test_attach_with_stdin(berth: BerthRun) -> None:
    cid = out(berth("run", "-d", "-i", "busybox", "sh", "-c", "read x; echo got $x; exit 9"))
    p = berth("attach", cid.strip(), input=b"hello\n", timeout=20)
    assert (p.returncode, p.stdout) == (9, b"got hello\n")
    p = berth("attach", cid.strip())
    assert p.returncode == 1 and b"cannot attach to a stopped container" in p.stderr
