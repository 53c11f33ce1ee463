"""The shim driven only through its public face: `berth.runtime.shim.run` (what the zygote calls in
each shim it forks), the names the package exports, and the engine's client
(berth/runtime/shim_client.py). A real shim, the real executor and a busybox bundle (needs root)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import tempfile
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from berth.runtime import shim
from berth.runtime.shim_client import RuntimeStartError, ShimClient, ShimError, read_exit_file
from berth.runtime.spec import RuntimeSpec, write_bundle
from berth.stdcopy import HEADER_SIZE, parse_header
from tests.integration.runtime.conftest import cgroup_dirs
from tests.waiting import wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, cgroups)"),
]


@pytest.fixture
def rootfs(rootfs_dir: Path) -> str:
    return str(rootfs_dir)


def _fork_shim(bundle: str, cid: str, tty: bool, open_stdin: bool, stdin_once: bool) -> int:
    """A shim process for `bundle`, set up as the zygote sets its shims up; returns its pid
    once it is ready."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(r)
            os.setsid()
            log = os.open(os.path.join(bundle, shim.LOG_NAME), os.O_WRONLY | os.O_CREAT)
            os.dup2(log, 2)
            signal.pthread_sigmask(signal.SIG_SETMASK, set())
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            code = shim.run(
                id=cid,
                bundle=bundle,
                log_path=os.path.join(bundle, "json.log"),
                tty=tty,
                open_stdin=open_stdin,
                stdin_once=stdin_once,
                ready_fd=w,
            )
        finally:
            os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        assert f.readline().strip() == str(pid).encode(), "shim did not report ready"
    return pid


@dataclass
class Box:
    bundle: str
    client: ShimClient
    shim_pid: int
    cgroup: str


@dataclass
class Shims:
    rootfs: str
    parent: str
    made: list[Box] = field(default_factory=list)

    def make(
        self, args: list[str], *, tty: bool = False, open_stdin: bool = False, once: bool = False
    ) -> Box:
        cid = f"a{len(self.made) + 1}"
        bundle = tempfile.mkdtemp(prefix="bt-", dir="/tmp")
        cgroup = f"{self.parent}/{cid}"
        spec = RuntimeSpec(
            id=cid,
            rootfs=self.rootfs,
            args=args,
            env=["PATH=/bin", "HOME=/"],
            tty=tty,
            hostname=cid,
            cgroup_path=cgroup,
        )
        write_bundle(Path(bundle), spec)
        box = Box(bundle, ShimClient(bundle), 0, cgroup)
        self.made.append(box)
        box.shim_pid = _fork_shim(bundle, cid, tty, open_stdin, once)
        return box

    def cleanup(self) -> None:
        for box in self.made:
            if box.shim_pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(box.shim_pid, signal.SIGKILL)
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(box.shim_pid, 0)
            for d in cgroup_dirs(box.cgroup):
                with contextlib.suppress(OSError):
                    os.rmdir(d)
            shutil.rmtree(box.bundle, ignore_errors=True)
        for d in cgroup_dirs(self.parent):
            with contextlib.suppress(OSError):
                os.rmdir(d)


@pytest.fixture
def shims(rootfs: str) -> Iterator[Shims]:
    s = Shims(rootfs, f"/bt-shimapi-{os.getpid()}")
    try:
        yield s
    finally:
        s.cleanup()


def run(coro: Awaitable[Any], timeout: float = 30.0) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


async def read_all(reader: asyncio.StreamReader | None) -> bytes:
    assert reader is not None
    chunks = []
    while data := await reader.read(65536):
        chunks.append(data)
    return b"".join(chunks)


def streams(raw: bytes) -> dict[int, bytes]:
    """stdcopy frames -> {stream: bytes}, asserting the framing is exact."""
    out: dict[int, bytes] = {1: b"", 2: b""}
    i = 0
    while i < len(raw):
        stream, size = parse_header(raw[i : i + HEADER_SIZE])
        i += HEADER_SIZE
        assert stream in out and len(raw) >= i + size
        out[stream] += raw[i : i + size]
        i += size
    return out


def _reaped(pid: int) -> tuple[int, int] | None:
    got = os.waitpid(pid, os.WNOHANG)
    return got if got[0] else None


def shim_exited(box: Box) -> int:
    """Wait for the shim (our child) to exit; its exit code. Its socket is gone then."""
    reaped = wait_for(lambda: _reaped(box.shim_pid), "the shim to exit")
    assert reaped is not None
    box.shim_pid = 0
    assert not os.path.exists(os.path.join(box.bundle, shim.SOCKET_NAME))
    return os.waitstatus_to_exitcode(reaped[1])


# ---- the container -----------------------------------------------------------------------


def test_start_output_exit_code_and_exit_file(shims: Shims) -> None:
    box = shims.make(["sh", "-c", "echo out; echo err >&2; exit 3"])

    async def go() -> tuple[bytes, Any, dict[str, Any]]:
        reader, writer = await box.client.attach(False, True, True)
        pid = await box.client.start()
        assert pid > 0
        out = await read_all(reader)
        writer.close()
        return out, await box.client.wait(), await box.client.state()

    out, status, state = run(go())
    assert streams(out) == {1: b"out\n", 2: b"err\n"}
    assert status.exit_code == 3 and status.error == "" and not status.oom_killed
    assert state["status"] == "exited" and state["exit"]["exit_code"] == 3
    assert read_exit_file(box.bundle) == status
    assert shim_exited(box) == 0


