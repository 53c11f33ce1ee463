"""The engine's asyncio client for a container's shim (protocol: berth/runtime/shim/protocol.py)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from berth.runtime.shim import EXIT_FILE, SOCKET_NAME, decode_message, encode_message

# sun_path holds 108 bytes; longer socket paths are reached through /proc/self/fd/N/.
_SUN_PATH_MAX = 100


class ShimError(RuntimeError):
    """The shim refused a request, or is unreachable."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RuntimeStartError(ShimError):
    """The container could not be started (executor's message, e.g. 'executable file not found')."""


class ShimGoneError(ShimError):
    """Nobody listens on the shim's socket: the shim has exited (or never ran)."""


@dataclass
class ExitStatus:
    exit_code: int
    oom_killed: bool
    finished_at: str  # RFC3339Nano UTC
    error: str = ""


def _exit_status(obj: dict[str, Any]) -> ExitStatus:
    return ExitStatus(
        exit_code=int(obj.get("exit_code", 255)),
        oom_killed=bool(obj.get("oom_killed", False)),
        finished_at=str(obj.get("finished_at", "")),
        error=str(obj.get("error", "")),
    )


def read_exit_file(bundle: str | Path) -> ExitStatus | None:
    """The exit status the shim recorded in bundle/exit.json, or None if there is none (yet)."""
    try:
        with open(os.path.join(bundle, EXIT_FILE), "rb") as f:
            return _exit_status(decode_message(f.read()))
    except (OSError, ValueError):
        return None


def _connect_blocking(path: str, bundle: str, timeout: float) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        if len(path) < _SUN_PATH_MAX:
            sock.connect(path)
        else:
            dfd = os.open(bundle, os.O_PATH | os.O_CLOEXEC)
            try:
                sock.connect(f"/proc/self/fd/{dfd}/{SOCKET_NAME}")
            finally:
                os.close(dfd)
    except BaseException:
        sock.close()
        raise
    return sock


