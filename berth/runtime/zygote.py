"""The zygote: a small pre-imported process that forks container shims on request.

A `docker run` must not pay a Python interpreter start for its shim, and shims must survive the
daemon. berthd calls `Zygote.fork()` first thing in main(), before the event loop and before heavy
imports; the child imports only what a shim needs and then serves requests on a socketpair.

The zygote keeps one shim forked ahead (a spare), which waits for its request on a pipe: a
request costs no fork, only the shim's own setup. Every page the zygote writes after a fork
would become private to that shim (copy-on-write), so it does little else. A spare is forked
through an intermediate child that calls setsid() and exits: the shim is reparented to the
zygote (a subreaper that ignores SIGCHLD, so the kernel reaps it) and, not being a session
leader, can never acquire a controlling terminal. Once handed its request the shim reports on
a readiness pipe that its control socket is listening, and the zygote replies to the daemon.

Wire format on the socketpair (SOCK_SEQPACKET: one JSON object per message)::

    daemon -> zygote   {"seq": 7, "id": ..., "bundle": ..., "log_path": ..., "tty": ...,
                        "open_stdin": ..., "stdin_once": ...}
    zygote -> daemon   {"seq": 7, "pid": 1234}  or  {"seq": 7, "error": "message"}

The zygote exits on EOF of the socketpair (daemon gone) and has PR_SET_PDEATHSIG(SIGKILL) too.

If the zygote dies while berthd runs (an OOM kill, an admin's kill), `Supervised` notices
through a pidfd, reaps it and starts another from a fresh interpreter (forking berthd itself,
threads and all, would be unsafe and would share its large heap with every shim); a request
that found the zygote gone is sent again to the new one.
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import socket
import sys
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # asyncio is the daemon's; the zygote and its shims never import it
    import asyncio

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


class ZygoteGone(RuntimeError):
    """The zygote could not be reached: the request was not delivered (safe to resend)."""


class Zygote:
    """Handle on the zygote process, held by the daemon."""

    # a lone zygote is never replaced; Supervised says when it is between a death and
    # a working replacement
    down = False

    def __init__(self, sock: socket.socket, pid: int, proc: Any = None) -> None:
        self._sock = sock
        self.pid = pid
        self._proc = proc  # the Popen of a zygote started by spawn(), kept for its lifetime
        self._seq = 0
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def fork(cls, memory_merge: bool = False) -> Zygote:
        """Fork the zygote. Call synchronously, before any event loop or thread exists.
        `memory_merge`: its shims' pages may be merged by KSM (memmerge.py)."""
        # SEQPACKET: replies come from different processes; each is one atomic message
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        daemon_pid = os.getpid()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                parent.close()
                _zygote_main(child, daemon_pid, memory_merge)
                code = 0
            finally:
                os._exit(code)
        child.close()
        parent.setblocking(False)
        return cls(parent, pid)

    @classmethod
    def spawn(cls, memory_merge: bool = False) -> Zygote:
        """Start a zygote in a fresh interpreter (a replacement, once the daemon runs: a
        fork of the daemon would carry its threads and heap). Call from the event loop's
        thread: PR_SET_PDEATHSIG follows the thread that made the child."""
        import subprocess

        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "berth.runtime.zygote", str(child.fileno()),
                 str(os.getpid()), "merge" if memory_merge else "private"],
                pass_fds=[child.fileno()],
                stdin=subprocess.DEVNULL,
            )  # fmt: skip
        finally:
            child.close()
        parent.setblocking(False)
        return cls(parent, proc.pid, proc)

    def _get_lock(self) -> asyncio.Lock:
        import asyncio

        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock = asyncio.Lock()
            self._lock_loop = loop
        return self._lock

    async def spawn_shim(self, req: ShimRequest) -> int:
        """Start a shim for `req`; returns its pid once its control socket listens.

        Raises RuntimeError(message) if the shim did not come up or the zygote is gone."""
        import asyncio

        loop = asyncio.get_running_loop()
        async with self._get_lock():
            self._seq += 1
            seq = self._seq
            msg = dict(asdict(req), seq=seq)
            try:
                await loop.sock_sendall(self._sock, json.dumps(msg).encode())
            except OSError as e:
                raise ZygoteGone(f"zygote is gone: {e}") from e
            try:
                while True:
                    reply = await self._read_reply(loop)
                    # a reply to a request whose caller was cancelled: not ours, skip it
                    if reply.get("seq") in (seq, None):
                        break
            except OSError as e:
                raise RuntimeError(f"zygote is gone: {e}") from e
        if "error" in reply:
            raise RuntimeError(str(reply["error"]))
        return int(reply["pid"])

    async def _read_reply(self, loop: asyncio.AbstractEventLoop) -> dict[str, Any]:
        data = await loop.sock_recv(self._sock, 65536)
        if not data:
            raise RuntimeError("zygote is gone: connection closed")
        reply = json.loads(data)
        if not isinstance(reply, dict):
            raise RuntimeError("zygote sent a malformed reply")
        return reply

    def close(self) -> None:
        """End the zygote (shims keep running) and reap it."""
        try:
            self._sock.close()
        except OSError:
            pass
        import time

        deadline = time.monotonic() + 2.0
        while True:
            try:
                pid, _ = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                return
            if pid and self._proc is not None:
                self._proc.returncode = 0  # reaped here: Popen must not wait for it again
            if pid:
                return
            if time.monotonic() > deadline:
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                os.waitpid(self.pid, 0)
                return
            time.sleep(0.005)


