"""The processes a shim runs: the container's init and its execs (containerd's process.Process).

Both are a child of the shim with a `ProcessIO`, watched through a pidfd, reaped, and given
`DRAIN_TIMEOUT` after their exit for background holders of their output to let go."""

from __future__ import annotations

import json
import os
import signal
import time
from typing import Any

from berth.runtime import startgate
from berth.runtime.logfile import JsonFileWriter, format_time
from berth.runtime.shim.clients import Conn, ConnServer
from berth.runtime.shim.poller import Handler, R, log
from berth.runtime.shim.protocol import (
    EXIT_FILE,
    encode_message,
    exit_code_for_start_error,
    exit_code_from_status,
    exit_record,
    start_failure,
)
from berth.runtime.shim.stdio import ProcessIO, set_winsize

# After a process exits, background processes (host pid namespace) may keep its pipes open.
DRAIN_TIMEOUT = 2.0


class Process:
    """A child of the shim: its pid, the pidfd it is watched through, its stdio."""

    __slots__ = ("host", "io", "pid", "pidfd", "reaped_at")

    def __init__(self, host: ConnServer, io: ProcessIO) -> None:
        self.host = host
        self.io = io
        self.pid = 0
        self.pidfd = -1
        self.reaped_at = 0.0  # monotonic time of the reaping; 0 while it runs

    def watch(self, on_exit: Handler) -> None:
        """Call `on_exit` when the process has exited. Raises OSError (no pidfd)."""
        self.pidfd = os.pidfd_open(self.pid)
        self.host.poller.set(self.pidfd, R, on_exit)

    def reap(self, block: bool = False) -> int | None:
        """The wait status if the process has exited (then the pidfd is closed), else None."""
        try:
            wpid, status = os.waitpid(self.pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            wpid, status = self.pid, 255 << 8
        self._after_waitpid()
        if wpid == 0:
            return None
        self.host.poller.forget(self.pidfd)
        os.close(self.pidfd)
        self.pidfd = -1
        self.reaped_at = time.monotonic()
        return status

    def _after_waitpid(self) -> None:
        pass

    def drain_deadline(self) -> float:
        """When its output is given up on (once reaped)."""
        return self.reaped_at + DRAIN_TIMEOUT


class InitProcess(Process):
    """The container's process: started by ``start``, its end recorded in exit.json."""

    __slots__ = (
        "id",
        "tty",
        "open_stdin",
        "config",
        "log_path",
        "status",
        "started_at",
        "exit",
        "stdio",
        "console_child",
    )

    def __init__(
        self,
        host: ConnServer,
        *,
        id: str,
        tty: bool,
        open_stdin: bool,
        stdin_once: bool,
    ) -> None:
        io = ProcessIO(
            host,
            tty=tty,
            raw=tty,
            backpressure=False,
            eof_closes_stdin=stdin_once and not tty,
            pty_stdin_outlives_output=True,
            label="output",
        )
        super().__init__(host, io)
        self.id = id
        self.tty = tty
        self.open_stdin = open_stdin
        self.config: dict[str, Any] = {}
        self.log_path: str | None = None
        self.status = "created"
        self.started_at = ""
        self.exit: dict[str, Any] | None = None
        self.stdio: tuple[int, int, int] = (-1, -1, -1)  # the container's 0, 1, 2
        self.console_child = -1  # tty: the container's end of the console socket

    def setup(self, log_path: str | None) -> None:
        """Make the container's stdio. config.json is read at start: the engine forks the
        shim while it still sets the container up, and writes the bundle meanwhile."""
        self.log_path = log_path
        if self.tty:
            self.stdio, self.console_child = self.io.open_console_socket(self.open_stdin)
        else:
            self.stdio = self.io.open_pipes(self.open_stdin, True, True)

    def load_config(self) -> None:
        """Read config.json (in the bundle, our cwd) and open the container's log."""
        with open("config.json", "rb") as f:
            self.config = json.load(f)
        if self.log_path:
            # the engine passes the log driver's rotation options as annotations
            ann = self.config.get("annotations") or {}
            self.io.writer = JsonFileWriter(
                self.log_path,
                max_size=int(ann.get("org.berth.log.max-size") or -1),
                max_file=int(ann.get("org.berth.log.max-file") or 1),
            )

    def start(self, on_exit: Handler, gate: bool = False, cgroup_made: bool = False) -> str | None:
        """Start the container (with GATE: it waits at the bundle's start gate before its
        execve; CGROUP_MADE: berthd made its cgroup). Returns None, or why it could not
        start (its exit recorded)."""
        try:
            from berth.runtime import executor
        except ImportError as e:
            return self.fail(f"no executor: {e}")
        try:
            self.load_config()
        except (OSError, ValueError) as e:
            return self.fail(f"cannot read the bundle's config.json: {e}")
        # The container must not inherit our ignored SIGPIPE (ignored signals survive execve).
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        config = self.config
        if self.tty and self.io.size is not None:
            # a resize before the start: the console is made with that size
            h, w = self.io.size
            process = dict(config.get("process") or {}, consoleSize={"height": h, "width": w})
            config = dict(config, process=process)
        gate_fd = -1
        try:
            if gate:
                gate_fd = startgate.take()
            pid = executor.spawn(
                config,
                self.stdio,
                console_socket=self.console_child if self.tty else None,
                gate=gate_fd,
                cgroup_made=cgroup_made,
            )
            if self.tty:
                self._take_console(executor, pid)
        except executor.StartError as e:
            return self.fail(str(getattr(e, "message", "") or e))
        except Exception as e:  # an executor bug must still end in a recorded exit
            return self.fail(f"unable to start container process: {e}")
        finally:
            signal.signal(signal.SIGPIPE, signal.SIG_IGN)
            if gate_fd >= 0:
                os.close(gate_fd)
        self.pid = pid
        self.status = "running"
        self.started_at = format_time(time.time_ns())
        self.io.close_child_fds()
        try:
            self.watch(on_exit)
        except OSError:
            self._watch_sigchld(on_exit)  # no pidfd (old kernel)
        return None

    def _take_console(self, executor: Any, pid: int) -> None:
        """The master of the console the container made (spawn has returned: it was sent);
        from here on it is the container's output and, with OpenStdin, its input."""
        try:
            master = executor.receive_console(self.io.console_sock)
        except executor.StartError:
            os.kill(pid, signal.SIGKILL)  # a container nobody can talk to: do not leave it
            os.waitpid(pid, 0)
            self.cleanup()
            raise
        finally:
            self.io.close_console_socket()
        self.io.use_pty(master, self.open_stdin)  # (sized by the container before it ran)

    def _watch_sigchld(self, on_exit: Handler) -> None:
        r, w = os.pipe()
        os.set_blocking(r, False)
        os.set_blocking(w, False)
        signal.set_wakeup_fd(w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.pidfd = r
        self.host.poller.set(r, R, on_exit)
        on_exit(r, R)  # it may have exited before the handler existed

    def _after_waitpid(self) -> None:
        if self.pidfd >= 0 and signal.getsignal(signal.SIGCHLD) is not signal.SIG_DFL:
            try:  # the SIGCHLD wakeup pipe: empty it
                while os.read(self.pidfd, 512):
                    pass
            except OSError:
                pass

    def fail(self, message: str) -> str:
        """The container could not start: record that as its end. Returns `message`."""
        log(f"start failed: {message}")
        self.io.close_child_fds()
        self.io.stdin_pending = False
        self.status = "exited"
        self.exit = start_failure(message)
        self.reaped_at = time.monotonic()
        self.write_exit_file()
        return message

    def reap_exit(self) -> bool:
        """Reap the container if it has exited and record how it ended; True if it has."""
        if self.exit is not None:
            return False
        if self.pidfd >= 0 and not self.host.poller.watching(self.pidfd):
            return False
        status = self.reap()
        if status is None:
            return False
        oom = False
        try:
            from berth.runtime import executor

            oom = bool(executor.oom_killed(self.config))
        except Exception as e:
            log(f"oom_killed: {e}")
        self.exit = exit_record(exit_code_from_status(status), oom_killed=oom)
        self.status = "exited"
        self.write_exit_file()
        return True

    def write_exit_file(self) -> None:
        assert self.exit is not None
        data = dict(self.exit, pid=self.pid, started_at=self.started_at)
        tmp = EXIT_FILE + ".tmp"
        try:
            with open(tmp, "wb") as f:
                f.write(encode_message(data))
            os.rename(tmp, EXIT_FILE)
        except OSError as e:  # the engine may already have removed the bundle
            log(f"writing {EXIT_FILE}: {e}")

    def cleanup(self) -> None:
        """Remove what the executor made for the container (its cgroup)."""
        try:
            from berth.runtime import executor

            executor.cleanup(self.config)
        except Exception as e:
            log(f"cleanup: {e}")

    def state(self) -> dict[str, Any]:
        st: dict[str, Any] = {"status": self.status, "pid": self.pid, "started_at": self.started_at}
        if self.exit is not None:
            st["status"] = "exited"
            st["exit"] = dict(self.exit)
        return st


class ExecProcess(Process):
    """A process started in the running container (``exec``), with at most one client."""

    __slots__ = ("id", "tty", "process", "exit_code", "waiters", "done")

    def __init__(self, host: ConnServer, id: str, process: dict[str, Any], raw: bool) -> None:
        tty = bool(process.get("terminal"))
        io = ProcessIO(
            host,
            tty=tty,
            raw=raw,
            backpressure=True,
            eof_closes_stdin=not tty,  # a tty's client ended or detached: left open
            pty_stdin_outlives_output=False,
            label="exec output",
        )
        super().__init__(host, io)
        self.id = id
        self.tty = tty
        self.process = process
        self.exit_code: int | None = None
        self.waiters: list[Conn] = []  # exec_wait connections
        self.done = False  # exited and its stdio closed

    def open_stdio(
        self, container_pid: int, stdin: bool, stdout: bool, stderr: bool
    ) -> tuple[int, int, int]:
        """The exec's stdio: a terminal of the container's (even detached, as in dockerd: its
        output is then discarded), or a pipe per stream asked for. Raises OSError."""
        if not self.tty:
            return self.io.open_pipes(stdin, stdout, stderr)
        from berth.runtime import executor

        master, slave = executor.container_pty(container_pid)
        self.io.child_fds.append(slave)
        user = self.process.get("user") or {}
        try:  # like runc: the exec's user owns its terminal
            os.fchown(slave, int(user.get("uid") or 0), int(user.get("gid") or 0))
        except OSError:
            pass
        size = self.process.get("consoleSize")
        try:
            if size:
                set_winsize(master, size.get("height", 0), size.get("width", 0))
        except OSError:
            os.close(master)
            self.io.close()
            raise
        self.io.use_pty(master, stdin)
        return slave, slave, slave

    def spawn(
        self,
        config: dict[str, Any],
        container_pid: int,
        stdio: tuple[int, int, int],
        on_exit: Handler,
    ) -> None:
        """Start the exec and watch it. Raises what the executor (or pidfd_open) raises."""
        from berth.runtime import executor

        # The process must not inherit our ignored SIGPIPE (ignored signals survive execve).
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        try:
            self.pid = executor.exec_process(config, self.process, container_pid, stdio)
        finally:
            signal.signal(signal.SIGPIPE, signal.SIG_IGN)
            self.io.close_child_fds()
        self.watch(on_exit)

    def fail(self, message: str) -> None:
        """It could not start (or be watched): nothing of it is left, its exit code recorded."""
        if self.pid and self.pidfd < 0:  # running, but we could not watch it: do not leave it
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        self.io.close()
        self.exit_code = exit_code_for_start_error(message)
        self.done = True
