"""Shim control protocol: message encoding, exit code rules, and a real shim process answering
requests before any container runs (no executor involved)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Iterator

import pytest

from berth.runtime import shim
from berth.runtime.shim_client import ShimClient, ShimError, ShimGoneError, read_exit_file


def test_encode_decode_roundtrip() -> None:
    msg = {"op": "attach", "stdin": True, "stdout": True, "stderr": False}
    line = shim.encode_message(msg)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert shim.decode_message(line) == msg


@pytest.mark.parametrize("bad", [b"[1,2]", b'"op"', b"{nope", b""])
def test_decode_rejects_non_objects(bad: bytes) -> None:
    with pytest.raises(ValueError):
        shim.decode_message(bad)


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ('exec: "nosuch": executable file not found in $PATH', 127),
        ('exec: "/nope": no such file or directory', 127),
        ('exec: "/etc": permission denied', 126),
        ('exec: "/x": Permission Denied', 126),
        ("cgroup: cannot create", 128),
        # dockerd's precedence: ENOTDIR over EACCES over "not found"
        ("open /a: no such file or directory: permission denied", 126),
        ("mount /b: not a directory: permission denied", 127),
    ],
)
def test_start_error_exit_codes(message: str, code: int) -> None:
    assert shim.exit_code_for_start_error(message) == code


def test_exit_code_from_status_of_real_children() -> None:
    pid = os.fork()
    if pid == 0:
        os._exit(7)
    assert shim.exit_code_from_status(os.waitpid(pid, 0)[1]) == 7
    pid = os.fork()
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    os.kill(pid, signal.SIGKILL)
    assert shim.exit_code_from_status(os.waitpid(pid, 0)[1]) == 137


def test_read_exit_file() -> None:
    d = tempfile.mkdtemp(prefix="bt-", dir="/tmp")
    try:
        assert read_exit_file(d) is None
        with open(os.path.join(d, shim.EXIT_FILE), "w") as f:
            json.dump({"exit_code": 3, "oom_killed": True, "finished_at": "x", "error": ""}, f)
        st = read_exit_file(d)
        assert st is not None and (st.exit_code, st.oom_killed, st.finished_at) == (3, True, "x")
    finally:
        shutil.rmtree(d)


# ---- a real shim process that is never started -------------------------------------------


@pytest.fixture
def idle_shim() -> Iterator[tuple[str, int]]:
    """A shim process (forked, no zygote) for a bundle whose container is never started."""
    bundle = tempfile.mkdtemp(prefix="bt-", dir="/tmp")
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump({"ociVersion": "1.0.2", "process": {"args": ["true"]}, "root": {"path": "/"}}, f)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(r)
            code = shim.run(
                id="idle",
                bundle=bundle,
                log_path=None,
                tty=True,
                open_stdin=False,
                stdin_once=False,
                ready_fd=w,
            )
        finally:
            os._exit(code)
    os.close(w)
    try:
        with os.fdopen(r, "rb") as f:
            assert f.readline().strip() == str(pid).encode()
        yield bundle, pid
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:  # the test reaped it already
            pass
        shutil.rmtree(bundle, ignore_errors=True)


def raw_request(bundle: str, payload: bytes) -> dict:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(os.path.join(bundle, shim.SOCKET_NAME))
        s.sendall(payload)
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(4096)
            assert chunk, "shim closed without a reply"
            buf += chunk
        assert s.recv(10) == b""  # one request per connection: then the shim closes
    return json.loads(buf)


def test_idle_shim_answers_state_and_rejects_bad_requests(idle_shim: tuple[str, int]) -> None:
    bundle, _ = idle_shim
    assert raw_request(bundle, b'{"op":"state"}\n') == {
        "status": "created",
        "pid": 0,
        "started_at": "",
    }
    assert "error" in raw_request(bundle, b"not json\n")
    assert "unknown op" in raw_request(bundle, b'{"op":"fly"}\n')["error"]
    assert "not running" in raw_request(bundle, b'{"op":"signal","signal":9}\n')["error"]
    assert "error" in raw_request(bundle, b'{"op":"signal","signal":"KILL"}\n')
    assert "error" in raw_request(bundle, b'{"op":"resize","height":-1,"width":80}\n')
    # a request split over several writes is reassembled
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(os.path.join(bundle, shim.SOCKET_NAME))
        s.sendall(b'{"op":')
        time.sleep(0.05)
        s.sendall(b'"resize","height":40,"width":120}\n')
        assert json.loads(s.recv(4096)) == {"ok": True}


def test_client_against_idle_shim(idle_shim: tuple[str, int]) -> None:
    bundle, pid = idle_shim
    client = ShimClient(bundle)
    assert client.alive()

    async def go() -> None:
        assert (await client.state())["status"] == "created"
        await client.resize(24, 80)
        with pytest.raises(ShimError, match="not running"):
            await client.signal(signal.SIGTERM)
        await client.shutdown()

    asyncio.run(go())
    # shutdown before start: the shim exits and removes its socket
    deadline = time.monotonic() + 5
    while os.waitpid(pid, os.WNOHANG)[0] == 0:
        assert time.monotonic() < deadline, "shim did not exit after shutdown"
        time.sleep(0.01)
    assert not os.path.exists(os.path.join(bundle, shim.SOCKET_NAME))
    assert not client.alive()

    async def gone() -> None:
        with pytest.raises(ShimGoneError):
            await client.state()

    asyncio.run(gone())
