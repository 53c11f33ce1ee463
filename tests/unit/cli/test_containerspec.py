"""run/create flags into the create body."""

from __future__ import annotations

from typing import Any

import pytest

from berth.cli.commands.containerspec import build
from berth.cli.commands.run import RUN, _detach_keys, start_error_status
from berth.cli.context import StatusError
from berth.cli.flags import UsageError, parse


def body(*argv: str, detach: bool | None = None) -> dict[str, Any]:
    opts, args = parse(RUN, list(argv))
    return build(RUN, opts, args, detach=opts.detach if detach is None else detach)


def test_plain_run_attaches_stdout_and_stderr() -> None:
    b = body("busybox", "echo", "hi")
    assert b["Image"] == "busybox" and b["Cmd"] == ["echo", "hi"]
    assert (b["AttachStdin"], b["AttachStdout"], b["AttachStderr"]) == (False, True, True)
    assert b["Entrypoint"] is None and b["HostConfig"] == {"AutoRemove": False}


def test_interactive_tty_rm() -> None:
    b = body("-it", "--rm", "busybox", "sh")
    assert b["Tty"] and b["OpenStdin"] and b["StdinOnce"] and b["AttachStdin"]
    assert b["HostConfig"]["AutoRemove"] is True


def test_detached_attaches_nothing() -> None:
    b = body("-d", "-i", "busybox")
    assert not (b["AttachStdin"] or b["AttachStdout"] or b["AttachStderr"])
    assert b["OpenStdin"] and not b["StdinOnce"]


def test_attach_flag_selects_streams() -> None:
    b = body("-a", "stderr", "busybox")
    assert (b["AttachStdin"], b["AttachStdout"], b["AttachStderr"]) == (False, False, True)
    with pytest.raises(UsageError, match="Conflicting options"):
        body("-a", "stdout", "-d", "busybox")


def test_resources_labels_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("FROM_HOST", "yes")
    monkeypatch.delenv("NOT_SET", raising=False)
    envfile = tmp_path / "env"
    envfile.write_text("# comment\n\nFILE=1\n")
    b = body(
        "-m",
        "64m",
        "--cpus",
        "1.5",
        "--pids-limit",
        "20",
        "-l",
        "a=b",
        "--label",
        "flag",
        "-e",
        "X=1",
        "-e",
        "FROM_HOST",
        "-e",
        "NOT_SET",
        "--env-file",
        str(envfile),
        "--stop-signal",
        "SIGUSR1",
        "--stop-timeout",
        "3",
        "-w",
        "/tmp",
        "-u",
        "1:2",
        "--hostname",
        "box",
        "--entrypoint",
        "",
        "--log-driver",
        "none",
        "busybox",
    )
    hc = b["HostConfig"]
    assert hc["Memory"] == 64 << 20 and hc["NanoCpus"] == 1_500_000_000 and hc["PidsLimit"] == 20
    assert hc["LogConfig"] == {"Type": "none", "Config": {}}
    assert b["Labels"] == {"a": "b", "flag": ""}
    assert b["Env"] == ["FILE=1", "X=1", "FROM_HOST=yes", "NOT_SET"]
    assert (b["StopSignal"], b["StopTimeout"]) == ("SIGUSR1", 3)
    assert (b["WorkingDir"], b["User"], b["Hostname"]) == ("/tmp", "1:2", "box")
    assert b["Entrypoint"] == [""]


def test_ports_and_volumes() -> None:
    b = body("-p", "8080:80", "-p", "127.0.0.1:53:53/udp", "-v", "/h:/c:ro", "-v", "/anon", "bb")
    assert b["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert b["HostConfig"]["PortBindings"] == {
        "80/tcp": [{"HostIp": "", "HostPort": "8080"}],
        "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "53"}],
    }
    assert b["HostConfig"]["Binds"] == ["/h:/c:ro"] and b["Volumes"] == {"/anon": {}}


@pytest.mark.parametrize("argv", [["-m", "lots", "bb"], ["--cpus", "x", "bb"], ["-p", "a:b", "bb"]])
def test_bad_values(argv: list[str]) -> None:
    with pytest.raises(UsageError):
        body(*argv)


def test_missing_env_file() -> None:
    with pytest.raises(StatusError) as ei:
        body("--env-file", "/nonexistent/env", "bb")
    assert ei.value.status == 125 and "no such file" in ei.value.message


@pytest.mark.parametrize(
    "msg, status",
    [
        ('exec: "nosuch": executable file not found in $PATH', 127),
        ("open /x: no such file or directory", 127),
        ('exec: "/etc": permission denied', 126),
        ("something else", 125),
    ],
)
def test_start_error_status(msg: str, status: int) -> None:
    assert start_error_status(msg) == status


def test_detach_keys() -> None:
    assert _detach_keys("ctrl-p,ctrl-q") == b"\x10\x11"
    assert _detach_keys("ctrl-@,a") == b"\x00a"
    with pytest.raises(StatusError):
        _detach_keys("ctrl-pp")


def test_create_attaches_as_docker_create_does() -> None:
    """docker create (no -d there) sends AttachStdout/AttachStderr true, and with -i
    AttachStdin and StdinOnce, as a recorded `docker create -i busybox` body shows."""
    from berth.cli.commands.run import CREATE
    from berth.cli.flags import parse

    opts, args = parse(CREATE, ["-i", "busybox"])
    b = build(CREATE, opts, args, detach=False)
    got = {
        k: b[k] for k in ("AttachStdin", "AttachStdout", "AttachStderr", "OpenStdin", "StdinOnce")
    }
    assert got == dict.fromkeys(got, True)
