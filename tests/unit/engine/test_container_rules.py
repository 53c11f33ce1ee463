"""The container lifecycle's rules on a real ContainerStore and the fake runtime: which verb
is allowed in which state and with which typed error it is refused, what an exit does
(restart policies, --rm), and what a restarted daemon decides about what it finds."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from berth.api.errors import status_for
from berth.engine.containers import restart
from berth.engine.errors import (
    Conflict,
    EngineError,
    InvalidParameter,
    NotFound,
    NotModified,
    SystemError_,
)
from tests.unit.engine.engine_env import Env, create, running, settle
from tests.unit.engine.fake_runtime import FakeRuntime

Scenario = Callable[[Env], Awaitable[None]]


def run(tmp_path: Path, scenario: Scenario, runtime: FakeRuntime | None = None) -> None:
    async def main() -> None:
        async with running(tmp_path, runtime) as env:
            await scenario(env)

    asyncio.run(main())


@pytest.fixture(autouse=True)
def quick_restarts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(restart, "INITIAL_DELAY", 0.001)


# ---- create / start ----------------------------------------------------------------------
def test_create_then_start_runs_the_process(tmp_path: Path) -> None:
    async def scenario(env: Env) -> None:
        c = create(env)
        assert c.state.status == "created" and c.state.pid == 0
        await env.svc.start("web")
        assert c.state.status == "running" and c.state.pid > 1000
        spec = env.runtime.specs[c.id]
        assert spec.args == ["sleep", "1000"]
        assert spec.cgroup_path == f"/berth/{c.id}"
        assert str(env.root / "data" / "overlay" / c.id / "merged") in env.runtime.mounted
        assert env.svc.store.get("web").state.status == "running"  # saved
        assert env.events.actions == ["create", "start"]
        with pytest.raises(NotModified, match="already started"):
            await env.svc.start("web")

    run(tmp_path, scenario)


def test_create_refuses_a_taken_name_and_an_unknown_image(tmp_path: Path) -> None:
    async def scenario(env: Env) -> None:
        create(env)
        with pytest.raises(Conflict, match='name "/web" is already in use'):
            create(env)
        with pytest.raises(NotFound):
            env.svc.create("other", {"Image": "nope"})
        with pytest.raises(InvalidParameter, match="config cannot be empty"):
            env.svc.create("empty", {})
        assert [c.name for c in env.svc.all()] == ["web"]

    run(tmp_path, scenario)


@pytest.mark.parametrize(
    ("message", "code", "kind"),
    [
        ('exec: "nope": executable file not found in $PATH', 127, InvalidParameter),
        ("open /x: no such file or directory", 127, InvalidParameter),
        ("exec /etc: permission denied", 126, InvalidParameter),
        ("the kernel said no", 128, SystemError_),
    ],
)
def test_a_start_the_runtime_refuses(
    tmp_path: Path, message: str, code: int, kind: type[EngineError]
) -> None:
    async def scenario(env: Env) -> None:
        c = create(env)
        env.runtime.start_errors[c.id] = message
        with pytest.raises(kind, match="OCI runtime create failed"):
            await env.svc.start("web")
        # dockerd keeps a container that never ran "created", with the error
        assert c.state.status == "created"
        assert c.state.exit_code == code and message in c.state.error
        assert str(env.root / "data" / "overlay" / c.id / "merged") not in env.runtime.mounted
        assert not (env.root / "run" / c.id).exists()

    run(tmp_path, scenario)


# ---- stop / kill -------------------------------------------------------------------------
def test_stop_signals_and_records_the_exit(tmp_path: Path) -> None:
    async def scenario(env: Env) -> None:
        c = create(env)
        await env.svc.start("web")
        await env.svc.stop("web", None, None)
        assert c.state.status == "exited" and c.state.exit_code == 128 + signal.SIGTERM
        assert c.manually_stopped
        assert env.events.actions[-3:] == ["kill", "die", "stop"]
        assert not env.runtime.mounted  # the run gave back its root filesystem
        with pytest.raises(NotModified, match="already stopped"):
            await env.svc.stop("web", None, None)

    run(tmp_path, scenario)


def test_stop_kills_after_the_timeout(tmp_path: Path) -> None:
    async def scenario(env: Env) -> None:
        c = create(env)
        await env.svc.start("web")
        env.runtime.ignored[c.id] = {signal.SIGTERM}
        await env.svc.stop("web", 0, None)
        assert c.state.exit_code == 137
        assert env.runtime.shim_of(c.id).signals == [signal.SIGTERM, signal.SIGKILL]

    run(tmp_path, scenario)


def test_kill_needs_a_running_container(tmp_path: Path) -> None:
    async def scenario(env: Env) -> None:
        c = create(env)
        with pytest.raises(Conflict, match="is not running"):
            await env.svc.kill("web", None)
        await env.svc.start("web")
        await env.svc.kill("web", "SIGKILL")
        assert c.state.status == "exited" and c.state.exit_code == 137
        with pytest.raises(InvalidParameter):
            await env.svc.kill("web", "SIGNOPE")

    run(tmp_path, scenario)


# ---- pause / unpause ---------------------------------------------------------------------
def test_pause_and_unpause(tmp_path: Path) -> None:
    async def scenario(env: Env) -> None:
        c = create(env)
        with pytest.raises(Conflict, match="is not running"):
            await env.svc.pause("web")
        await env.svc.start("web")
        with pytest.raises(Conflict, match="is not paused"):
            await env.svc.unpause("web")
        await env.svc.pause("web")
        assert c.state.status == "paused" and f"/berth/{c.id}" in env.runtime.frozen
        with pytest.raises(Conflict, match="already paused"):
            await env.svc.pause("web")
        await env.svc.unpause("web")
        assert c.state.status == "running" and not env.runtime.frozen
        assert env.events.actions[-2:] == ["pause", "unpause"]

    run(tmp_path, scenario)


def test_a_failed_freeze_is_undone(tmp_path: Path) -> None:
    async def scenario(env: Env) -> None:
        c = create(env)
        await env.svc.start("web")
        env.runtime.freeze_error = OSError(16, "Device or resource busy")
        with pytest.raises(SystemError_, match="Cannot pause container"):
            await env.svc.pause("web")
        assert c.state.status == "running"
        assert env.runtime.calls[-1] == ("thaw", f"/berth/{c.id}")

    run(tmp_path, scenario)


def test_stop_thaws_a_paused_container(tmp_path: Path) -> None:
    async def scenario(env: Env) -> None:
        c = create(env)
        await env.svc.start("web")
        await env.svc.pause("web")
        await env.svc.stop("web", 5, None)
        # the SIGTERM waited for the thaw, and ended the process then
        assert c.state.status == "exited" and c.state.exit_code == 128 + signal.SIGTERM

    run(tmp_path, scenario)


# ---- restart / update --------------------------------------------------------------------
def test_restart_runs_a_new_process(tmp_path: Path) -> None:
    async def scenario(env: Env) -> None:
        c = create(env)
        await env.svc.start("web")
        first = c.state.pid
        await env.svc.restart("web", 1)
        assert c.state.status == "running" and c.state.pid != first
        assert env.events.actions[-3:] == ["stop", "start", "restart"]
        await env.svc.stop("web", 1, None)
        await env.svc.restart("web", 1)  # a stopped one is started
        assert c.state.status == "running"

    run(tmp_path, scenario)


def test_update_changes_the_live_cgroup(tmp_path: Path) -> None:
    async def scenario(env: Env) -> None:
        c = create(env)
        await env.svc.update("web", {"Memory": 64 << 20})
        assert c.host_config.memory == 64 << 20 and not env.runtime.resources  # not running
        await env.svc.start("web")
        await env.svc.update("web", {"CpuShares": 512})
        assert env.runtime.resources[f"/berth/{c.id}"]["cpu"]["shares"] == 512
        assert env.svc.store.get("web").host_config.cpu_shares == 512

    run(tmp_path, scenario)


# ---- restart policies --------------------------------------------------------------------
def _started(env: Env, count: int) -> Callable[[], bool]:
    c = env.svc.get("web")
    return lambda: c.state.status == "running" and c.restart_count == count


@pytest.mark.parametrize(
    ("policy", "code", "restarts"),
    [
        ("no", 1, False),
        ("always", 0, True),
        ("always", 3, True),
        ("unless-stopped", 0, True),
        ("on-failure", 1, True),
        ("on-failure", 0, False),
    ],
)
def test_an_exit_under_a_policy(tmp_path: Path, policy: str, code: int, restarts: bool) -> None:
    async def scenario(env: Env) -> None:
        c = create(env, RestartPolicy={"Name": policy})
        await env.svc.start("web")
        first = c.state.pid
        env.runtime.exit(c.id, code)
        if restarts:
            await settle(_started(env, 1))
            assert c.state.pid != first
        else:
            await settle(lambda: c.state.status == "exited")
            await asyncio.sleep(0.02)
            assert c.state.status == "exited" and c.restart_count == 0
            assert c.state.exit_code == code

    run(tmp_path, scenario)


def test_on_failure_stops_after_its_maximum(tmp_path: Path) -> None:
    async def scenario(env: Env) -> None:
        c = create(env, RestartPolicy={"Name": "on-failure", "MaximumRetryCount": 1})
        await env.svc.start("web")
        env.runtime.exit(c.id, 2)
        await settle(_started(env, 1))
        env.runtime.exit(c.id, 2)
        await settle(lambda: c.state.status == "exited")
        await asyncio.sleep(0.02)
        assert c.state.status == "exited" and c.restart_count == 1

    run(tmp_path, scenario)


def test_a_stop_cancels_the_restart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(restart, "INITIAL_DELAY", 30.0)

    async def scenario(env: Env) -> None:
        c = create(env, RestartPolicy={"Name": "always"})
        await env.svc.start("web")
        env.runtime.exit(c.id, 1)
        await settle(lambda: c.state.status == "restarting")
        await env.svc.stop("web", 1, None)
        assert c.state.status == "exited" and c.manually_stopped
        assert not env.svc.restarts.pending(c.id)
        assert env.svc.store.get("web").state.status == "exited"

    run(tmp_path, scenario)


def test_a_user_stop_is_not_restarted(tmp_path: Path) -> None:
    async def scenario(env: Env) -> None:
        c = create(env, RestartPolicy={"Name": "always"})
        await env.svc.start("web")
        await env.svc.stop("web", 1, None)
        await asyncio.sleep(0.02)
        assert c.state.status == "exited" and c.restart_count == 0

    run(tmp_path, scenario)


def test_auto_remove_after_the_exit(tmp_path: Path) -> None:
    async def scenario(env: Env) -> None:
        c = create(env, AutoRemove=True)
        await env.svc.start("web")
        removed = await env.svc.wait("web", "removed")
        env.runtime.exit(c.id, 0)
        await asyncio.wait_for(removed, 2)
        assert env.svc.store.maybe(c.id) is None
        assert not (env.root / "data" / "containers" / c.id).exists()
        assert env.events.actions[-2:] == ["die", "destroy"]
        # the exit gave the run back (one unmount of its root); the removal finds nothing
        # left to release and does not go through it again
        merged = str(env.root / "data" / "overlay" / c.id / "merged")
        assert [x for x in env.runtime.calls if x == ("unmount", merged)] == [("unmount", merged)]

    run(tmp_path, scenario)


def test_a_removal_releases_what_a_run_left_on_record(tmp_path: Path) -> None:
    async def scenario(env: Env) -> None:
        c = create(env)
        await env.svc.start("web")
        await env.svc.stop("web", 1, None)
        # a record a crash left behind (the exit's release never ran to its end)
        env.svc.run._write(c.id, env.svc.run._plan(c, env.svc.cgroup_path(c)))
        before = len(env.runtime.calls)
        await env.svc.remove("web")
        merged = str(env.root / "data" / "overlay" / c.id / "merged")
        assert ("unmount", merged) in env.runtime.calls[before:]
        assert not env.svc.run.holds_anything(c.id)

    run(tmp_path, scenario)


# ---- remove ------------------------------------------------------------------------------
def test_remove_refuses_a_running_container_unless_forced(tmp_path: Path) -> None:
    async def scenario(env: Env) -> None:
        c = create(env)
        await env.svc.start("web")
        with pytest.raises(Conflict, match="container is running: stop the container"):
            await env.svc.remove("web")
        assert env.svc.store.maybe(c.id) is not None and c.state.status == "running"
        await env.svc.remove("web", force=True)
        assert env.svc.store.maybe(c.id) is None
        assert env.runtime.shim_of(c.id).signals == [signal.SIGKILL]
        assert not (env.root / "data" / "overlay" / c.id).exists()
        with pytest.raises(NotFound):
            await env.svc.remove("web")

    run(tmp_path, scenario)


def test_wait_conditions(tmp_path: Path) -> None:
    async def scenario(env: Env) -> None:
        c = create(env)
        assert (await env.svc.wait("web", "not-running")).done()  # not running: at once
        nxt = await env.svc.wait("web", "next-exit")
        await env.svc.start("web")
        env.runtime.exit(c.id, 7)
        assert (await asyncio.wait_for(nxt, 2)).exit_code == 7
        with pytest.raises(InvalidParameter, match="invalid condition"):
            await env.svc.wait("web", "sometime")

    run(tmp_path, scenario)


def test_rename(tmp_path: Path) -> None:
    async def scenario(env: Env) -> None:
        create(env)
        create(env, "db")
        with pytest.raises(InvalidParameter, match="same name"):
            await env.svc.rename("web", "web")
        with pytest.raises(Conflict):
            await env.svc.rename("web", "db")
        await env.svc.rename("web", "app")
        assert env.svc.get("app").name == "app"

    run(tmp_path, scenario)


# ---- a lost shim and a restarted daemon --------------------------------------------------
def test_a_lost_shim_means_the_container_is_killed(tmp_path: Path) -> None:
    async def scenario(env: Env) -> None:
        c = create(env)
        await env.svc.start("web")
        env.runtime.lose(c.id)
        await settle(lambda: c.state.status == "exited")
        assert c.state.exit_code == 137 and c.state.error == "shim exited unexpectedly"
        assert ("kill_cgroup", f"/berth/{c.id}") in env.runtime.calls

    run(tmp_path, scenario)


def test_reconcile_adopts_a_live_shim_and_ends_the_rest(tmp_path: Path) -> None:
    runtime = FakeRuntime()

    async def first(env: Env) -> None:
        for name in ("live", "gone", "ended"):
            create(env, name)
            await env.svc.start(name)

    async def second(env: Env) -> None:
        live, gone, ended = (env.svc.get(n) for n in ("live", "gone", "ended"))
        runtime.exit(ended.id, 3)  # while no daemon watched: its exit.json has it
        runtime.lose(gone.id)  # the shim and its exit file are gone
        runtime.lose(ended.id)
        await env.svc.reconcile()
        assert live.state.status == "running"
        assert gone.state.status == "exited" and gone.state.exit_code == 255
        assert gone.state.error == "container was running when the daemon stopped"
        assert ended.state.status == "exited" and ended.state.exit_code == 3
        await env.svc.stop("live", 1, None)  # adopted: the new daemon can stop it
        assert live.state.exit_code == 128 + signal.SIGTERM

    async def main() -> None:
        async with running(tmp_path, runtime) as env:
            await first(env)
        async with running(tmp_path, runtime) as env:
            await second(env)

    asyncio.run(main())


def test_reconcile_starts_what_the_policy_says(tmp_path: Path) -> None:
    runtime = FakeRuntime()

    async def main() -> None:
        async with running(tmp_path, runtime) as env:
            create(env, "always", RestartPolicy={"Name": "always"})
            create(env, "stopped", RestartPolicy={"Name": "unless-stopped"})
            create(env, "never-ran", RestartPolicy={"Name": "always"})
            for name in ("always", "stopped"):
                await env.svc.start(name)
                await env.svc.stop(name, 1, None)
        async with running(tmp_path, runtime) as env:
            await env.svc.reconcile()
            statuses = {c.name: c.state.status for c in env.svc.all()}
            assert statuses == {"always": "running", "stopped": "exited", "never-ran": "created"}

    asyncio.run(main())


# ---- the errors' HTTP classes ------------------------------------------------------------
async def _start_twice(env: Env) -> None:
    create(env)
    await env.svc.start("web")
    await env.svc.start("web")


async def _kill_stopped(env: Env) -> None:
    create(env)
    await env.svc.kill("web", None)


async def _remove_missing(env: Env) -> None:
    await env.svc.remove("nope")


async def _bad_name(env: Env) -> None:
    create(env, "not a name")


async def _runtime_fault(env: Env) -> None:
    c = create(env)
    env.runtime.start_errors[c.id] = "cgroup: no such controller"
    await env.svc.start("web")


@pytest.mark.parametrize(
    ("scenario", "status"),
    [
        (_start_twice, 304),
        (_kill_stopped, 409),
        (_remove_missing, 404),
        (_bad_name, 400),
        (_runtime_fault, 500),
    ],
)
def test_the_errors_http_classes(tmp_path: Path, scenario: Scenario, status: int) -> None:
    async def check(env: Env) -> None:
        with pytest.raises(EngineError) as info:
            await scenario(env)
        assert status_for(info.value) == status

    run(tmp_path, check)