class ShimClient:
    """Talks to the shim of the container whose bundle is `bundle`."""

    def __init__(self, bundle: str | Path) -> None:
        self.bundle = str(bundle)
        self.socket_path = os.path.join(self.bundle, SOCKET_NAME)

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            if len(self.socket_path) < _SUN_PATH_MAX:
                await loop.sock_connect(sock, self.socket_path)
            else:
                dfd = os.open(self.bundle, os.O_PATH | os.O_CLOEXEC)
                try:
                    await loop.sock_connect(sock, f"/proc/self/fd/{dfd}/{SOCKET_NAME}")
                finally:
                    os.close(dfd)
        except (FileNotFoundError, ConnectionRefusedError, NotADirectoryError) as e:
            sock.close()
            raise ShimGoneError(f"shim of {self.bundle} is not running") from e
        except BaseException:
            sock.close()
            raise
        return await asyncio.open_unix_connection(sock=sock, limit=1 << 20)

    async def _request(
        self, req: dict[str, Any]
    ) -> tuple[dict[str, Any], asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await self._open()
        try:
            writer.write(encode_message(req))
            line = await reader.readline()
            if not line.endswith(b"\n"):
                raise ShimGoneError(f"shim of {self.bundle} closed the connection")
            reply = decode_message(line)
        except ConnectionError as e:
            # connected while the shim was closing its listener: it is going away
            writer.close()
            raise ShimGoneError(f"shim of {self.bundle} closed the connection") from e
        except BaseException:
            writer.close()
            raise
        return reply, reader, writer

    async def _call(self, req: dict[str, Any]) -> dict[str, Any]:
        reply, _, writer = await self._request(req)
        writer.close()
        if "error" in reply:
            raise ShimError(str(reply["error"]))
        return reply

    async def start(self, gate: bool = False, cgroup_made: bool = False) -> int:
        """Start the container; returns its host pid. Raises RuntimeStartError if it cannot.
        GATE: the process waits at the bundle's start gate (startgate.py) before its execve,
        and this returns once it has exec'd. CGROUP_MADE: the caller made the cgroup of
        config.json, with its limits (the shim still removes it at the end)."""
        req: dict[str, Any] = {"op": "start"}
        if gate:
            req["gate"] = True
        if cgroup_made:
            req["cgroup_made"] = True
        reply, _, writer = await self._request(req)
        writer.close()
        if "error" in reply:
            cls = RuntimeStartError if reply.get("start_error") else ShimError
            raise cls(str(reply["error"]))
        return int(reply["pid"])

    async def attach(
        self, stdin: bool, stdout: bool, stderr: bool
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Attach to the container's stdio.

        The reader yields stdcopy frames (raw bytes with a tty) until the container has exited
        and its output is sent; the writer feeds its stdin; writer.write_eof() is the client's
        end of input (closes the container's stdin when StdinOnce)."""
        reply, reader, writer = await self._request(
            {"op": "attach", "stdin": stdin, "stdout": stdout, "stderr": stderr}
        )
        if "error" in reply:
            writer.close()
            raise ShimError(str(reply["error"]))
        return reader, writer

    async def signal(self, sig: int, exec_id: str | None = None) -> None:
        """Send signal `sig` to the container's init process (or to exec `exec_id`)."""
        req: dict[str, Any] = {"op": "signal", "signal": int(sig)}
        if exec_id is not None:
            req["exec"] = exec_id
        await self._call(req)

    async def resize(self, height: int, width: int, exec_id: str | None = None) -> None:
        """Set the container's (or exec `exec_id`'s) tty size (no-op without a tty)."""
        req: dict[str, Any] = {"op": "resize", "height": int(height), "width": int(width)}
        if exec_id is not None:
            req["exec"] = exec_id
        await self._call(req)

    async def exec(
        self,
        exec_id: str,
        process: dict[str, Any],
        *,
        stdin: bool,
        stdout: bool,
        stderr: bool,
        detach: bool,
        raw: bool,
    ) -> tuple[int, asyncio.StreamReader | None, asyncio.StreamWriter | None]:
        """Start an exec process (OCI `process` fields over the container's). Returns its host
        pid and, unless detached, its stream: the reader yields its output (stdcopy frames
        unless `raw`) until it has exited; the writer feeds its stdin, write_eof() closes it.
        Raises RuntimeStartError if the process could not be started."""
        reply, reader, writer = await self._request(
            {
                "op": "exec",
                "id": exec_id,
                "process": process,
                "stdin": stdin,
                "stdout": stdout,
                "stderr": stderr,
                "detach": detach,
                "raw": raw,
            }
        )
        if "error" in reply:
            writer.close()
            cls = RuntimeStartError if reply.get("start_error") else ShimError
            raise cls(str(reply["error"]))
        if detach:
            writer.close()
            return int(reply["pid"]), None, None
        return int(reply["pid"]), reader, writer

    async def exec_wait(self, exec_id: str) -> int:
        """The exit code of exec `exec_id`, once it has exited."""
        reply, _, writer = await self._request({"op": "exec_wait", "id": exec_id})
        writer.close()
        if "error" in reply:
            raise ShimError(str(reply["error"]))
        return int(reply["exit_code"])

    async def wait(self) -> ExitStatus:
        """Return once the container has exited (immediately if it already has)."""
        try:
            reply, _, writer = await self._request({"op": "wait"})
        except ShimGoneError:
            # the shim may have just exited between writing exit.json and our request
            status = read_exit_file(self.bundle)
            if status is None:
                raise
            return status
        writer.close()
        if "error" in reply:
            raise ShimError(str(reply["error"]))
        return _exit_status(reply["exit"])

    async def state(self) -> dict[str, Any]:
        """{"status": "created"|"running"|"exited", "pid": int, "started_at": str} plus, once
        exited, "exit": {"exit_code", "oom_killed", "finished_at", "error"}."""
        try:
            return await self._call({"op": "state"})
        except ShimGoneError:
            status = read_exit_file(self.bundle)
            if status is None:
                raise
            return {"status": "exited", "pid": 0, "started_at": "", "exit": dict(status.__dict__)}

    async def shutdown(self) -> None:
        """End a shim whose container was never started (container removed while created)."""
        await self._call({"op": "shutdown"})

    def alive(self, timeout: float = 1.0) -> bool:
        """Whether the shim answers on its control socket (blocking; for startup reconcile)."""
        try:
            sock = _connect_blocking(self.socket_path, self.bundle, timeout)
        except OSError:
            return False
        try:
            sock.sendall(encode_message({"op": "state"}))
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = sock.recv(4096)
                if not chunk:
                    return False
                buf += chunk
            json.loads(buf)
            return True
        except (OSError, ValueError):
            return False
        finally:
            sock.close()
