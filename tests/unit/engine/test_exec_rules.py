"""Exec rules that need no daemon: environment merging, detach keys, and the exec
instances' rules on the fake runtime (which state refuses an exec, the exit codes of an
exec that cannot start)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from berth.engine.containers.exec import ExecInstance, detach_key_bytes, replace_or_append_env
from berth.engine.errors import Conflict, EngineError, InvalidParameter, NotFound, SystemError_
from tests.unit.engine.engine_env import Env, create, running


def test_replace_or_append_env() -> None:
    defaults = ["PATH=/bin", "HOSTNAME=h", "TERM=xterm"]
    out = replace_or_append_env(defaults, ["A=1", "PATH=/usr/bin", "TERM", "B=x=y"])
    assert out == ["PATH=/usr/bin", "HOSTNAME=h", "A=1", "B=x=y"]
    assert defaults == ["PATH=/bin", "HOSTNAME=h", "TERM=xterm"]  # not modified
    assert replace_or_append_env([], ["UNSET"]) == []


def test_detach_keys() -> None:
    assert detach_key_bytes("ctrl-p,ctrl-q") == b"\x10\x11"
    assert detach_key_bytes("a,ctrl-@,ctrl-_,DEL") == b"a\x00\x1f\x7f"
    with pytest.raises(SystemError_, match=r"Invalid escape keys \(ctrl-1\) provided"):
        detach_key_bytes("ctrl-1")


# ---- exec instances on the fake runtime --------------------------------------------------
def _run(tmp_path: Path, scenario: Callable[[Env], Awaitable[None]]) -> None:
    async def main() -> None:
        async with running(tmp_path) as env:
            await scenario(env)

    asyncio.run(main())


def _exec(env: Env, cmd: list[str], **opts: Any) -> ExecInstance:
    return env.execs.create("web", {"Cmd": cmd, **opts})


def test_exec_needs_a_running_unpaused_container(tmp_path: Path) -> None:
    async def scenario(env: Env) -> None:
        c = create(env)
        with pytest.raises(Conflict, match=f"container {c.id} is not running"):
            _exec(env, ["true"])
        await env.svc.start("web")
        await env.svc.pause("web")
        with pytest.raises(Conflict, match="is paused, unpause the container before exec"):
            _exec(env, ["true"])
        await env.svc.unpause("web")
        ex = _exec(env, ["true"])
        await env.svc.stop("web", 1, None)
        # created in the run that ended: it can no longer start
        with pytest.raises(NotFound, match="No such exec instance"):
            await env.execs.start(ex.id, detach=True, raw=False)

    _run(tmp_path, scenario)


def test_exec_without_a_command(tmp_path: Path) -> None:
    async def scenario(env: Env) -> None:
        create(env)
        await env.svc.start("web")
        with pytest.raises(InvalidParameter, match="No exec command specified"):
            _exec(env, [])

    _run(tmp_path, scenario)


def test_an_exec_runs_once_and_keeps_its_exit_code(tmp_path: Path) -> None:
    async def scenario(env: Env) -> None:
        c = create(env)
        await env.svc.start("web")
        env.runtime.exec_codes["false"] = 3
        ex = _exec(env, ["false"], Env=["A=1"])
        assert env.execs.ids_for(c.id) == [ex.id]
        assert await env.execs.start(ex.id, detach=True, raw=False) is None
        await env.execs.wait_exit(ex.id, 2)
        assert ex.exit_code == 3 and not ex.running
        assert env.execs.ids_for(c.id) is None
        assert "A=1" in ex.env and f"HOSTNAME={c.config.hostname}" in ex.env
        assert env.events.actions[-3:] == ["exec_create: false ", "exec_start: false ", "exec_die"]
        with pytest.raises(Conflict, match="has already run"):
            await env.execs.start(ex.id, detach=True, raw=False)

    _run(tmp_path, scenario)


@pytest.mark.parametrize(
    ("message", "code", "kind"),
    [
        ('exec: "nope": executable file not found in $PATH', 127, InvalidParameter),
        ("chdir to cwd: not a directory", 127, InvalidParameter),
        ("exec /etc: permission denied", 126, InvalidParameter),
        ("the kernel said no", 126, SystemError_),
    ],
)
def test_an_exec_the_runtime_refuses(
    tmp_path: Path, message: str, code: int, kind: type[EngineError]
) -> None:
    async def scenario(env: Env) -> None:
        create(env)
        await env.svc.start("web")
        env.runtime.exec_errors["nope"] = message
        ex = _exec(env, ["nope"])
        with pytest.raises(kind, match="OCI runtime exec failed"):
            await env.execs.start(ex.id, detach=True, raw=False)
        assert ex.exit_code == code and not ex.running

    _run(tmp_path, scenario)


def test_a_privileged_exec_gets_every_capability(tmp_path: Path) -> None:
    async def scenario(env: Env) -> None:
        c = create(env)
        await env.svc.start("web")
        ex = _exec(env, ["id"], Privileged=True, Tty=True, ConsoleSize=[20, 80])
        await env.execs.start(ex.id, detach=True, raw=False)
        process = env.runtime.shim_of(c.id).execs[ex.id].process
        assert process["capabilities"]["bounding"] == env.runtime.all_capabilities()
        assert process["consoleSize"] == {"height": 20, "width": 80}
        assert "TERM=xterm" in process["env"] and "HOME=/" in process["env"]

    _run(tmp_path, scenario)


def test_an_exec_dies_with_its_container(tmp_path: Path) -> None:
    async def scenario(env: Env) -> None:
        create(env)
        await env.svc.start("web")
        env.runtime.exec_codes["sleep"] = None  # runs until something ends it
        ex = _exec(env, ["sleep", "100"])
        await env.execs.start(ex.id, detach=True, raw=False)
        assert ex.running
        await env.svc.kill("web", None)
        await env.execs.wait_exit(ex.id, 2)
        assert ex.exit_code == 137

    _run(tmp_path, scenario)
