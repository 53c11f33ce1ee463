"""The API edge of a real berthd: malformed heads and framings answered cleanly, JSON
bodies only as application/json (the CSRF guard), bounded nesting, slow clients cut
off while streams stay up, a connection cap, and TCP listeners checked alike."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import (
    _LIVE_DAEMONS,
    IS_ROOT,
    REPO,
    Daemon,
    cleanup_root,
    docker_for,
    own_daemon,
)

pytestmark = [pytest.mark.integration, pytest.mark.skipif(not IS_ROOT, reason="needs root")]

JSON = b"Content-Type: application/json\r\n"


def exchange(path: str, data: bytes, timeout: float = 20) -> bytes:
    """Send raw bytes on a fresh connection; everything the daemon answers until it
    closes the connection."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # it may close before reading everything (a head too large)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                return out
            out += chunk
        return out


def parse(raw: bytes) -> tuple[int, str, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    _, status, reason = lines[0].split(" ", 2)
    headers = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        headers[k.strip().lower()] = v.strip()
    if "content-length" in headers:
        body = body[: int(headers["content-length"])]
    return int(status), reason, headers, body


def message(body: bytes) -> str:
    return str(json.loads(body)["message"])


def create(name: str, body: bytes, extra: bytes = b"") -> bytes:
    return (
        b"POST /v1.50/containers/create?name=%s HTTP/1.1\r\nHost: x\r\n%s"
        b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
    ) % (name.encode(), extra, len(body), body)


_CREATE_BODY = json.dumps(
    {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"Binds": ["/:/host"]}}
).encode()

# (id, raw request, status, a piece of the message); none may create a container
CASES: list[tuple[str, bytes, int, str]] = [
    (
        "content-length-abc",
        b"POST /v1.50/containers/create HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}",
        400,
        "Content-Length",
    ),
    (
        "content-length-negative",
        b"POST /v1.50/containers/create HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n{}",
        400,
        "Content-Length",
    ),
    (
        "content-length-huge",
        b"POST /_ping HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        400,
        "Content-Length",
    ),
    (
        "content-length-duplicate",
        b"POST /_ping HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        400,
        "Content-Length",
    ),
    (
        "content-length-and-transfer-encoding",
        b"POST /v1.50/containers/create HTTP/1.1\r\nHost: x\r\n" + JSON + b"Content-Length: 2\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
        "Transfer-Encoding",
    ),
    (
        "bad-chunk-size",
        b"POST /v1.50/containers/create?name=edge-chunk HTTP/1.1\r\nHost: x\r\n"
        + JSON
        + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
        400,
        "chunk size",
    ),
    (
        "obs-fold",
        b"GET /_ping HTTP/1.1\r\nHost: x\r\nX-A: one\r\n two\r\n\r\n",
        400,
        "malformed HTTP request",
    ),
    ("garbage-request-line", b"hello there\r\n\r\n", 400, "malformed HTTP request"),
    ("tls-to-plain", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400, "malformed"),
    (
        "header-over-64k",
        b"GET /_ping HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (70 << 10) + b"\r\n\r\n",
        431,
        "header fields too large",
    ),
    (
        "many-headers-over-64k",
        b"GET /_ping HTTP/1.1\r\nHost: x\r\n"
        + b"".join(b"X-H%d: %s\r\n" % (i, b"b" * 1000) for i in range(80))
        + b"\r\n",
        431,
        "header fields too large",
    ),
    (
        "text-plain-create",
        create("edge-csrf-text", _CREATE_BODY, b"Content-Type: text/plain;charset=UTF-8\r\n"),
        400,
        "unsupported Content-Type header (text/plain;charset=UTF-8): must be 'application/json'",
    ),
    (
        "form-create",
        create(
            "edge-csrf-form", _CREATE_BODY, b"Content-Type: application/x-www-form-urlencoded\r\n"
        ),
        400,
        "unsupported Content-Type header (application/x-www-form-urlencoded): must be "
        "'application/json'",
    ),
    (
        "multipart-create",
        create(
            "edge-csrf-multi", _CREATE_BODY, b"Content-Type: multipart/form-data; boundary=x\r\n"
        ),
        400,
        "must be 'application/json'",
    ),
    (
        "no-content-type-create",
        create("edge-csrf-none", _CREATE_BODY),
        400,
        "malformed Content-Type header (): mime: no media type",
    ),
    (
        "deep-json",
        create("edge-deep", b"[" * 100_000 + b"]" * 100_000, JSON),
        400,
        "invalid JSON: nested deeper than 256",
    ),
    (
        "deep-json-in-an-object",
        create(
            "edge-deep2",
            b'{"Image":"busybox","Labels":' + b'{"a":' * 5000 + b"1" + b"}" * 5001,
            JSON,
        ),
        400,
        "nested deeper",
    ),
]


