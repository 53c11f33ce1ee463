"""The shim's loop and its ops: one `Shim` per container, serving shim.sock until the end.

A shim is forked by the zygote (berth/runtime/zygote.py) for each container. It owns the pipes (or
the pty) of the container, writes the json-file log, serves attach clients and exits after the
container has exited and everything is flushed. It outlives the daemon: all the state a restarted
daemon needs is its control socket and, once the container has ended, ``exit.json``. The wire
protocol is berth/runtime/shim/protocol.py's."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Callable
from typing import Any

from berth.runtime.shim.clients import Conn, ConnServer
from berth.runtime.shim.poller import R, log
from berth.runtime.shim.process import ExecProcess, InitProcess
from berth.runtime.shim.protocol import (
    OPS,
    SOCKET_NAME,
    exit_code_from_status,
    start_error_reply,
)
from berth.runtime.shim.stdio import ProcessIO

# Time given to attach clients to take the rest of the output once the container has exited.
FLUSH_TIMEOUT = 5.0

Op = Callable[["Shim", Conn, dict[str, Any], bytes], None]


class Shim(ConnServer):
    """One container's shim. `setup` then `serve`; the process exits after `serve` returns."""

    __slots__ = (
        "id",
        "bundle",
        "log_path",
        "init",
        "execs",
        "draining",
        "finalized",
        "flush_deadline",
        "shutting_down",
    )

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
        super().__init__()
        self.id = id
        self.bundle = bundle
        self.log_path = log_path
        self.init = InitProcess(self, id=id, tty=tty, open_stdin=open_stdin, stdin_once=stdin_once)
        self.execs: dict[str, ExecProcess] = {}
        self.draining: set[ExecProcess] = set()  # exited, output not yet at EOF
        self.finalized = False
        self.flush_deadline = 0.0
        self.shutting_down = False

    def setup(self) -> None:
        """Create the container's stdio, listen on shim.sock (config.json is read at start)."""
        os.chdir(self.bundle)
        from berth.runtime.seccomp import compiler as seccomp_compiler

        # beside the bundles, in the exec root: shared by this daemon's shims
        seccomp_compiler.disk_cache_dir = os.path.join(
            os.path.dirname(os.path.abspath(self.bundle)), ".seccomp-cache"
        )
        self.init.setup(self.log_path)
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
        self.poller.set(lst.fileno(), R, self.accept)

    # ---- the loop ------------------------------------------------------------------------

    def serve(self) -> None:
        """Run until the container has exited and every client got its data (or timed out)."""
        init = self.init
        while True:
            if self.finalized and (not self.conns or time.monotonic() >= self.flush_deadline):
                break
            if self.shutting_down and not self.conns:
                break
            now = time.monotonic()
            timeout: float | None = None
            if init.reaped_at and not self.finalized:
                timeout = max(0.0, init.drain_deadline() - now)
            elif self.finalized:
                timeout = max(0.0, self.flush_deadline - now)
            if self.draining:
                t = max(0.0, min(e.drain_deadline() for e in self.draining) - now)
                timeout = t if timeout is None else min(timeout, t)
            self.poller.poll(timeout)
            if self.draining:
                now = time.monotonic()
                for ex in [e for e in self.draining if now >= e.drain_deadline()]:
                    self._exec_finish(ex)
            if init.exit is not None and not self.finalized:
                if not init.io.outputs or time.monotonic() >= init.drain_deadline():
                    self.finalize()
        for conn in list(self.conns.values()):
            self.drop(conn)

    # ---- what a connection is for (ConnServer's hooks) -----------------------------------

    def _io_of(self, conn: Conn) -> ProcessIO | None:
        """The stdio whose stream `conn` is, if it is one."""
        if conn.mode == "attach":
            return self.init.io
        if conn.mode == "exec":
            ex = self.execs.get(conn.exec_id)
            return ex.io if ex is not None else None
        return None

    def _on_request(self, conn: Conn, req: dict[str, Any], rest: bytes) -> None:
        op = req.get("op")
        handler = _OPS.get(op) if isinstance(op, str) else None
        if handler is None:
            self.reply(conn, {"error": f"unknown op {op!r}"})
            return
        handler(self, conn, req, rest)

    def _on_stdin(self, conn: Conn, data: bytes) -> None:
        io = self._io_of(conn)
        if io is not None:
            io.feed(data)

    def _on_stdin_eof(self, conn: Conn) -> None:
        io = self._io_of(conn)
        if io is not None:
            io.client_eof()

    def _on_drop(self, conn: Conn) -> None:
        io = self._io_of(conn)
        if io is not None:
            io.detach(conn)
        elif conn.mode == "exec_wait":
            ex = self.execs.get(conn.exec_id)
            if ex is not None and conn in ex.waiters:
                ex.waiters.remove(conn)

    def _on_flushed(self, conn: Conn) -> None:
        io = self._io_of(conn)
        if io is not None and io.backpressure:
            io.update()  # resumes reading its output once the client caught up

    def _stdin_full(self, conn: Conn) -> bool:
        io = self._io_of(conn)
        return io is not None and io.stdin_full()

    def _close_when_flushed(self, conn: Conn) -> bool:
        return conn.mode == "reply" or (self.finalized and conn.mode == "attach")

    # ---- ops on the container ------------------------------------------------------------

    def _op_attach(self, conn: Conn, req: dict[str, Any], rest: bytes) -> None:
        if self.finalized:
            self.reply(conn, {"error": "container has exited"})
            return
        conn.stdin = bool(req.get("stdin")) and self.init.open_stdin
        conn.stdout = bool(req.get("stdout"))
        conn.stderr = bool(req.get("stderr"))
        self.init.io.attach(conn)
        self.reply(conn, {"ok": True}, mode="attach")
        if rest and conn.stdin and conn.fd in self.conns:
            self.init.io.feed(rest)

    def _op_start(self, conn: Conn, req: dict[str, Any], rest: bytes) -> None:
        init = self.init
        if init.status != "created" or self.shutting_down:
            self.reply(conn, {"error": f"container is {init.status}: cannot start it"})
            return
        failure = init.start(
            self._init_exited,
            gate=req.get("gate") is True,
            cgroup_made=req.get("cgroup_made") is True,
        )
        if failure is not None:
            self.reply(conn, start_error_reply(failure))
        else:
            self.reply(conn, {"pid": init.pid})

    def _init_exited(self, fd: int, ev: int) -> None:
        self.init.reap_exit()  # the loop finalizes once the output is drained

    def _op_wait(self, conn: Conn, req: dict[str, Any], rest: bytes) -> None:
        if self.finalized:
            self.reply(conn, self._exit_reply())
        else:
            conn.mode = "wait"
            self.update_conn(conn)

    def _op_state(self, conn: Conn, req: dict[str, Any], rest: bytes) -> None:
        self.reply(conn, self.init.state())

    def _op_signal(self, conn: Conn, req: dict[str, Any], rest: bytes) -> None:
        sig = req.get("signal")
        if not isinstance(sig, int) or isinstance(sig, bool):
            self.reply(conn, {"error": "signal must be an integer"})
            return
        if self.init.status != "running" or self.init.exit is not None:
            self.reply(conn, {"error": f"container {self.id} is not running"})
            return
        pid = self.init.pid
        if req.get("exec") is not None:
            ex = self.execs.get(str(req["exec"]))
            if ex is None:
                self.reply(conn, {"error": f"no such exec: {req['exec']}"})
                return
            if ex.exit_code is not None:
                self.reply(conn, {"error": f"exec {ex.id} is not running"})
                return
            pid = ex.pid
        try:
            os.kill(pid, sig)
        except (OSError, ValueError) as e:
            self.reply(conn, {"error": f"cannot signal container: {e}"})
            return
        self.reply(conn, {"ok": True})

    def _op_resize(self, conn: Conn, req: dict[str, Any], rest: bytes) -> None:
        h, w = req.get("height"), req.get("width")
        if (
            not isinstance(h, int)
            or not isinstance(w, int)
            or not (0 <= h < 65536 and 0 <= w < 65536)
        ):
            self.reply(conn, {"error": "height and width must be integers in [0, 65535]"})
            return
        io = self.init.io
        if req.get("exec") is not None:
            ex = self.execs.get(str(req["exec"]))
            if ex is None:
                self.reply(conn, {"error": f"no such exec: {req['exec']}"})
                return
            io = ex.io
        try:
            # without a tty, as in dockerd, not an error worth failing on
            io.resize(h, w)
        except OSError as e:
            self.reply(conn, {"error": f"cannot resize tty: {e}"})
            return
        self.reply(conn, {"ok": True})

    def _op_shutdown(self, conn: Conn, req: dict[str, Any], rest: bytes) -> None:
        if self.init.status != "created":
            self.reply(conn, {"error": "container was started: cannot shut the shim down"})
            return
        self.shutting_down = True
        self.reply(conn, {"ok": True})
        self._close_all_io()
        for other in list(self.conns.values()):
            if other is not conn:
                self.drop(other)

    # ---- ops on execs --------------------------------------------------------------------

    def _op_exec(self, conn: Conn, req: dict[str, Any], rest: bytes) -> None:
        eid, proc = req.get("id"), req.get("process")
        if not isinstance(eid, str) or not eid or not isinstance(proc, dict):
            self.reply(conn, {"error": "exec needs an id and a process"})
            return
        if eid in self.execs:
            self.reply(conn, {"error": f"exec {eid} already exists"})
            return
        if self.init.status != "running" or self.init.exit is not None or self.shutting_down:
            self.reply(conn, {"error": f"container {self.id} is not running"})
            return
        # like runc exec --process: the container's process, with the exec's fields over it
        process = dict(self.init.config.get("process") or {})
        process.update(proc)
        tty = bool(process.get("terminal"))
        if not tty:
            process.pop("consoleSize", None)
        attach = not req.get("detach")
        ex = ExecProcess(self, eid, process, bool(req.get("raw", tty)))
        wanted = [attach and bool(req.get(name)) for name in ("stdin", "stdout", "stderr")]
        try:
            stdio = ex.open_stdio(self.init.pid, *wanted)
        except OSError as e:
            self.reply(conn, {"error": f"cannot set up the exec's stdio: {e}"})
            return
        if self._spawn_exec(conn, ex, stdio):
            self._exec_started(conn, ex, attach, rest)

    def _spawn_exec(self, conn: Conn, ex: ExecProcess, stdio: tuple[int, int, int]) -> bool:
        from berth.runtime import executor

        try:
            ex.spawn(self.init.config, self.init.pid, stdio, lambda fd, ev: self._exec_reap(ex))
        except Exception as e:
            msg = str(getattr(e, "message", "") or e)
            ex.fail(msg)
            self.execs[ex.id] = ex
            log(f"exec {ex.id} failed: {msg}")
            self.reply(conn, start_error_reply(msg, isinstance(e, executor.StartError)))
            return False
        return True

    def _exec_started(self, conn: Conn, ex: ExecProcess, attach: bool, rest: bytes) -> None:
        self.execs[ex.id] = ex
        ex.io.on_drained = lambda: self._exec_drained(ex)
        if attach:
            conn.exec_id = ex.id
            conn.stdin = ex.io.stdin_fd >= 0
            conn.stdout = conn.stderr = True  # it has the streams it asked for
            ex.io.attach(conn)
            self.reply(conn, {"pid": ex.pid}, mode="exec")
            if rest and conn.stdin and conn.fd in self.conns:
                ex.io.feed(rest)
        else:
            self.reply(conn, {"pid": ex.pid})
        ex.io.update()

    def _op_exec_wait(self, conn: Conn, req: dict[str, Any], rest: bytes) -> None:
        ex = self.execs.get(str(req.get("id")))
        if ex is None:
            self.reply(conn, {"error": f"no such exec: {req.get('id')}"})
        elif ex.exit_code is not None:
            self.reply(conn, {"exit_code": ex.exit_code})
        else:
            conn.mode = "exec_wait"
            conn.exec_id = ex.id
            ex.waiters.append(conn)
            self.update_conn(conn)

    def _exec_reap(self, ex: ExecProcess, block: bool = False) -> None:
        status = ex.reap(block)
        if status is None:
            return
        ex.exit_code = exit_code_from_status(status)
        waiters, ex.waiters = ex.waiters, []
        for w in waiters:
            w.exec_id = ""
            self.reply(w, {"exit_code": ex.exit_code})
        if ex.io.outputs:
            self.draining.add(ex)  # background children may hold its output open
        else:
            self._exec_finish(ex)

    def _exec_drained(self, ex: ExecProcess) -> None:
        if ex.exit_code is not None:
            self._exec_finish(ex)

    def _exec_finish(self, ex: ExecProcess) -> None:
        """The exec has exited and its output is drained (or given up on): close its stdio and
        let its client take the rest."""
        self.draining.discard(ex)
        ex.io.on_drained = None
        ex.io.read_buffered()
        conn = ex.io.clients[0] if ex.io.clients else None
        ex.io.close()
        ex.done = True
        if conn is not None and conn.fd in self.conns:
            conn.exec_id = ""
            conn.mode = "reply"
            conn.reading = False
            if conn.out:
                self.update_conn(conn)
            else:
                self.drop(conn)

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

    # ---- the end -------------------------------------------------------------------------

    def _exit_reply(self) -> dict[str, Any]:
        assert self.init.exit is not None
        return {"exit": dict(self.init.exit)}

    def _close_all_io(self) -> None:
        self.init.io.close()
        if self.listener is not None:
            self.poller.forget(self.listener.fileno())
            self.listener.close()
            self.listener = None
            try:
                os.unlink(SOCKET_NAME)
            except OSError:
                pass

    def finalize(self) -> None:
        """Output drained (or given up on): clean up, tell waiters, let attach clients finish."""
        self._end_execs()
        self._close_all_io()
        if self.init.status != "created":
            self.init.cleanup()
        self.finalized = True
        self.flush_deadline = time.monotonic() + FLUSH_TIMEOUT
        reply = self._exit_reply()
        for conn in list(self.conns.values()):
            if conn.mode == "wait":
                self.reply(conn, reply)
            elif conn.mode == "attach":
                conn.reading = False
                if not conn.out:
                    self.drop(conn)
                else:
                    self.update_conn(conn)
            elif conn.mode == "request":
                self.drop(conn)


# op -> handler; a table built once (in the zygote), not per shim
_OPS: dict[str, Op] = {op: getattr(Shim, f"_op_{op}") for op in OPS}


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
        log(msg)
        os.write(ready_fd, b"!" + msg.replace("\n", " ").encode() + b"\n")
        return 1
    os.write(ready_fd, f"{os.getpid()}\n".encode())
    os.close(ready_fd)
    try:
        shim.serve()
    except Exception as e:
        import traceback

        log(f"shim crashed: {e}\n{traceback.format_exc()}")
        return 1
    return 0