class Supervised:
    """The daemon's zygote, replaced when it dies. Same spawn_shim/close as a Zygote."""

    def __init__(self, first: Zygote, memory_merge: bool = False) -> None:
        self.current = first
        self.memory_merge = memory_merge  # what a replacement is started with
        self.down = False  # between a death and a working replacement (docker info warns)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pidfd = -1

    @property
    def pid(self) -> int:
        return self.current.pid

    def watch(self) -> None:
        """Start watching (from the running event loop)."""
        import asyncio

        self._loop = asyncio.get_running_loop()
        self._arm()

    def _arm(self) -> None:
        assert self._loop is not None
        try:
            self._pidfd = os.pidfd_open(self.current.pid)
        except ProcessLookupError:
            self._loop.call_soon(self._died)
            return
        self._loop.add_reader(self._pidfd, self._died)

    def _disarm(self) -> None:
        if self._pidfd >= 0:
            if self._loop is not None:
                self._loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = -1

    def _died(self) -> None:
        self._disarm()
        dead = self.current
        dead.close()  # reaps it
        log.warning("the shim zygote (pid %d) died: starting another", dead.pid)
        self.down = True
        self._replace()

    def _replace(self) -> None:
        assert self._loop is not None
        try:
            self.current = Zygote.spawn(self.memory_merge)
        except OSError as exc:
            log.error("cannot start a shim zygote: %s (trying again in 1 s)", exc)
            self._loop.call_later(1.0, self._replace)
            return
        self.down = False
        self._arm()

    async def spawn_shim(self, req: ShimRequest) -> int:
        try:
            return await self.current.spawn_shim(req)
        except ZygoteGone:
            if self._loop is None:
                raise
        # it died before the pidfd told us: replace it now and send the request again
        self._disarm()
        self.current.close()
        self._replace()
        return await self.current.spawn_shim(req)

    def close(self) -> None:
        self._disarm()
        self.current.close()


# ---- the zygote process ----------------------------------------------------------------------


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


def _zygote_main(sock: socket.socket, daemon_pid: int, memory_merge: bool = False) -> None:
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
                self.spare = _fork_spare(self.sock)
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
            spare = self.spare or _fork_spare(self.sock)
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
    _zygote_main(
        socket.socket(fileno=int(sys.argv[1])), int(sys.argv[2]), sys.argv[3:4] == ["merge"]
    )