def test_stdin_eof_ends_cat(shims: Shims) -> None:
    box = shims.make(["cat"], open_stdin=True, once=True)

    async def go() -> tuple[bytes, int]:
        reader, writer = await box.client.attach(True, True, False)
        await box.client.start()
        writer.write(b"hello\n" + b"y" * 100_000)
        await writer.drain()
        writer.write_eof()  # StdinOnce: the container's stdin ends with it
        out = await read_all(reader)
        writer.close()
        return out, (await box.client.wait()).exit_code

    out, code = run(go())
    assert streams(out)[1] == b"hello\n" + b"y" * 100_000
    assert code == 0


def test_tty_container_resized_before_start(shims: Shims) -> None:
    box = shims.make(["sh", "-c", "stty size"], tty=True)

    async def go() -> bytes:
        await box.client.resize(33, 111)
        reader, writer = await box.client.attach(False, True, True)
        await box.client.start()
        out = await read_all(reader)
        writer.close()
        await box.client.wait()
        return out

    assert run(go()) == b"33 111\r\n"  # raw (no frames), the tty's CRLF


def test_kill_gives_137_and_the_shim_ends(shims: Shims) -> None:
    box = shims.make(["sleep", "1000"])

    async def go() -> int:
        await box.client.start()
        assert (await box.client.state())["status"] == "running"
        await box.client.signal(signal.SIGKILL)
        return (await box.client.wait()).exit_code

    assert run(go()) == 137
    assert shim_exited(box) == 0


def test_failing_start_records_127(shims: Shims) -> None:
    box = shims.make(["nosuch-binary"])

    async def go() -> tuple[str, Any]:
        with pytest.raises(RuntimeStartError) as info:
            await box.client.start()
        return info.value.message, await box.client.wait()

    message, status = run(go())
    assert "executable file not found" in message
    assert status.exit_code == 127 == shim.exit_code_for_start_error(message)
    assert status.error == message
    assert read_exit_file(box.bundle) == status
    assert shim_exited(box) == 0


# ---- execs -------------------------------------------------------------------------------


def test_exec_pipes_stdin_eof_and_exit_code(shims: Shims) -> None:
    box = shims.make(["sleep", "1000"])

    async def go() -> tuple[bytes, int, int]:
        await box.client.start()
        _, reader, writer = await box.client.exec(
            "e1",
            {"args": ["sh", "-c", "cat; echo done >&2; exit 4"], "terminal": False},
            stdin=True,
            stdout=True,
            stderr=True,
            detach=False,
            raw=False,
        )
        assert writer is not None
        writer.write(b"abc\n")
        writer.write_eof()  # the exec's stdin ends: cat ends
        out = await read_all(reader)
        writer.close()
        code = await box.client.exec_wait("e1")
        await box.client.signal(signal.SIGKILL)
        return out, code, (await box.client.wait()).exit_code

    out, code, container = run(go())
    assert streams(out) == {1: b"abc\n", 2: b"done\n"}
    assert code == 4
    assert container == 137


def test_exec_tty_resize_and_raw_output(shims: Shims) -> None:
    box = shims.make(["sleep", "1000"])

    async def go() -> tuple[bytes, int]:
        await box.client.start()
        _, reader, writer = await box.client.exec(
            "t1",
            {
                "args": ["sh", "-c", "stty size; read x; stty size"],
                "terminal": True,
                "consoleSize": {"height": 20, "width": 70},
            },
            stdin=True,
            stdout=True,
            stderr=True,
            detach=False,
            raw=True,
        )
        assert reader is not None and writer is not None
        first = await reader.readuntil(b"20 70\r\n")
        await box.client.resize(44, 132, exec_id="t1")
        writer.write(b"go\n")
        rest = await read_all(reader)
        writer.close()
        code = await box.client.exec_wait("t1")
        await box.client.signal(signal.SIGKILL)
        await box.client.wait()
        return first + rest, code

    out, code = run(go())
    assert out.startswith(b"20 70\r\n")  # the size it was made with, raw bytes
    assert out.endswith(b"44 132\r\n")  # and the one it was resized to
    assert code == 0


def test_exec_kill_and_failing_exec(shims: Shims) -> None:
    box = shims.make(["sleep", "1000"])

    async def go() -> tuple[int, str, int]:
        await box.client.start()
        pid, reader, writer = await box.client.exec(
            "k1",
            {"args": ["sleep", "1000"], "terminal": False},
            stdin=False,
            stdout=False,
            stderr=False,
            detach=True,
            raw=False,
        )
        assert pid > 0 and reader is None and writer is None
        await box.client.signal(signal.SIGKILL, exec_id="k1")
        killed = await box.client.exec_wait("k1")
        with pytest.raises(RuntimeStartError) as info:
            await box.client.exec(
                "f1",
                {"args": ["nosuch-binary"], "terminal": False},
                stdin=False,
                stdout=True,
                stderr=True,
                detach=False,
                raw=False,
            )
        failed = await box.client.exec_wait("f1")
        with pytest.raises(ShimError, match="no such exec"):
            await box.client.exec_wait("nobody")
        await box.client.signal(signal.SIGKILL)
        await box.client.wait()
        return killed, info.value.message, failed

    killed, message, failed = run(go())
    assert killed == 137
    assert "executable file not found" in message
    assert failed == 127 == shim.exit_code_for_start_error(message)
