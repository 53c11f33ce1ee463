"""The zygote: a small pre-imported process that forks container shims on request.

A `docker run` must not pay a Python interpreter start for its shim, and shims must survive the
daemon. berthd calls `Zygote.fork()` first thing in main(), before the event loop and before heavy
imports; the child imports only what a shim needs and then serves requests on a socketpair.

The zygote process itself (its loop, and the spare shim it keeps forked ahead so that a
request costs no fork) is zygote_process.py.

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
import signal
import socket
import sys
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from berth.runtime.zygote_process import ShimRequest, zygote_main

__all__ = ["ShimRequest", "Supervised", "Zygote", "ZygoteGone"]

if TYPE_CHECKING:  # asyncio is the daemon's; the zygote and its shims never import it
    import asyncio

log = logging.getLogger("berth.zygote")


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
                zygote_main(child, daemon_pid, memory_merge)
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
                [sys.executable, "-m", "berth.runtime.zygote_process", str(child.fileno()),
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
