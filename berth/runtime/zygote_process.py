"""The zygote process (see zygote.py for what it is for): its loop, and the spare shims it
keeps forked ahead.

The zygote keeps one shim forked ahead (a spare), which waits for its request on a pipe: a
request costs no fork, only the shim's own setup. Every page the zygote writes after a fork
is copied away from the shims forked before (copy-on-write), so it does little else. A spare
is forked through an intermediate child that calls setsid() and exits: the shim is
reparented to the zygote (a subreaper that ignores SIGCHLD, so the kernel reaps it) and, not
being a session leader, can never acquire a controlling terminal. Once handed its request
the shim reports on a readiness pipe that its control socket is listening, and the zygote
replies to the daemon."""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import socket
import sys
import time
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("berth.zygote")

READY_TIMEOUT = 10.0
REFILL_DELAY = 0.02  # idle seconds before the next spare shim is forked
_MAXFD = max(os.sysconf("SC_OPEN_MAX"), 1 << 20)
_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36


@dataclass
class ShimRequest:
    id: str
    bundle: str  # bundle dir containing config.json; control socket = bundle/shim.sock
    log_path: str | None  # json-file log path; None for --log-driver none
    tty: bool
    open_stdin: bool
    stdin_once: bool


def _set_pdeathsig() -> None:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        # Shims double-fork away from us; as a subreaper that ignores SIGCHLD we get
        # them back when their intermediate parent exits, and the kernel reaps them
        # when they end. (PID 1 on some hosts never reaps; berthd's own children,
        # e.g. `ps` for docker top, stay berthd's business.)
        libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except Exception:
        pass  # EOF on the socketpair still ends us when the daemon dies


def _redirect(fd: int, path: str, flags: int) -> None:
    new = os.open(path, flags | os.O_CLOEXEC, 0o600)
    if new != fd:
        os.dup2(new, fd)
        os.close(new)


def zygote_main(sock: socket.socket, daemon_pid: int, memory_merge: bool = False) -> None:
    _set_pdeathsig()
    if os.getppid() != daemon_pid:
        return  # the daemon died before PDEATHSIG was set
    # A Ctrl-C in the daemon's terminal is the daemon's business; we follow it through EOF.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    _redirect(0, "/dev/null", os.O_RDONLY)
    fd = sock.fileno()
    os.closerange(3, fd)
    os.closerange(fd + 1, _MAXFD)
    sock.setblocking(True)

    from berth.runtime import shim

    shim.preload()
    shim.rehearse()
    import gc

    # Objects that exist now are shared copy-on-write with every shim; keeping the collector
    # off them keeps those pages shared (a collection writes to every tracked object's header).
    gc.collect()
    gc.freeze()
    if memory_merge:
        from berth.runtime import memmerge

        try:
            memmerge.mark_mergeable()  # inherited by every shim forked from here on
        except OSError as e:
            log.warning("shim pages cannot be merged: %s", e)
    _Loop(sock).run()


class _Spare:
    """A shim forked ahead of its request: it waits for the request on REQ_W's pipe and
    reports its readiness on READY_R's (see _spare_main)."""

    __slots__ = ("req_w", "ready_r")

    def __init__(self, req_w: int, ready_r: int) -> None:
        self.req_w = req_w
        self.ready_r = ready_r


class _Pending:
    """A request handed to a spare, until its shim reports (or times out)."""

    __slots__ = ("seq", "id", "deadline", "data")

    def __init__(self, seq: Any, id: str, deadline: float) -> None:
        self.seq = seq
        self.id = id
        self.deadline = deadline
        self.data = b""


