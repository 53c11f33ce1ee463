"""The per-container shim: holds the container's stdio, reaps it, records how it ended.

A shim is forked by the zygote (berth/runtime/zygote.py) for each container. It owns the pipes (or
the pty) of the container, writes the json-file log, serves attach clients and exits after the
container has exited and everything is flushed. It outlives the daemon: all the state a restarted
daemon needs is its control socket and, once the container has ended, ``exit.json``.

Files in the bundle directory::

    config.json   OCI config (read)          shim.sock   control socket (removed at exit)
    shim.log      the shim's own stderr      exit.json   exit status, written atomically

Protocol on ``shim.sock``: each connection carries ONE request, a JSON object on one line, and gets
one JSON line back. A reply with an ``"error"`` key is a failure (``"error"`` is the message).

==========  ===============================================  =========================================
op          request fields                                   reply
==========  ===============================================  =========================================
start       --                                               {"pid": N} or {"error": msg,
                                                             "start_error": true} (the container
                                                             could not start; exit.json is written)
attach      stdin, stdout, stderr (bools)                    {"ok": true}, then the connection is the
                                                             raw stream (see below)
signal      signal (int)                                     {"ok": true}
resize      height, width (ints)                             {"ok": true}
wait        --                                               sent once the container has exited:
                                                             {"exit": {"exit_code", "oom_killed",
                                                             "finished_at", "error"}}
state       --                                               {"status": "created"|"running"|"exited",
                                                             "pid", "started_at", and once exited
                                                             "exit": {...as for wait}}
shutdown    --                                               {"ok": true}; only before start: the
                                                             shim exits without running anything
exec        id (str), process (OCI process fields over       {"pid": N}, then (unless detach) the
            config.json's), stdin, stdout, stderr, detach,   connection is the exec's raw stream; or
            raw (bools; raw: no stdcopy framing)             {"error": msg, "start_error": bool}
exec_wait   id                                               sent once that exec has exited:
                                                             {"exit_code": N}
==========  ===============================================  =========================================

``resize`` and ``signal`` take an optional ``exec`` (id) to act on an exec instead of the container.

Attach stream: the shim sends the container's output as stdcopy frames (8-byte header, stream 1
stdout / 2 stderr) unless the container has a tty, then raw bytes. Bytes the client sends go to the
container's stdin (only if it asked for stdin and the container has OpenStdin); the client's
half-close (EOF) closes the container's stdin when StdinOnce is set, unless the container has a
tty (as in dockerd, whose tty sessions end at the client's EOF or detach keys: berthd's side). The shim closes the connection
once the container has exited and its output is fully sent. A client that falls more than
`CLIENT_BUFFER_LIMIT` behind is dropped: the container never waits for a client.

Exec stream: like attach, for one exec process and one client (stdcopy frames unless ``raw``). The
client's half-close closes the exec's stdin, unless it has a tty (its client ended or detached;
the terminal stays open, as in dockerd). The exec's output is not logged; when the client falls
behind, the shim stops reading the exec's output instead of dropping the client. The shim closes the
connection once the exec has exited and its output is sent. Execs still running when the container
ends are killed.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import selectors
import signal
import socket
import struct
import termios
import time
from typing import Any

from berth.runtime.logfile import JsonFileWriter, format_time
from berth.stdcopy import frame

SOCKET_NAME = "shim.sock"
EXIT_FILE = "exit.json"
LOG_NAME = "shim.log"

MAX_REQUEST = 64 * 1024
CLIENT_BUFFER_LIMIT = 4 * 1024 * 1024
STDIN_BUFFER_LIMIT = 1024 * 1024
READ_SIZE = 64 * 1024
# An exec's output is read only while its client has less than this waiting.
EXEC_OUTPUT_PAUSE = 1024 * 1024
# After the container exits, background processes (host pid namespace) may keep its pipes open.
DRAIN_TIMEOUT = 2.0
# Time given to attach clients to take the rest of the output once the container has exited.
FLUSH_TIMEOUT = 5.0
EXIT_UNKNOWN = 128

_R = selectors.EVENT_READ
_W = selectors.EVENT_WRITE


def encode_message(obj: dict[str, Any]) -> bytes:
    """One protocol message: compact JSON and a newline."""
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


def decode_message(line: bytes) -> dict[str, Any]:
    """Parse one protocol line. Raises ValueError unless it is a JSON object."""
    obj = json.loads(line)
    if not isinstance(obj, dict):
        raise ValueError("message is not a JSON object")
    return obj


def exit_code_for_start_error(message: str) -> int:
    """The exit code docker records for a container that failed to start with this message."""
    if "executable file not found" in message or "no such file or directory" in message:
        return 127
    if "permission denied" in message:
        return 126
    return EXIT_UNKNOWN


def exit_code_from_status(status: int) -> int:
    """waitpid status -> docker exit code (a signal N gives 128+N)."""
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def preload() -> None:
    """Import what a shim needs, in the zygote, so that shims share those pages."""
    import fcntl  # noqa: F401
    import termios  # noqa: F401

    try:
        from berth.runtime import executor

        prepare = getattr(executor, "prepare", None)
        if prepare is not None:
            prepare()  # host facts (cgroup layout, capability sets) read once, shared by shims
    except Exception as e:  # the shim reports a missing executor at start, not the zygote
        _log(f"cannot preload the executor: {e}")


def rehearse(rounds: int = 20) -> None:
    """Run a shim's code paths (no container) in the zygote before it forks shims.

    CPython 3.11 writes into code objects while it warms up and specializes them; done here once,
    those pages stay shared with every shim instead of being copied into each one."""
    import shutil
    import tempfile

    cwd = os.open(".", os.O_RDONLY | os.O_CLOEXEC)
    bundle = tempfile.mkdtemp(prefix="bt-zygote-", dir="/tmp")
    try:
        with open(os.path.join(bundle, "config.json"), "w") as f:
            json.dump(
                {"ociVersion": "1.0.2", "process": {"args": ["true"]}, "root": {"path": "/"}}, f
            )
        for _ in range(rounds):
            _rehearse_once(bundle)
    except Exception as e:  # only an optimisation: never let it stop the zygote
        _log(f"rehearsal failed: {e}")
    finally:
        os.fchdir(cwd)
        os.close(cwd)
        shutil.rmtree(bundle, ignore_errors=True)


def _rehearse_once(bundle: str) -> None:
    sh = Shim(
        id="rehearsal",
        bundle=bundle,
        log_path=os.path.join(bundle, "log.json"),
        tty=False,
        open_stdin=True,
        stdin_once=True,
    )
    sh.setup()
    peers = []
    for req in ({"op": "attach", "stdin": True, "stdout": True, "stderr": True}, {"op": "wait"}):
        a, b = socket.socketpair()
        a.setblocking(False)
        conn = _Conn(a)
        sh.conns[conn.fd] = conn
        sh._update_conn(conn)
        b.sendall(encode_message(req))
        sh._read_conn(conn)
        peers.append(b)
    for req in ({"op": "state"}, {"op": "resize", "height": 1, "width": 1}, {"op": "signal"}):
        a, b = socket.socketpair()
        conn = _Conn(a)
        sh.conns[conn.fd] = conn
        b.sendall(encode_message(req))
        sh._read_conn(conn)
        b.close()
    stdin_r, out_w, err_w = sh.stdio
    os.write(out_w, b"out\npartial")
    os.write(err_w, b"err\n")
    peers[0].sendall(b"in\n")
    for key, ev in sh.sel.select(0):
        sh._dispatch(key.fd, ev)
    os.read(stdin_r, 100)
    sh._close_child_fds()
    sh.exit = {"exit_code": 0, "oom_killed": False, "finished_at": "", "error": ""}
    sh.reaped_at = time.monotonic()
    sh._write_exit_file()
    while not sh.finalized:
        for key, ev in sh.sel.select(0.1):
            sh._dispatch(key.fd, ev)
        if not sh.outputs:
            sh._finalize()
    for conn in list(sh.conns.values()):
        sh._drop(conn)
    for b in peers:
        b.close()
    sh.sel.close()
    os.unlink(EXIT_FILE)


def _log(msg: str) -> None:
    os.write(2, f"{format_time(time.time_ns())} shim[{os.getpid()}]: {msg}\n".encode())


class _Conn:
    __slots__ = ("sock", "fd", "inbuf", "out", "mode", "stdin", "stdout", "stderr", "reading", "ex")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.inbuf = b""
        self.out = bytearray()
        # request | attach | wait | exec | exec_wait | reply (close once flushed)
        self.mode = "request"
        self.stdin = False
        self.stdout = False
        self.stderr = False
        self.reading = True
        self.ex: _Exec | None = None  # the exec this exec/exec_wait connection is about


class _Exec:
    """One exec process: its stdio (shim side), its client and its exit."""

    __slots__ = (
        "id",
        "tty",
        "raw",
        "pid",
        "pidfd",
        "outputs",
        "master",
        "stdin_fd",
        "stdin_buf",
        "stdin_closing",
        "conn",
        "exit_code",
        "reaped_at",
        "waiters",
        "done",
    )

    def __init__(self, id: str, tty: bool, raw: bool) -> None:
        self.id = id
        self.tty = tty
        self.raw = raw
        self.pid = 0
        self.pidfd = -1
        self.outputs: dict[int, str] = {}
        self.master = -1
        self.stdin_fd = -1
        self.stdin_buf = bytearray()
        self.stdin_closing = False
        self.conn: _Conn | None = None
        self.exit_code: int | None = None
        self.reaped_at = 0.0
        self.waiters: list[_Conn] = []
        self.done = False


class Shim:
    """One container's shim. `setup` then `serve`; the process exits after `serve` returns."""

    def __init__(
        self,
        *,
        id: str,
        bundle: str,
        log_path: str | None,
        tty: bool,
        open_stdin: bool,
        stdin_once: bool,
    ) -> None:
        self.id = id
        self.bundle = bundle
        self.log_path = log_path
        self.tty = tty
        self.open_stdin = open_stdin
        self.stdin_once = stdin_once
        self.config: dict[str, Any] = {}
        self.sel = selectors.DefaultSelector()
        self.status = "created"
        self.pid = 0
        self.started_at = ""
        self.exit: dict[str, Any] | None = None
        self.conns: dict[int, _Conn] = {}
        self.writer: JsonFileWriter | None = None
        self.listener: socket.socket | None = None
        # fds the container gets (closed in the shim once it runs)
        self.child_fds: list[int] = []
        self.stdio: tuple[int, int, int] = (-1, -1, -1)
        # shim-side ends: fd -> stream name
        self.outputs: dict[int, str] = {}
        self.master = -1
        self.console_sock = -1  # tty: where the container sends its console's master
        self.console_size: tuple[int, int] | None = None  # a resize before the console exists
        self.stdin_fd = -1
        self.stdin_buf = bytearray()
        self.stdin_closing = False
        self.pidfd = -1
        self.reaped_at = 0.0
        self.finalized = False
        self.flush_deadline = 0.0
        self.shutting_down = False
        self.events: dict[int, int] = {}
        self.execs: dict[str, _Exec] = {}
        self.exec_fds: dict[int, _Exec] = {}  # every fd of a live exec: stdio ends and pidfd
        self.draining: set[_Exec] = set()  # exited, output not yet at EOF

    # ---- setup -------------------------------------------------------------------------------

    def setup(self) -> None:
        """Load config.json, create the container's stdio, listen on shim.sock."""
        os.chdir(self.bundle)
        from berth.runtime.seccomp import compiler as seccomp_compiler

        # beside the bundles, in the exec root: shared by this daemon's shims
        seccomp_compiler.disk_cache_dir = os.path.join(
            os.path.dirname(os.path.abspath(self.bundle)), ".seccomp-cache"
        )
        with open("config.json", "rb") as f:
            self.config = json.load(f)
        if self.tty:
            # As runc with --console-socket: the container makes its console from its own
            # devpts (so that inside it is /dev/pts/0) and sends the master back on this
            # socket during the start (_take_console). Until then its stdio is /dev/null.
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            self.console_sock = ours.detach()
            null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
            self.child_fds = [null, theirs.detach()]
            self.stdio = (null, null, null)
        else:
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            if self.open_stdin:
                in_r, in_w = os.pipe()
                os.set_blocking(in_w, False)
                self.stdin_fd = in_w
            else:
                in_r = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
            for fd in (out_r, err_r):
                os.set_blocking(fd, False)
            self.outputs[out_r] = "stdout"
            self.outputs[err_r] = "stderr"
            self.child_fds = [in_r, out_w, err_w]
            self.stdio = (in_r, out_w, err_w)
        if self.log_path:
            # the engine passes the log driver's rotation options as annotations
            ann = self.config.get("annotations") or {}
            self.writer = JsonFileWriter(
                self.log_path,
                max_size=int(ann.get("org.berth.log.max-size") or -1),
                max_file=int(ann.get("org.berth.log.max-file") or 1),
            )
        try:
            os.unlink(SOCKET_NAME)
        except FileNotFoundError:
            pass
        lst = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # relative to the bundle (our cwd): bundle paths may exceed sun_path's 108 bytes
        lst.bind(SOCKET_NAME)
        os.chmod(SOCKET_NAME, 0o600)
        lst.listen(64)
        lst.setblocking(False)
        self.listener = lst
        self._set_events(lst.fileno(), _R)
        for fd in self.outputs:
            self._set_events(fd, _R)

    # ---- selector bookkeeping ----------------------------------------------------------------

    def _set_events(self, fd: int, events: int) -> None:
        old = self.events.get(fd, 0)
        if events == old:
            return
        if not events:
            self.sel.unregister(fd)
            del self.events[fd]
        elif not old:
            self.sel.register(fd, events)
            self.events[fd] = events
        else:
            self.sel.modify(fd, events)
            self.events[fd] = events

    def _forget(self, fd: int) -> None:
        if fd in self.events:
            self.sel.unregister(fd)
            del self.events[fd]

    def _update_master(self) -> None:
        ev = _R if self.master in self.outputs else 0
        if self.stdin_buf and self.stdin_fd == self.master:
            ev |= _W
        self._set_events(self.master, ev)

    # ---- main loop ---------------------------------------------------------------------------

    def serve(self) -> None:
        """Run until the container has exited and every client got its data (or timed out)."""
        while True:
            if self.finalized and (not self.conns or time.monotonic() >= self.flush_deadline):
                break
            if self.shutting_down and not self.conns:
                break
            timeout: float | None = None
            if self.reaped_at and not self.finalized:
                timeout = max(0.0, self.reaped_at + DRAIN_TIMEOUT - time.monotonic())
            elif self.finalized:
                timeout = max(0.0, self.flush_deadline - time.monotonic())
            if self.draining:
                t = max(
                    0.0, min(e.reaped_at for e in self.draining) + DRAIN_TIMEOUT - time.monotonic()
                )
                timeout = t if timeout is None else min(timeout, t)
            for key, ev in self.sel.select(timeout):
                self._dispatch(key.fd, ev)
            if self.draining:
                now = time.monotonic()
                for ex in [e for e in self.draining if now >= e.reaped_at + DRAIN_TIMEOUT]:
                    self._exec_finish(ex)
            if self.exit is not None and not self.finalized:
                if not self.outputs or time.monotonic() >= self.reaped_at + DRAIN_TIMEOUT:
                    self._finalize()
        for conn in list(self.conns.values()):
            self._drop(conn)

    def _dispatch(self, fd: int, ev: int) -> None:
        if self.listener is not None and fd == self.listener.fileno():
            self._accept()
        elif fd == self.pidfd:
            self._reap()
        elif fd == self.master:
            if ev & _W:
                self._flush_stdin()
            if ev & _R:
                self._read_output(fd)
        elif fd in self.outputs:
            self._read_output(fd)
        elif fd == self.stdin_fd:
            self._flush_stdin()
        elif fd in self.exec_fds:
            self._exec_event(self.exec_fds[fd], fd, ev)
        else:
            conn = self.conns.get(fd)
            if conn is None:
                return
            if ev & _W:
                self._flush_conn(conn)
            if ev & _R and conn.fd in self.conns:
                self._read_conn(conn)

    # ---- container output --------------------------------------------------------------------

    def _read_output(self, fd: int) -> None:
        try:
            data = os.read(fd, READ_SIZE)
        except BlockingIOError:
            return
        except OSError as e:
            # EIO: the pty has no slave left, i.e. the container side is gone
            if e.errno != errno.EIO:
                _log(f"reading output: {e}")
            data = b""
        stream = self.outputs[fd]
        if not data:
            self._close_output(fd)
            return
        if self.writer is not None:
            self.writer.write(stream, data)
        if self.tty:
            payload = data
        else:
            payload = frame(1 if stream == "stdout" else 2, data)
        want_out = stream == "stdout"
        for conn in list(self.conns.values()):
            if conn.mode == "attach" and (conn.stdout if want_out else conn.stderr):
                self._send(conn, payload)

    def _close_output(self, fd: int) -> None:
        stream = self.outputs.pop(fd)
        if self.writer is not None:
            self.writer.end_stream(stream)
        if fd == self.master:
            self._update_master()
            if self.stdin_fd != fd:
                self._close_master()
        else:
            self._forget(fd)
            os.close(fd)

    def _close_master(self) -> None:
        if self.master >= 0:
            self._forget(self.master)
            os.close(self.master)
            if self.stdin_fd == self.master:
                self.stdin_fd = -1
            self.master = -1

    # ---- container stdin ---------------------------------------------------------------------

    def _feed_stdin(self, data: bytes) -> None:
        # before the start a tty has no master yet: keep what is typed for it
        waiting = self.tty and self.open_stdin and self.status == "created"
        if (self.stdin_fd < 0 and not waiting) or self.stdin_closing:
            return
        self.stdin_buf += data
        self._flush_stdin()

    def _flush_stdin(self) -> None:
        fd = self.stdin_fd
        if fd < 0:
            return
        while self.stdin_buf:
            try:
                n = os.write(fd, self.stdin_buf)
            except BlockingIOError:
                break
            except OSError:
                # the container closed its stdin or is gone: what it did not take is lost
                self.stdin_buf.clear()
                self.stdin_closing = True
                break
            del self.stdin_buf[:n]
        if not self.stdin_buf and self.stdin_closing:
            self._close_stdin()
            return
        if fd == self.master:
            self._update_master()
        else:
            self._set_events(fd, _W if self.stdin_buf else 0)
        if len(self.stdin_buf) < STDIN_BUFFER_LIMIT:
            for conn in self.conns.values():
                if conn.stdin and conn.mode == "attach":
                    self._update_conn(conn)

    def _close_stdin(self) -> None:
        fd = self.stdin_fd
        if fd < 0:
            return
        self.stdin_buf.clear()
        if fd == self.master:
            # a pty has no half-close: EOT makes a canonical-mode reader see end of input
            try:
                os.write(fd, b"\x04")
            except OSError:
                pass
            self.stdin_fd = -1
            self._update_master()
            if self.master not in self.outputs:
                self._close_master()
        else:
            self._forget(fd)
            os.close(fd)
            self.stdin_fd = -1

    def _stdin_eof(self) -> None:
        # As dockerd: a client's end closes a tty's stdin never (that client detached), a
        # pipe's only with StdinOnce.
        if self.stdin_once and self.stdin_fd >= 0 and not self.tty:
            self.stdin_closing = True
            if not self.stdin_buf:
                self._close_stdin()

    # ---- clients -----------------------------------------------------------------------------

    def _accept(self) -> None:
        assert self.listener is not None
        while True:
            try:
                sock, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                _log(f"accept: {e}")
                return
            sock.setblocking(False)
            conn = _Conn(sock)
            self.conns[conn.fd] = conn
            self._update_conn(conn)

    def _update_conn(self, conn: _Conn) -> None:
        ev = _W if conn.out else 0
        if conn.reading:
            if conn.mode == "exec":
                if conn.ex is None or len(conn.ex.stdin_buf) < STDIN_BUFFER_LIMIT:
                    ev |= _R
            elif (
                conn.mode != "attach" or not conn.stdin or len(self.stdin_buf) < STDIN_BUFFER_LIMIT
            ):
                ev |= _R
        self._set_events(conn.fd, ev)

    def _drop(self, conn: _Conn) -> None:
        self._forget(conn.fd)
        self.conns.pop(conn.fd, None)
        conn.sock.close()
        if conn.mode == "attach" and conn.stdin and conn.reading:
            self._stdin_eof()
        ex = conn.ex
        if ex is not None:
            conn.ex = None
            if ex.conn is conn:
                # the client went away: the exec runs on, its output is read and discarded
                ex.conn = None
                if conn.stdin and conn.reading and not ex.tty:  # a tty's client detached
                    self._exec_stdin_eof(ex)
                if not ex.done:
                    self._exec_update(ex)
            elif conn in ex.waiters:
                ex.waiters.remove(conn)

    def _send(self, conn: _Conn, data: bytes) -> None:
        if conn.out:
            conn.out += data
            if len(conn.out) > CLIENT_BUFFER_LIMIT:
                _log("dropping an attach client that does not keep up")
                self._drop(conn)
            return
        try:
            n = conn.sock.send(data)
        except BlockingIOError:
            n = 0
        except OSError:
            self._drop(conn)
            return
        if n < len(data):
            conn.out += data[n:]
            self._update_conn(conn)
        elif conn.mode == "reply":
            self._drop(conn)

    def _flush_conn(self, conn: _Conn) -> None:
        try:
            n = conn.sock.send(conn.out)
        except BlockingIOError:
            return
        except OSError:
            self._drop(conn)
            return
        del conn.out[:n]
        if not conn.out and (conn.mode == "reply" or self.finalized and conn.mode == "attach"):
            self._drop(conn)
            return
        if conn.ex is not None and not conn.ex.done:
            self._exec_update(conn.ex)  # resumes reading its output once the client caught up
        self._update_conn(conn)

    def _reply(self, conn: _Conn, obj: dict[str, Any], mode: str = "reply") -> None:
        conn.mode = mode
        if mode == "reply":
            conn.reading = False
            self._set_events(conn.fd, 0)
        self._send(conn, encode_message(obj))
        if conn.fd in self.conns:
            self._update_conn(conn)

    def _read_conn(self, conn: _Conn) -> None:
        try:
            data = conn.sock.recv(READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            self._drop(conn)
            return
        if not data:
            if conn.mode == "attach":
                conn.reading = False
                if conn.stdin:
                    self._stdin_eof()
                self._update_conn(conn)
            elif conn.mode == "exec":
                conn.reading = False
                if conn.stdin and conn.ex is not None and not conn.ex.tty:
                    self._exec_stdin_eof(conn.ex)  # a tty's client ended or detached: left open
                self._update_conn(conn)
            else:
                self._drop(conn)  # a waiter or half-sent request went away
            return
        if conn.mode == "attach":
            if conn.stdin:
                self._feed_stdin(data)
                self._update_conn(conn)
            return
        if conn.mode == "exec":
            if conn.stdin and conn.ex is not None:
                self._exec_feed(conn.ex, data)
                self._update_conn(conn)
            return
        if conn.mode != "request":
            return  # a waiter has nothing more to say
        conn.inbuf += data
        nl = conn.inbuf.find(b"\n")
        if nl < 0:
            if len(conn.inbuf) > MAX_REQUEST:
                self._drop(conn)
            return
        line, rest = conn.inbuf[:nl], conn.inbuf[nl + 1 :]
        conn.inbuf = b""
        try:
            req = decode_message(line)
        except ValueError:
            self._reply(conn, {"error": "malformed request"})
            return
        self._handle(conn, req, rest)

    # ---- requests ----------------------------------------------------------------------------

    def _handle(self, conn: _Conn, req: dict[str, Any], rest: bytes) -> None:
        op = req.get("op")
        if op == "attach":
            self._op_attach(conn, req, rest)
        elif op == "start":
            self._op_start(conn)
        elif op == "wait":
            if self.finalized:
                self._reply(conn, self._exit_reply())
            else:
                conn.mode = "wait"
                self._update_conn(conn)
        elif op == "state":
            self._reply(conn, self._state())
        elif op == "signal":
            self._op_signal(conn, req)
        elif op == "resize":
            self._op_resize(conn, req)
        elif op == "exec":
            self._op_exec(conn, req, rest)
        elif op == "exec_wait":
            self._op_exec_wait(conn, req)
        elif op == "shutdown":
            if self.status != "created":
                self._reply(conn, {"error": "container was started: cannot shut the shim down"})
                return
            self.shutting_down = True
            self._reply(conn, {"ok": True})
            self._close_all_io()
            for other in list(self.conns.values()):
                if other is not conn:
                    self._drop(other)
        else:
            self._reply(conn, {"error": f"unknown op {op!r}"})

    def _op_attach(self, conn: _Conn, req: dict[str, Any], rest: bytes) -> None:
        if self.finalized:
            self._reply(conn, {"error": "container has exited"})
            return
        conn.stdin = bool(req.get("stdin")) and self.open_stdin
        conn.stdout = bool(req.get("stdout"))
        conn.stderr = bool(req.get("stderr"))
        self._reply(conn, {"ok": True}, mode="attach")
        if rest and conn.stdin and conn.fd in self.conns:
            self._feed_stdin(rest)

    def _op_start(self, conn: _Conn) -> None:
        if self.status != "created" or self.shutting_down:
            self._reply(conn, {"error": f"container is {self.status}: cannot start it"})
            return
        try:
            from berth.runtime import executor
        except ImportError as e:
            self._start_failed(conn, f"no executor: {e}")
            return
        # The container must not inherit our ignored SIGPIPE (ignored signals survive execve).
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        config = self.config
        if self.tty and self.console_size is not None:
            # a resize before the start: the console is made with that size
            h, w = self.console_size
            process = dict(config.get("process") or {}, consoleSize={"height": h, "width": w})
            config = dict(config, process=process)
        try:
            pid = executor.spawn(
                config,
                self.stdio,
                console_socket=self.child_fds[1] if self.tty else None,
            )
            if self.tty:
                self._take_console(pid)
        except executor.StartError as e:
            self._start_failed(conn, str(getattr(e, "message", "") or e))
            return
        except Exception as e:  # an executor bug must still end in a recorded exit
            self._start_failed(conn, f"unable to start container process: {e}")
            return
        finally:
            signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        self.pid = pid
        self.status = "running"
        self.started_at = format_time(time.time_ns())
        self._close_child_fds()
        try:
            self.pidfd = os.pidfd_open(pid)
            self._set_events(self.pidfd, _R)
        except OSError:
            # no pidfd (old kernel): SIGCHLD through a wakeup pipe
            self._use_sigchld()
        self._reply(conn, {"pid": pid})

    def _take_console(self, pid: int) -> None:
        """The master of the console the container made (spawn has returned: it was sent);
        from here on it is the container's output and, with OpenStdin, its input."""
        from berth.runtime import executor

        try:
            master = executor.receive_console(self.console_sock)
        except executor.StartError:
            os.kill(pid, signal.SIGKILL)  # a container nobody can talk to: do not leave it
            os.waitpid(pid, 0)
            try:
                executor.cleanup(self.config)
            except Exception as e:
                _log(f"cleanup: {e}")
            raise
        finally:
            os.close(self.console_sock)
            self.console_sock = -1
        os.set_blocking(master, False)  # (sized by the container before its process ran)
        self.master = master
        self.outputs[master] = "stdout"
        if self.open_stdin and not self.stdin_closing:
            self.stdin_fd = master
        self._update_master()
        if self.stdin_fd >= 0 and self.stdin_buf:
            self._flush_stdin()  # what attach clients typed before the start

    def _use_sigchld(self) -> None:
        r, w = os.pipe()
        os.set_blocking(r, False)
        os.set_blocking(w, False)
        signal.set_wakeup_fd(w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.pidfd = r
        self._set_events(r, _R)
        self._reap()  # it may have exited before the handler existed

    def _start_failed(self, conn: _Conn, message: str) -> None:
        _log(f"start failed: {message}")
        self._close_child_fds()
        self.status = "exited"
        self.exit = {
            "exit_code": exit_code_for_start_error(message),
            "oom_killed": False,
            "finished_at": format_time(time.time_ns()),
            "error": message,
        }
        self.reaped_at = time.monotonic()
        self._write_exit_file()
        self._reply(conn, {"error": message, "start_error": True})

    def _close_child_fds(self) -> None:
        for fd in self.child_fds:
            os.close(fd)
        self.child_fds = []

    def _op_signal(self, conn: _Conn, req: dict[str, Any]) -> None:
        sig = req.get("signal")
        if not isinstance(sig, int) or isinstance(sig, bool):
            self._reply(conn, {"error": "signal must be an integer"})
            return
        if self.status != "running" or self.exit is not None:
            self._reply(conn, {"error": f"container {self.id} is not running"})
            return
        pid = self.pid
        if req.get("exec") is not None:
            ex = self.execs.get(str(req["exec"]))
            if ex is None:
                self._reply(conn, {"error": f"no such exec: {req['exec']}"})
                return
            if ex.exit_code is not None:
                self._reply(conn, {"error": f"exec {ex.id} is not running"})
                return
            pid = ex.pid
        try:
            os.kill(pid, sig)
        except (OSError, ValueError) as e:
            self._reply(conn, {"error": f"cannot signal container: {e}"})
            return
        self._reply(conn, {"ok": True})

    def _op_resize(self, conn: _Conn, req: dict[str, Any]) -> None:
        h, w = req.get("height"), req.get("width")
        if (
            not isinstance(h, int)
            or not isinstance(w, int)
            or not (0 <= h < 65536 and 0 <= w < 65536)
        ):
            self._reply(conn, {"error": "height and width must be integers in [0, 65535]"})
            return
        master = self.master
        if req.get("exec") is not None:
            ex = self.execs.get(str(req["exec"]))
            if ex is None:
                self._reply(conn, {"error": f"no such exec: {req['exec']}"})
                return
            master = ex.master
        elif master < 0 and self.tty and self.status == "created":
            self.console_size = (h, w)  # the console is made at the start: sized then
            self._reply(conn, {"ok": True})
            return
        if master < 0:
            # like dockerd: resizing a container without a tty is not an error worth failing on
            self._reply(conn, {"ok": True})
            return
        import fcntl
        import struct
        import termios

        try:
            fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", h, w, 0, 0))
        except OSError as e:
            self._reply(conn, {"error": f"cannot resize tty: {e}"})
            return
        self._reply(conn, {"ok": True})

    # ---- exec --------------------------------------------------------------------------------

    def _op_exec(self, conn: _Conn, req: dict[str, Any], rest: bytes) -> None:
        eid = req.get("id")
        proc = req.get("process")
        if not isinstance(eid, str) or not eid or not isinstance(proc, dict):
            self._reply(conn, {"error": "exec needs an id and a process"})
            return
        if eid in self.execs:
            self._reply(conn, {"error": f"exec {eid} already exists"})
            return
        if self.status != "running" or self.exit is not None or self.shutting_down:
            self._reply(conn, {"error": f"container {self.id} is not running"})
            return
        # like runc exec --process: the container's process, with the exec's fields over it
        process = dict(self.config.get("process") or {})
        process.update(proc)
        tty = bool(process.get("terminal"))
        if not tty:
            process.pop("consoleSize", None)
        attach = not req.get("detach")
        ex = _Exec(eid, tty, bool(req.get("raw", tty)))
        child: list[int] = []
        try:
            stdio = self._exec_stdio(ex, process, attach, req, child)
        except OSError as e:
            self._exec_close_fds(ex)
            for fd in child:
                os.close(fd)
            self._reply(conn, {"error": f"cannot set up the exec's stdio: {e}"})
            return
        from berth.runtime import executor

        try:
            signal.signal(signal.SIGPIPE, signal.SIG_DFL)
            try:
                ex.pid = executor.exec_process(self.config, process, self.pid, stdio)
            finally:
                signal.signal(signal.SIGPIPE, signal.SIG_IGN)
                for fd in child:
                    os.close(fd)
            ex.pidfd = os.pidfd_open(ex.pid)
        except Exception as e:
            msg = str(getattr(e, "message", "") or e)
            if ex.pid and ex.pidfd < 0:  # running, but we could not watch it: do not leave it
                os.kill(ex.pid, signal.SIGKILL)
                os.waitpid(ex.pid, 0)
            self._exec_close_fds(ex)
            ex.exit_code = exit_code_for_start_error(msg)
            ex.done = True
            self.execs[eid] = ex
            _log(f"exec {eid} failed: {msg}")
            self._reply(conn, {"error": msg, "start_error": isinstance(e, executor.StartError)})
            return
        self.execs[eid] = ex
        self.exec_fds[ex.pidfd] = ex
        for fd in ex.outputs:
            self.exec_fds[fd] = ex
        if ex.stdin_fd >= 0:
            self.exec_fds[ex.stdin_fd] = ex
        if attach:
            conn.ex = ex
            conn.stdin = ex.stdin_fd >= 0
            ex.conn = conn
            self._reply(conn, {"pid": ex.pid}, mode="exec")
            if rest and conn.stdin and conn.fd in self.conns:
                self._exec_feed(ex, rest)
        else:
            self._reply(conn, {"pid": ex.pid})
        self._exec_update(ex)

    def _exec_stdio(
        self,
        ex: _Exec,
        process: dict[str, Any],
        attach: bool,
        req: dict[str, Any],
        child: list[int],
    ) -> tuple[int, int, int]:
        """Create the exec's stdio: shim ends go into `ex`, the process's ends into `child`."""
        if ex.tty:
            # a detached exec with a tty still gets one (as in dockerd); its output is discarded
            from berth.runtime import executor

            master, slave = executor.container_pty(self.pid)
            child.append(slave)
            user = process.get("user") or {}
            try:  # like runc: the exec's user owns its terminal
                os.fchown(slave, int(user.get("uid") or 0), int(user.get("gid") or 0))
            except OSError:
                pass
            size = process.get("consoleSize")
            if size:
                fcntl.ioctl(
                    master,
                    termios.TIOCSWINSZ,
                    struct.pack("HHHH", size.get("height", 0), size.get("width", 0), 0, 0),
                )
            os.set_blocking(master, False)
            ex.master = master
            ex.outputs[master] = "stdout"
            if attach and req.get("stdin"):
                ex.stdin_fd = master
            return slave, slave, slave
        fds: list[int] = []
        for name in ("stdin", "stdout", "stderr"):
            if not (attach and req.get(name)):
                flags = os.O_RDONLY if name == "stdin" else os.O_WRONLY
                fd = os.open("/dev/null", flags | os.O_CLOEXEC)
                child.append(fd)
                fds.append(fd)
                continue
            r, w = os.pipe()
            if name == "stdin":
                child.append(r)
                os.set_blocking(w, False)
                ex.stdin_fd = w
                fds.append(r)
            else:
                child.append(w)
                os.set_blocking(r, False)
                ex.outputs[r] = name
                fds.append(w)
        return fds[0], fds[1], fds[2]

    def _exec_close_fds(self, ex: _Exec) -> None:
        for fd in {*ex.outputs, ex.stdin_fd, ex.master, ex.pidfd} - {-1}:
            self._forget(fd)
            self.exec_fds.pop(fd, None)
            os.close(fd)
        ex.outputs.clear()
        ex.stdin_fd = ex.master = ex.pidfd = -1
        ex.stdin_buf.clear()

    def _op_exec_wait(self, conn: _Conn, req: dict[str, Any]) -> None:
        ex = self.execs.get(str(req.get("id")))
        if ex is None:
            self._reply(conn, {"error": f"no such exec: {req.get('id')}"})
        elif ex.exit_code is not None:
            self._reply(conn, {"exit_code": ex.exit_code})
        else:
            conn.mode = "exec_wait"
            conn.ex = ex
            ex.waiters.append(conn)
            self._update_conn(conn)

    def _exec_event(self, ex: _Exec, fd: int, ev: int) -> None:
        if fd == ex.pidfd:
            self._exec_reap(ex)
            return
        if ev & _W and fd == ex.stdin_fd:
            self._exec_flush_stdin(ex)
        if ev & _R and fd in ex.outputs:
            self._exec_read_output(ex, fd)
        if not ex.done:
            self._exec_update(ex)

    def _exec_update(self, ex: _Exec) -> None:
        """Selector interest for the exec's fds, from its buffers and its client's backlog."""
        paused = ex.conn is not None and len(ex.conn.out) > EXEC_OUTPUT_PAUSE
        for fd in ex.outputs:
            ev = 0 if paused else _R
            if fd == ex.stdin_fd and ex.stdin_buf:
                ev |= _W
            self._set_events(fd, ev)
        if ex.stdin_fd >= 0 and ex.stdin_fd not in ex.outputs:
            self._set_events(ex.stdin_fd, _W if ex.stdin_buf else 0)
        if ex.pidfd >= 0:
            self._set_events(ex.pidfd, _R)
        if ex.conn is not None and ex.conn.fd in self.conns:
            self._update_conn(ex.conn)

    def _exec_read_output(self, ex: _Exec, fd: int) -> None:
        try:
            data = os.read(fd, READ_SIZE)
        except BlockingIOError:
            return
        except OSError as e:
            if e.errno != errno.EIO:  # EIO: the pty has no slave left
                _log(f"reading exec output: {e}")
            data = b""
        if not data:
            self._exec_close_output(ex, fd)
            return
        conn = ex.conn
        if conn is not None:
            stream = ex.outputs[fd]
            self._send(conn, data if ex.raw else frame(1 if stream == "stdout" else 2, data))

    def _exec_close_output(self, ex: _Exec, fd: int) -> None:
        del ex.outputs[fd]
        if fd == ex.stdin_fd:  # the pty: nothing reads what would be typed any more
            ex.stdin_fd = -1
            ex.stdin_buf.clear()
        if fd == ex.master:
            ex.master = -1
        self._forget(fd)
        self.exec_fds.pop(fd, None)
        os.close(fd)
        if ex.exit_code is not None and not ex.outputs:
            self._exec_finish(ex)

    def _exec_feed(self, ex: _Exec, data: bytes) -> None:
        if ex.stdin_fd < 0 or ex.stdin_closing:
            return
        ex.stdin_buf += data
        self._exec_flush_stdin(ex)

    def _exec_flush_stdin(self, ex: _Exec) -> None:
        while ex.stdin_buf and ex.stdin_fd >= 0:
            try:
                n = os.write(ex.stdin_fd, ex.stdin_buf)
            except BlockingIOError:
                break
            except OSError:  # the process closed its stdin or is gone
                ex.stdin_buf.clear()
                ex.stdin_closing = True
                break
            del ex.stdin_buf[:n]
        if not ex.stdin_buf and ex.stdin_closing:
            self._exec_close_stdin(ex)
        self._exec_update(ex)

    def _exec_stdin_eof(self, ex: _Exec) -> None:
        ex.stdin_closing = True
        if not ex.stdin_buf:
            self._exec_close_stdin(ex)

    def _exec_close_stdin(self, ex: _Exec) -> None:
        fd = ex.stdin_fd
        if fd < 0:
            return
        ex.stdin_fd = -1
        ex.stdin_buf.clear()
        if fd == ex.master:
            # a pty has no half-close: EOT makes a canonical-mode reader see end of input
            try:
                os.write(fd, b"\x04")
            except OSError:
                pass
            self._exec_update(ex)
        else:
            self._forget(fd)
            self.exec_fds.pop(fd, None)
            os.close(fd)

    def _exec_reap(self, ex: _Exec, block: bool = False) -> None:
        try:
            wpid, status = os.waitpid(ex.pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            wpid, status = ex.pid, 255 << 8
        if wpid == 0:
            return
        self._forget(ex.pidfd)
        self.exec_fds.pop(ex.pidfd, None)
        os.close(ex.pidfd)
        ex.pidfd = -1
        ex.exit_code = exit_code_from_status(status)
        ex.reaped_at = time.monotonic()
        for w in ex.waiters:
            w.ex = None
            self._reply(w, {"exit_code": ex.exit_code})
        ex.waiters.clear()
        if ex.outputs:
            self.draining.add(ex)  # background children may hold its output open
        else:
            self._exec_finish(ex)

    def _exec_finish(self, ex: _Exec) -> None:
        """The exec has exited and its output is drained (or given up on): close its stdio and
        let its client take the rest."""
        self.draining.discard(ex)
        for fd in list(ex.outputs):
            # what is already buffered still goes to the client
            while fd in ex.outputs and ex.conn is not None:
                before = len(ex.conn.out)
                self._exec_read_output(ex, fd)
                if fd in ex.outputs and len(ex.conn.out) == before and ex.conn is not None:
                    break
        self._exec_close_fds(ex)
        ex.done = True
        conn, ex.conn = ex.conn, None
        if conn is not None and conn.fd in self.conns:
            conn.ex = None
            conn.mode = "reply"
            conn.reading = False
            if conn.out:
                self._update_conn(conn)
            else:
                self._drop(conn)

    def _end_execs(self) -> None:
        """The container has ended: execs still running (host pid namespace) are killed."""
        for ex in list(self.execs.values()):
            if ex.exit_code is None:
                try:
                    os.kill(ex.pid, signal.SIGKILL)
                except OSError:
                    pass
                self._exec_reap(ex, block=True)
            if not ex.done:
                self._exec_finish(ex)

    def _state(self) -> dict[str, Any]:
        st: dict[str, Any] = {"status": self.status, "pid": self.pid, "started_at": self.started_at}
        if self.exit is not None:
            st["status"] = "exited"
            st["exit"] = dict(self.exit)
        return st

    def _exit_reply(self) -> dict[str, Any]:
        assert self.exit is not None
        return {"exit": dict(self.exit)}

    # ---- exit --------------------------------------------------------------------------------

    def _reap(self) -> None:
        if self.exit is not None:
            return
        if self.pidfd >= 0 and self.pidfd not in self.events:
            return
        try:
            wpid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            wpid, status = self.pid, 255 << 8
        if self.pidfd >= 0 and signal.getsignal(signal.SIGCHLD) is not signal.SIG_DFL:
            try:  # the SIGCHLD wakeup pipe: empty it
                while os.read(self.pidfd, 512):
                    pass
            except OSError:
                pass
        if wpid == 0:
            return
        self._forget(self.pidfd)
        os.close(self.pidfd)
        self.pidfd = -1
        oom = False
        try:
            from berth.runtime import executor

            oom = bool(executor.oom_killed(self.config))
        except Exception as e:
            _log(f"oom_killed: {e}")
        self.exit = {
            "exit_code": exit_code_from_status(status),
            "oom_killed": oom,
            "finished_at": format_time(time.time_ns()),
            "error": "",
        }
        self.status = "exited"
        self.reaped_at = time.monotonic()
        self._write_exit_file()

    def _write_exit_file(self) -> None:
        assert self.exit is not None
        data = dict(self.exit, pid=self.pid, started_at=self.started_at)
        tmp = EXIT_FILE + ".tmp"
        try:
            with open(tmp, "wb") as f:
                f.write(encode_message(data))
            os.rename(tmp, EXIT_FILE)
        except OSError as e:  # the engine may already have removed the bundle
            _log(f"writing {EXIT_FILE}: {e}")

    def _close_all_io(self) -> None:
        for fd in list(self.outputs):
            self._close_output(fd)
        self.stdin_closing = True
        self._close_stdin()
        self._close_master()
        self._close_child_fds()
        if self.console_sock >= 0:
            os.close(self.console_sock)
            self.console_sock = -1
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        if self.listener is not None:
            self._forget(self.listener.fileno())
            self.listener.close()
            self.listener = None
            try:
                os.unlink(SOCKET_NAME)
            except OSError:
                pass

    def _finalize(self) -> None:
        """Output drained (or given up on): clean up, tell waiters, let attach clients finish."""
        self._end_execs()
        self._close_all_io()
        if self.status != "created":
            try:
                from berth.runtime import executor

                executor.cleanup(self.config)
            except Exception as e:
                _log(f"cleanup: {e}")
        self.finalized = True
        self.flush_deadline = time.monotonic() + FLUSH_TIMEOUT
        reply = self._exit_reply()
        for conn in list(self.conns.values()):
            if conn.mode == "wait":
                self._reply(conn, reply)
            elif conn.mode == "attach":
                conn.reading = False
                if not conn.out:
                    self._drop(conn)
                else:
                    self._update_conn(conn)
            elif conn.mode == "request":
                self._drop(conn)


def run(
    *,
    id: str,
    bundle: str,
    log_path: str | None,
    tty: bool,
    open_stdin: bool,
    stdin_once: bool,
    ready_fd: int,
) -> int:
    """Body of a shim process: set up, report readiness on `ready_fd`, serve. Returns the exit code.

    Readiness is one line on `ready_fd`: the shim's pid, or ``!`` and an error message."""
    shim = Shim(
        id=id,
        bundle=bundle,
        log_path=log_path,
        tty=tty,
        open_stdin=open_stdin,
        stdin_once=stdin_once,
    )
    try:
        shim.setup()
    except Exception as e:
        msg = f"shim setup failed: {e}"
        _log(msg)
        os.write(ready_fd, b"!" + msg.replace("\n", " ").encode() + b"\n")
        return 1
    os.write(ready_fd, f"{os.getpid()}\n".encode())
    os.close(ready_fd)
    try:
        shim.serve()
    except Exception as e:
        import traceback

        _log(f"shim crashed: {e}\n{traceback.format_exc()}")
        return 1
    return 0
