"""The exec endpoints on the wire: hijack, stream framing, half-close, errors, lifecycle."""

from __future__ import annotations

import json
import socket
import struct
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.waiting import wait_for


@pytest.fixture
def ctr(daemon: Any) -> Iterator[str]:
    st, body = daemon.api.call(
        "POST", "/containers/create", {"Image": "busybox", "Cmd": ["sleep", "1000"]}
    )
    assert st == 201, body
    cid = body["Id"]
    assert daemon.api.call("POST", f"/containers/{cid}/start")[0] == 204
    yield cid
    daemon.remove_all_containers()


def _exec(daemon: Any, cid: str, cmd: list[str], **kw: Any) -> str:
    body = {"AttachStdout": True, "AttachStderr": True, "Cmd": cmd, **kw}
    st, out = daemon.api.call("POST", f"/containers/{cid}/exec", body)
    assert st == 201, out
    return str(out["Id"])


def _start(daemon: Any, eid: str, body: dict[str, Any]) -> tuple[bytes, socket.socket]:
    """POST /exec/ID/start asking for an upgrade; returns the response head and the socket."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(30)
    s.connect(daemon.sock)
    data = json.dumps(body).encode()
    s.sendall(
        b"POST /v1.50/exec/%s/start HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: %d\r\n\r\n%s"
        % (eid.encode(), len(data), data)
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        assert chunk, head
        head += chunk
    return head, s


def _read_all(s: socket.socket) -> bytes:
    out = b""
    while chunk := s.recv(65536):
        out += chunk
    return out


def _frames(data: bytes) -> list[tuple[int, bytes]]:
    out = []
    while data:
        kind, size = struct.unpack(">BxxxL", data[:8])
        out.append((kind, data[8 : 8 + size]))
        data = data[8 + size :]
    return out


def _inspect(daemon: Any, eid: str) -> dict[str, Any]:
    st, body = daemon.api.call("GET", f"/exec/{eid}/json")
    assert st == 200, body
    return dict(body)


def test_hijacked_stream_is_multiplexed(daemon: Any, ctr: str) -> None:
    eid = _exec(daemon, ctr, ["sh", "-c", "echo out; echo err >&2; exit 7"])
    head, s = _start(daemon, eid, {"Detach": False, "Tty": False})
    assert head.startswith(b"HTTP/1.1 101 ")
    assert b"Content-Type: application/vnd.docker.multiplexed-stream" in head
    frames = _frames(_read_all(s))
    s.close()
    assert sorted(frames) == [(1, b"out\n"), (2, b"err\n")]
    # the stream ends only once the exit code is known
    info = _inspect(daemon, eid)
    assert info["ExitCode"] == 7 and info["Running"] is False and info["Pid"] > 0


def test_tty_stream_is_raw(daemon: Any, ctr: str) -> None:
    eid = _exec(daemon, ctr, ["sh", "-c", "echo out; echo err >&2"], Tty=True)
    head, s = _start(daemon, eid, {"Detach": False, "Tty": True})
    assert b"Content-Type: application/vnd.docker.raw-stream" in head
    assert _read_all(s) == b"out\r\nerr\r\n"
    s.close()


def test_stdin_half_close_is_eof(daemon: Any, ctr: str) -> None:
    eid = _exec(daemon, ctr, ["sh", "-c", "wc -c; echo after-eof"], AttachStdin=True)
    _, s = _start(daemon, eid, {"Detach": False, "Tty": False})
    s.sendall(b"x" * 100000)
    s.shutdown(socket.SHUT_WR)
    frames = _frames(_read_all(s))
    s.close()
    assert b"".join(d for k, d in frames if k == 1) == b"100000\nafter-eof\n"
    assert _inspect(daemon, eid)["ExitCode"] == 0


def test_start_error_travels_in_the_stream(daemon: Any, ctr: str) -> None:
    eid = _exec(daemon, ctr, ["nosuch"])
    _, s = _start(daemon, eid, {"Detach": False, "Tty": False})
    frames = _frames(_read_all(s))
    s.close()
    assert frames == [
        (
            1,
            b"OCI runtime exec failed: exec failed: unable to start container process: "
            b'exec: "nosuch": executable file not found in $PATH: unknown\r\n',
        )
    ]
    info = _inspect(daemon, eid)
    assert info["ExitCode"] == 127 and info["Running"] is False
    # detached, the same failure is the HTTP answer
    eid = _exec(daemon, ctr, ["nosuch"])
    st, body = daemon.api.call("POST", f"/exec/{eid}/start", {"Detach": True})
    assert st == 400 and "executable file not found" in body["message"]


def test_errors_before_the_hijack(daemon: Any, ctr: str) -> None:
    st, body = daemon.api.call("POST", "/exec/nosuch/start", {"Detach": False})
    assert (st, body["message"]) == (404, "No such exec instance: nosuch")
    st, body = daemon.api.call("GET", "/exec/nosuch/json")
    assert (st, body["message"]) == (404, "No such exec instance: nosuch")
    st, body = daemon.api.call("POST", f"/containers/{ctr}/exec", {"Cmd": []})
    assert (st, body["message"]) == (400, "No exec command specified")
    st, body = daemon.api.call("POST", "/containers/nosuch/exec", {"Cmd": ["true"]})
    assert (st, body["message"]) == (404, "No such container: nosuch")
    eid = _exec(daemon, ctr, ["true"])
    assert daemon.api.call("POST", f"/exec/{eid}/start", {"Detach": True})[0] == 200
    deadline = time.monotonic() + 10
    while _inspect(daemon, eid)["Running"]:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    st, body = daemon.api.call("POST", f"/exec/{eid}/start", {"Detach": True})
    assert (st, body["message"]) == (409, f"exec command {eid} has already run")


def test_exec_ids_and_a_restarted_container(daemon: Any, ctr: str) -> None:
    eid = _exec(daemon, ctr, ["true"])
    assert daemon.api.call("GET", f"/containers/{ctr}/json")[1]["ExecIDs"] == [eid]
    assert daemon.api.call("POST", f"/containers/{ctr}/kill")[0] == 204
    daemon.api.call("POST", f"/containers/{ctr}/wait")
    assert daemon.api.call("GET", f"/containers/{ctr}/json")[1]["ExecIDs"] is None
    st, body = daemon.api.call("POST", f"/containers/{ctr}/exec", {"Cmd": ["true"]})
    assert (st, body["message"]) == (409, f"container {ctr} is not running")
    assert daemon.api.call("POST", f"/containers/{ctr}/start")[0] == 204
    # an exec never started belongs to the run that ended: it is gone
    st, body = daemon.api.call("POST", f"/exec/{eid}/start", {"Detach": True})
    assert (st, body["message"]) == (404, f"No such exec instance: {eid}")


def _stalled(pid: int) -> Callable[[], bool]:
    """A condition: PID wrote something and has not written more since the last look."""
    last = [-1]

    def cond() -> bool:
        try:
            io = Path(f"/proc/{pid}/io").read_text()
        except OSError:
            return False
        wrote = int(io.split("wchar:")[1].split()[0])
        same, last[0] = wrote == last[0], wrote
        return same and wrote > 0

    return cond


def test_slow_client_gets_everything(daemon: Any, ctr: str) -> None:
    size = 6 * 1024 * 1024  # more than the shim buffers for a client
    eid = _exec(daemon, ctr, ["head", "-c", str(size), "/dev/zero"])
    _, s = _start(daemon, eid, {"Detach": False, "Tty": False})
    pid = wait_for(lambda: _inspect(daemon, eid)["Pid"], "the exec's pid")
    # the client reads nothing until the shim has filled up and the writer is held
    wait_for(_stalled(pid), "the exec's writes to stop while its client reads nothing", step=0.2)
    frames = _frames(_read_all(s))
    s.close()
    assert sum(len(d) for k, d in frames if k == 1) == size
    assert _inspect(daemon, eid)["ExitCode"] == 0


def test_client_gone_exec_runs_on(daemon: Any, ctr: str) -> None:
    eid = _exec(daemon, ctr, ["sh", "-c", "sleep 0.5; yes | head -c 1000000; touch /tmp/done"])
    _, s = _start(daemon, eid, {"Detach": False, "Tty": False})
    s.close()
    deadline = time.monotonic() + 15
    while (info := _inspect(daemon, eid))["Running"] or info["ExitCode"] is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert info["ExitCode"] == 0
    check = _exec(daemon, ctr, ["test", "-e", "/tmp/done"])
    assert daemon.api.call("POST", f"/exec/{check}/start", {"Detach": True})[0] == 200
    while (info := _inspect(daemon, check))["ExitCode"] is None:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert info["ExitCode"] == 0


def test_resize(daemon: Any, ctr: str) -> None:
    eid = _exec(daemon, ctr, ["sh", "-c", "sleep 0.5; stty size"], Tty=True, ConsoleSize=[10, 20])
    _, s = _start(daemon, eid, {"Detach": False, "Tty": True})
    st, _, _ = daemon.api.raw("POST", f"/exec/{eid}/resize?h=40&w=100")
    assert st == 200
    assert _read_all(s) == b"40 100\r\n"
    s.close()
    eid = _exec(daemon, ctr, ["stty", "size"], Tty=True, ConsoleSize=[10, 20])
    _, s = _start(daemon, eid, {"Detach": False, "Tty": True})
    assert _read_all(s) == b"10 20\r\n"
    s.close()