class _Loop:
    """The zygote's loop: one spare shim kept forked ahead, so that a request costs no
    fork; the replies sent as the shims report ready.

    The two forks of a shim (~2.5 ms) are what a start waited for. The next spare is forked
    once the zygote has been idle for REFILL_DELAY, so that its forks do not compete for
    the CPU with the start that took the last one; a request that finds none forks one at
    once. Only the zygote holds the daemon's socket: a spare holds its two pipes."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.spare: _Spare | None = None
        self.pending: dict[int, _Pending] = {}
        self.refill_at = 0.0

    def run(self) -> None:
        fd = self.sock.fileno()
        while True:
            now = time.monotonic()
            if self.spare is None and now >= self.refill_at:
                try:
                    self.spare = _fork_spare(self.sock)
                except OSError as e:  # no memory or no pids left: try again in a while
                    log.warning("cannot fork a spare shim: %s", e)
                    self.refill_at = now + 1.0
            timeout = None if self.spare is not None else max(0.0, self.refill_at - now)
            for p in self.pending.values():
                left = max(0.0, p.deadline - now)
                timeout = left if timeout is None else min(timeout, left)
            try:
                readable, _, _ = select.select([fd, *self.pending], [], [], timeout)
            except InterruptedError:
                continue
            for r in readable:
                if r != fd:
                    self._on_ready(r)
            now = time.monotonic()
            for r in [r for r, p in self.pending.items() if now >= p.deadline]:
                p = self.pending.pop(r)
                os.close(r)
                msg = f"shim for {p.id} did not come up in {READY_TIMEOUT:.0f}s"
                self._reply({"seq": p.seq, "error": msg})
            if fd in readable and not self._on_request():
                return

    def _reply(self, reply: dict[str, Any]) -> None:
        self.sock.send(json.dumps(reply).encode())

    def _on_request(self) -> bool:
        """False once the daemon is gone."""
        try:
            data = self.sock.recv(65536)
        except InterruptedError:
            return True
        if not data:
            if self.spare is not None:
                os.close(self.spare.req_w)  # EOF: the spare ends
                os.close(self.spare.ready_r)
            return False
        try:
            seq, req = _parse(data)
        except (ValueError, KeyError, AttributeError, TypeError) as e:
            # no seq: the daemon takes a seq-less reply as the answer to its pending request
            self._reply({"error": f"malformed shim request: {e}"})
            return True
        for attempt in (1, 2):
            try:
                spare = self.spare or _fork_spare(self.sock)
            except OSError as e:
                self._reply({"seq": seq, "error": f"shim for {req.id} could not be forked: {e}"})
                return True
            self.spare = None
            try:
                _write_all(spare.req_w, data)
            except OSError:
                os.close(spare.ready_r)  # that spare died (an OOM kill, an admin): another
                if attempt == 2:
                    self._reply({"seq": seq, "error": f"shim for {req.id} could not be forked"})
                    return True
                continue
            finally:
                os.close(spare.req_w)
            self.pending[spare.ready_r] = _Pending(seq, req.id, time.monotonic() + READY_TIMEOUT)
            break
        self.refill_at = time.monotonic() + REFILL_DELAY
        return True

    def _on_ready(self, r: int) -> None:
        p = self.pending[r]
        try:
            chunk = os.read(r, 4096)
        except OSError:
            chunk = b""
        p.data += chunk
        if chunk and not p.data.endswith(b"\n"):
            return
        del self.pending[r]
        os.close(r)
        text = p.data.decode(errors="replace").strip()
        if text.startswith("!"):
            self._reply({"seq": p.seq, "error": text[1:]})
        elif not text.isdigit():
            msg = f"shim for {p.id} exited before it was ready (see shim.log)"
            self._reply({"seq": p.seq, "error": msg})
        else:
            self._reply({"seq": p.seq, "pid": int(text)})


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data) :]


def _parse(data: bytes) -> tuple[Any, ShimRequest]:
    msg = json.loads(data)
    return msg.get("seq"), ShimRequest(
        id=str(msg["id"]),
        bundle=str(msg["bundle"]),
        log_path=msg.get("log_path"),
        tty=bool(msg.get("tty")),
        open_stdin=bool(msg.get("open_stdin")),
        stdin_once=bool(msg.get("stdin_once")),
    )


def _fork_spare(sock: socket.socket) -> _Spare:
    """Fork the next spare shim through an intermediate child, which calls setsid() and
    exits once it has forked: the shim is reparented to us (a subreaper that ignores
    SIGCHLD) and, not being a session leader, can never acquire a controlling terminal."""
    req_r, req_w = os.pipe()
    ready_r, ready_w = os.pipe()
    if os.fork() == 0:
        code = 1
        try:
            os.close(req_w)
            os.close(ready_r)
            os.setsid()
            if os.fork() == 0:
                code = 1
                try:
                    code = _spare_main(sock, req_r, ready_w)
                finally:
                    os._exit(code)
            code = 0
        finally:
            os._exit(code)
    os.close(req_r)
    os.close(ready_w)
    return _Spare(req_w, ready_r)


def _spare_main(sock: socket.socket, req_r: int, ready_w: int) -> int:
    """A spare shim's life: wait for its request (EOF: the zygote is gone, or is ending),
    then become that request's shim, reporting on the readiness pipe."""
    import fcntl

    # Only our two pipes survive (readiness as 3, the request as 4): no zygote socket,
    # no other spare's pipe, nothing of the daemon.
    sock.detach()
    hi = [fcntl.fcntl(f, fcntl.F_DUPFD_CLOEXEC, 16) for f in (ready_w, req_r)]
    os.dup2(hi[0], 3, inheritable=False)
    os.dup2(hi[1], 4, inheritable=False)
    os.closerange(5, _MAXFD)
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    # SIGCHLD must be default again: we waitpid() the container, and ignored signals survive exec
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    chunks = []
    while True:
        try:
            b = os.read(4, 65536)
        except InterruptedError:
            continue
        if not b:
            break
        chunks.append(b)
    os.close(4)
    if not chunks:
        return 0
    _, req = _parse(b"".join(chunks))
    try:
        _redirect(1, "/dev/null", os.O_WRONLY)
        _redirect(2, os.path.join(req.bundle, "shim.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    except OSError as e:
        os.write(3, f"!cannot open {req.bundle}/shim.log: {e}\n".encode())
        return 1
    from berth.runtime import shim

    return shim.run(
        id=req.id,
        bundle=req.bundle,
        log_path=req.log_path,
        tty=req.tty,
        open_stdin=req.open_stdin,
        stdin_once=req.stdin_once,
        ready_fd=3,
    )


if __name__ == "__main__":  # a replacement zygote: Zygote.spawn()
    zygote_main(
        socket.socket(fileno=int(sys.argv[1])), int(sys.argv[2]), sys.argv[3:4] == ["merge"]
    )
