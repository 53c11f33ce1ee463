"""The berth process end to end against a scripted daemon: exit codes, messages, call order."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.stdcopy import frame
from tests.unit.client.httpfake import FakeDaemon, Received, json_reply

REPO = Path(__file__).resolve().parents[3]


def berth(*args: str, host: str | None = None, stdin: bytes = b"") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "BERTH_HOST")}
    env["PYTHONPATH"] = str(REPO)
    if host:
        env["BERTH_HOST"] = host
    return subprocess.run(
        [sys.executable, "-m", "berth.cli.main", *args],
        input=stdin,
        capture_output=True,
        env=env,
        cwd=REPO,
        timeout=30,
    )


def test_unknown_flag_is_125_with_usage() -> None:
    p = berth("run", "--nope", "busybox")
    assert p.returncode == 125
    err = p.stderr.decode()
    assert err.splitlines()[0] == "berth: unknown flag: --nope"
    assert "Usage:  berth run [OPTIONS] IMAGE [COMMAND] [ARG...]" in err
    assert "Traceback" not in err


def test_missing_argument_is_1_like_docker() -> None:
    p = berth("rename", "a")
    assert p.returncode == 1 and b"requires exactly 2 arguments" in p.stderr


def test_unknown_command() -> None:
    p = berth("frobnicate")
    assert p.returncode == 1 and b"unknown command: berth frobnicate" in p.stderr


def test_unreachable_daemon_one_line() -> None:
    host = "unix:///tmp/bt-no-such-daemon.sock"
    p = berth("ps", host=host)
    assert p.returncode == 1
    assert p.stderr.decode() == (
        f"berth: Cannot connect to the berth daemon at {host}. Is the berth daemon running?\n"
    )
    assert berth("run", "busybox", host=host).returncode == 125


def test_default_host_is_berth_socket() -> None:
    p = berth("ps")
    if os.path.exists("/var/run/berth.sock"):
        pytest.skip("a daemon is listening on the default socket")
    assert b"unix:///var/run/berth.sock" in p.stderr


def test_dash_h_flag_wins(tmp_path: Path) -> None:
    p = berth("-H", "unix:///tmp/bt-flag.sock", "ps", host="unix:///tmp/bt-env.sock")
    assert b"bt-flag.sock" in p.stderr


def test_help_and_version() -> None:
    assert berth("--version").stdout.startswith(b"berth version ")
    p = berth("ps", "--help")
    assert p.returncode == 0 and b"Usage:  berth ps [OPTIONS]" in p.stdout
    assert berth().returncode == 0


@pytest.fixture
def fake() -> Iterator[tuple[FakeDaemon, dict[str, object]]]:
    state: dict[str, object] = {"pulled": False, "started": threading.Event()}
    started: threading.Event = state["started"]  # type: ignore[assignment]

    def handler(req: Received, c: socket.socket) -> None:
        path = req.target.split("?")[0].removeprefix("/v1.50")
        if path == "/_ping":
            c.sendall(b"HTTP/1.1 200 OK\r\nApi-Version: 1.50\r\nContent-Length: 2\r\n\r\nOK")
        elif path == "/containers/create":
            if not state["pulled"]:
                json_reply(c, 404, b'{"message":"No such image: busybox:latest"}', "Not Found")
            else:
                json_reply(c, 201, b'{"Id":"c0ffee","Warnings":["careful"]}', "Created")
        elif path == "/images/create":
            state["pulled"] = True
            json_reply(c, 200, b'{"status":"Pulling from library/busybox","id":"latest"}')
        elif path == "/containers/c0ffee/attach":
            c.sendall(b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
            started.wait(10)
            c.sendall(frame(1, b"to stdout\n") + frame(2, b"to stderr\n"))
            c.shutdown(socket.SHUT_WR)
        elif path == "/containers/c0ffee/wait":
            c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            started.wait(10)
            body = b'{"StatusCode":3,"Error":null}\n'
            c.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
        elif path == "/containers/c0ffee/start":
            c.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")
            started.set()
        elif path == "/containers/json":
            json_reply(c, 200, b"[]")
        else:
            json_reply(c, 404, b'{"message":"page not found"}', "Not Found")

    srv = FakeDaemon(handler)
    try:
        yield srv, state
    finally:
        srv.close()
    assert not srv.errors


def test_run_flow_matches_docker(fake: tuple[FakeDaemon, dict[str, object]]) -> None:
    srv, _ = fake
    p = berth("run", "--rm", "busybox", "sh", "-c", "x", host=srv.url)
    assert p.returncode == 3, p.stderr
    assert p.stdout == b"to stdout\n"
    err = p.stderr.decode()
    assert "Unable to find image 'busybox:latest' locally" in err
    assert "to stderr\n" in err and "WARNING: careful" in err
    calls = [(r.method, r.target.removeprefix("/v1.50")) for r in srv.requests]
    paths = [t.split("?")[0] for _, t in calls]
    assert paths == [
        "/_ping",  # API version negotiation first, as the docker CLI does
        "/containers/create",
        "/images/create",
        "/containers/create",
        "/containers/c0ffee/attach",
        "/containers/c0ffee/wait",
        "/containers/c0ffee/start",
    ]
    assert "fromImage=busybox" in calls[2][1] and "tag=latest" in calls[2][1]
    assert calls[5][1].endswith("condition=removed")
    attach = srv.requests[4]
    assert attach.headers["upgrade"] == "tcp" and "stdin" not in attach.target
    created = json.loads(srv.requests[3].body)
    assert created["Cmd"] == ["sh", "-c", "x"] and created["HostConfig"]["AutoRemove"]


def test_daemon_error_is_one_line(fake: tuple[FakeDaemon, dict[str, object]]) -> None:
    srv, _ = fake
    p = berth("stop", "nosuch", host=srv.url)
    assert p.returncode == 1
    assert p.stderr == b"berth: Error response from daemon: page not found\n"
