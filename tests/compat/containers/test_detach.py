"""Detach keys: ctrl-p,ctrl-q by default, --detach-keys / detachKeys / DetachKeys otherwise,
on a tty only (as dockerd's CopyStreams); the container (or exec) runs on."""

from __future__ import annotations

import json
import shutil
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.compat.containers import Terminal

docker_sdk = pytest.importorskip("docker", reason="docker-py is not installed")

pytestmark = pytest.mark.compat

DOCKER = shutil.which("docker") or "/usr/local/bin/docker"


@pytest.fixture
def client(daemon: Any) -> Iterator[Any]:
    c = docker_sdk.DockerClient(base_url=daemon.host, version="auto", timeout=60)
    yield c
    daemon.remove_all_containers()
    c.close()


def _status(docker: Any, cid: str) -> str:
    return str(docker("inspect", "-f", "{{.State.Status}}", cid).stdout.decode().strip())


def _read_until(sock: socket.socket, needle: bytes, timeout: float = 20) -> bytes:
    """What the socket sends until `needle` (or its EOF: then `needle` is not in it)."""
    sock.settimeout(timeout)
    out = b""
    while needle not in out:
        data = sock.recv(65536)
        if not data:
            break
        out += data
    return out


def _read_to_eof(sock: socket.socket, timeout: float = 20) -> bytes:
    sock.settimeout(timeout)
    out = b""
    while data := sock.recv(65536):
        out += data
    return out


def test_run_it_then_attach_detach(docker: Any, daemon: Any) -> None:
    with Terminal([DOCKER, "run", "-it", "--name", "detach-me", "busybox", "sh"], daemon.env) as t:
        t.expect(b"/ # ")
        t.type(b"echo one\r")
        t.expect(b"one\r\n")
        t.keys(b"\x10", b"\x11")
        assert t.wait() == 0, t.out  # docker run: detaching is a success
    assert _status(docker, "detach-me") == "running"
    with Terminal([DOCKER, "attach", "detach-me"], daemon.env) as t:
        t.type(b"echo two\r")
        t.expect(b"two\r\n")
        t.keys(b"\x10", b"\x11")
        # docker attach returns the CLI's EscapeError
        assert t.wait() == 1 and b"read escape sequence" in t.out, t.out
    # the shell still reads its terminal: its stdin was not closed by the detach
    assert _status(docker, "detach-me") == "running"
    assert docker("exec", "detach-me", "true").returncode == 0


def test_custom_keys_and_a_partial_sequence(docker: Any, daemon: Any) -> None:
    cid = docker("run", "-dit", "busybox", "sh").stdout.decode().strip()
    with Terminal([DOCKER, "attach", "--detach-keys", "ctrl-x", cid], daemon.env) as t:
        t.type(b"echo x-key\r")
        t.expect(b"x-key\r\n")
        t.keys(b"\x18")
        assert t.wait() == 1, t.out
    with Terminal([DOCKER, "attach", "--detach-keys", "a,b", cid], daemon.env) as t:
        # "a" then "c" is no sequence: both reach the shell
        t.keys(b"echo Z", b"a", b"c", b"\r")
        t.expect(b"Zac\r\n")
        t.keys(b"a", b"b")
        assert t.wait() == 1, t.out
    assert _status(docker, cid) == "running"


def test_exec_it_detach_leaves_the_exec_running(docker: Any, daemon: Any) -> None:
    cid = docker("run", "-d", "busybox", "sleep", "1000").stdout.decode().strip()
    with Terminal([DOCKER, "exec", "-it", cid, "sh"], daemon.env) as t:
        t.expect(b"/ # ")
        t.type(b"echo in-exec\r")
        t.expect(b"in-exec\r\n")
        t.keys(b"\x10", b"\x11")
        assert t.wait() == 1 and b"read escape sequence" in t.out, t.out
    ps = docker("exec", cid, "ps", "-o", "comm").stdout.split()
    assert ps.count(b"sh") == 1, ps  # the exec's shell runs on


def test_server_side_detach_on_attach(client: Any, daemon: Any) -> None:
    """A client that does not watch the keys itself (docker-py): berthd does, on a tty."""
    c = client.containers.run("busybox", ["sh"], tty=True, stdin_open=True, detach=True)
    params = {"stdin": 1, "stdout": 1, "stream": 1, "detachKeys": "a,b"}
    sock = client.api.attach_socket(c.id, params=params)._sock
    try:
        sock.sendall(b"echo Zac-$((6*7))\n")  # "a" then "c": passed on
        assert b"Zac-42" in _read_until(sock, b"Zac-42")
        sock.sendall(b"ab")
        _read_to_eof(sock)  # berthd ends the stream
    finally:
        sock.close()
    c.reload()
    assert c.status == "running"
    since = int(time.time()) - 60
    _, _, body = daemon.api.raw("GET", f"/events?since={since}&until={int(time.time()) + 1}")
    actions = [json.loads(ln)["Action"] for ln in body.splitlines() if ln.strip()]
    assert "detach" in actions, actions


def test_no_detach_keys_without_a_tty(client: Any) -> None:
    c = client.containers.run("busybox", ["cat"], stdin_open=True, detach=True)
    sock = client.api.attach_socket(c.id, params={"stdin": 1, "stdout": 1, "stream": 1})._sock
    try:
        sock.sendall(b"\x10\x11still-here\n")
        out = _read_until(sock, b"still-here\n")
    finally:
        sock.close()
    assert b"\x10\x11still-here\n" in out  # inside a stdcopy frame: the keys went through


def test_server_side_detach_on_exec(client: Any) -> None:
    c = client.containers.run("busybox", ["sleep", "1000"], detach=True)
    eid = client.api.exec_create(c.id, ["sh"], stdin=True, tty=True, detach_keys="ctrl-x")["Id"]
    sock = client.api.exec_start(eid, socket=True, tty=True)._sock
    try:
        sock.sendall(b"echo E-$((6*7))\n")
        assert b"E-42" in _read_until(sock, b"E-42")
        sock.sendall(b"\x18")
        _read_to_eof(sock)
    finally:
        sock.close()
    info = client.api.exec_inspect(eid)
    assert info["Running"] is True and info["ExitCode"] is None, info


def test_invalid_keys_get_dockerds_errors(client: Any, daemon: Any) -> None:
    c = client.containers.run("busybox", ["sleep", "1000"], detach=True)
    st, body = daemon.api.call("POST", f"/containers/{c.id}/attach?stream=1&detachKeys=ctrl-1")
    assert (st, body) == (400, {"message": "Invalid detach keys (ctrl-1) provided"})
    st, body = daemon.api.call(
        "POST", f"/containers/{c.id}/exec", {"Cmd": ["true"], "DetachKeys": "ctrl-1"}
    )
    assert (st, body) == (500, {"message": "Invalid escape keys (ctrl-1) provided"})