@pytest.mark.parametrize("raw,status,text", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_requests_answer_cleanly(
    daemon: Daemon, raw: bytes, status: int, text: str
) -> None:
    out = exchange(daemon.sock, raw)
    st, reason, headers, body = parse(out)
    assert st == status, out[:300]
    if status == 431:
        assert reason == "Request Header Fields Too Large"
    assert text in message(body), body
    assert "Error" not in message(body)  # no Python exception name
    # nothing was created, and the daemon goes on serving
    st, names = daemon.api.call("GET", "/containers/json?all=1")
    assert st == 200
    assert not [c for c in names if any(n.startswith("/edge-") for n in c["Names"])]
    assert daemon.api.raw("GET", "/_ping")[0] == 200


def test_json_content_types_that_are_fine(daemon: Daemon) -> None:
    ok = json.dumps({"Image": "busybox", "Cmd": ["true"]}).encode()
    for i, ct in enumerate(
        [b"application/json", b"application/json; charset=utf-8", b"Application/JSON"]
    ):
        st, _, _, body = parse(
            exchange(daemon.sock, create(f"edge-ok{i}", ok, b"Content-Type: " + ct + b"\r\n"))
        )
        assert st == 201, body
        assert daemon.api.call("DELETE", f"/containers/edge-ok{i}?force=1")[0] == 204
    # an empty body without a Content-Type is fine (dockerd's CheckForJSON)
    raw = b"POST /v1.50/volumes/create HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
    st, _, _, body = parse(exchange(daemon.sock, raw + b"Connection: close\r\n\r\n"))
    assert st == 201, body
    assert daemon.api.call("DELETE", f"/volumes/{json.loads(body)['Name']}")[0] == 204


def test_keep_alive_survives_a_refused_body(daemon: Daemon) -> None:
    """A 400 for the Content-Type leaves the connection usable: the body is drained."""
    body = b"x=1&y=2"
    raw = (
        b"POST /v1.50/containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    ) + b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    out = exchange(daemon.sock, raw)
    assert out.startswith(b"HTTP/1.1 400 Bad Request")
    assert out.count(b"HTTP/1.1 ") == 2 and out.endswith(b"OK")


def test_chunked_json_body_still_works(daemon: Daemon) -> None:
    body = json.dumps({"Image": "busybox", "Cmd": ["true"]}).encode()
    chunks = b"".join(
        b"%x;ext=1\r\n%s\r\n" % (len(body[i : i + 7]), body[i : i + 7])
        for i in range(0, len(body), 7)
    )
    raw = (
        b"POST /v1.50/containers/create?name=edge-chunked HTTP/1.1\r\nHost: x\r\n"
        + JSON
        + b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        + chunks
        + b"0\r\nX-Trailer: t\r\n\r\n"
    )
    st, _, _, out = parse(exchange(daemon.sock, raw))
    assert st == 201, out
    assert daemon.api.call("DELETE", "/containers/edge-chunked?force=1")[0] == 204


# ---- slow and abandoned clients --------------------------------------------


@pytest.fixture
def short_timeout_daemon(busybox_tar: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Daemon]:
    monkeypatch.setenv("BERTH_HTTP_IDLE_TIMEOUT", "1")
    monkeypatch.setenv("BERTH_HTTP_MAX_CONNECTIONS", "16")
    with own_daemon(busybox_tar) as d:
        yield d


def _wait_closed(s: socket.socket, limit: float = 30) -> bytes:
    """What arrives until the daemon closes `s` (socket.timeout if it never does)."""
    s.settimeout(limit)
    out = b""
    while chunk := s.recv(4096):
        out += chunk
    return out


def _read_line(proc: subprocess.Popen[bytes]) -> bytes:
    assert proc.stdout is not None
    return proc.stdout.readline()


def test_an_idle_client_is_cut_off_while_streams_stay_up(short_timeout_daemon: Daemon) -> None:
    d = short_timeout_daemon
    docker = docker_for(d)
    r = docker(
        "run",
        "-d",
        "--name",
        "edge-logs",
        "busybox",
        "sh",
        "-c",
        "echo first; while [ ! -e /tmp/go ]; do sleep 0.1; done; echo second",
    )
    assert r.returncode == 0, r.stderr
    exe = "/usr/local/bin/docker"
    logs = subprocess.Popen([exe, "logs", "-f", "edge-logs"], env=d.env, stdout=subprocess.PIPE)
    events = subprocess.Popen(
        [exe, "events", "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}"],
        env=d.env,
        stdout=subprocess.PIPE,
    )
    try:
        assert _read_line(logs) == b"first\n"
        # a client that sends half a head and waits, and one that sends nothing
        half = socket.socket(socket.AF_UNIX)
        silent = socket.socket(socket.AF_UNIX)
        with half, silent:
            half.connect(d.sock)
            silent.connect(d.sock)
            half.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n")
            assert _wait_closed(half) == b""
            assert _wait_closed(silent) == b""
        # both streams outlived the idle timeout and still deliver
        assert logs.poll() is None and events.poll() is None
        assert docker("create", "--name", "edge-new", "busybox").returncode == 0
        while (line := _read_line(events)) and b"edge-new" not in line:
            pass
        assert line == b"container create edge-new\n"
        assert docker("exec", "edge-logs", "touch", "/tmp/go").returncode == 0
        assert _read_line(logs) == b"second\n"
        assert logs.wait(30) == 0
        assert d.api.raw("GET", "/_ping")[0] == 200
    finally:
        for p in (logs, events):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
            p.wait(10)


def test_the_connection_cap_refuses_cleanly_and_recovers(
    tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BERTH_HTTP_MAX_CONNECTIONS", "3")
    d = Daemon(tmp / "d")
    (tmp / "d").mkdir()
    _LIVE_DAEMONS.append(d)
    held: list[socket.socket] = []
    try:
        d.start()
        for _ in range(3):  # three event streams hold three connections
            s = socket.socket(socket.AF_UNIX)
            s.connect(d.sock)
            s.sendall(b"GET /v1.50/events HTTP/1.1\r\nHost: x\r\n\r\n")
            s.settimeout(20)
            assert s.recv(4096).startswith(b"HTTP/1.1 200 OK")
            held.append(s)
        st, _, _, body = parse(exchange(d.sock, b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n"))
        assert st == 503 and "too many open connections" in message(body)
        held.pop().close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # the slot frees once the daemon sees the close
            if exchange(d.sock, b"GET /_ping HTTP/1.1\r\nConnection: close\r\n\r\n").endswith(
                b"OK"
            ):
                break
            time.sleep(0.05)
        else:
            pytest.fail("the daemon did not serve again after a connection closed")
    finally:
        for s in held:
            s.close()
        _LIVE_DAEMONS.remove(d)
        d.stop()
        cleanup_root(tmp / "d")


# ---- TCP listeners -----------------------------------------------------------


def _fd_daemon(root: Path, sock: socket.socket) -> subprocess.Popen[bytes]:
    """berthd given `sock` as systemd would (fd 3, LISTEN_FDS=1)."""
    d = Daemon(root, ["-H", "fd://"])
    (root / "daemon.json").write_text("{}\n")
    fd = sock.fileno()
    env = {**os.environ, "LISTEN_FDS": "1"}
    env.pop("LISTEN_PID", None)
    return subprocess.Popen(
        d.argv(),
        env=env,
        cwd=REPO,
        pass_fds=(3,),
        preexec_fn=(lambda: os.dup2(fd, 3)) if fd != 3 else None,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _finish(p: subprocess.Popen[bytes], timeout: float = 60) -> bytes:
    """SIGTERM, then what berthd printed; killed if it does not stop in time."""
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
    return out


def test_fd_tcp_socket_beyond_loopback_is_refused(tmp: Path) -> None:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        s.listen()
        p = _fd_daemon(tmp, s)
        try:
            p.wait(60)  # it must exit on its own
        except subprocess.TimeoutExpired:
            pass
        finally:
            out = _finish(p)
            cleanup_root(tmp)
    assert p.returncode == 1, out
    assert b"refusing to listen on fd://" in out and b"without TLS client verification" in out


def test_plain_tcp_on_loopback_warns_like_dockerd(tmp: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        p = _fd_daemon(tmp, s)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
                        c.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                        if _wait_closed(c).endswith(b"OK"):
                            break
                except OSError:
                    pass
                assert p.poll() is None, p.stdout.read() if p.stdout else ""
                time.sleep(0.05)
            else:
                pytest.fail("berthd did not serve the passed socket")
        finally:
            out = _finish(p)
            cleanup_root(tmp)
    assert b"Binding to IP address without --tlsverify is insecure and gives root access" in out
    assert b"even on localhost, can also give access to scripts run in a browser" in out
