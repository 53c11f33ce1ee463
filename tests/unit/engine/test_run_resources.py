"""The run's record (run.json): written before anything is taken, read back whatever a
crash or a hostile hand left in it, and gone once the run is given back."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from berth.engine.containers import resources
from berth.engine.containers.model import Container, ContainerConfig, HostConfig
from berth.engine.containers.resources import RunRecord, RunResources
from berth.engine.ports import RuntimeSpec
from tests.unit.engine.fake_runtime import FakeRuntime


def _owner(tmp_path: Path) -> RunResources:
    for d in ("overlay", "containers", "run"):
        (tmp_path / d).mkdir()
    return RunResources(
        None, FakeRuntime(), tmp_path / "overlay", tmp_path / "containers", tmp_path / "run"
    )


def _container(cid: str = "a" * 64) -> Container:
    return Container(
        id=cid,
        name="x",
        created="2026-12-02T00:00:00Z",
        image_id="sha256:" + "b" * 64,
        path="true",
        args=[],
        config=ContainerConfig(),
        host_config=HostConfig(),
    )


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"{",
        b"[]",
        b'"running"',
        b'{"phase": "stopped", "holds": [], "cgroup": ""}',
        b'{"phase": "running", "holds": "rootfs", "cgroup": ""}',
        b'{"phase": "running", "holds": [1], "cgroup": ""}',
        b'{"phase": "running", "holds": [], "cgroup": 5}',
        b'{"phase": "running", "holds": []}',
    ],
)
def test_a_record_that_is_not_one_is_refused(raw: bytes) -> None:
    assert RunRecord.decode(raw) is None


def test_a_record_reads_back() -> None:
    rec = RunRecord.decode(b'{"phase": "starting", "holds": ["rootfs"], "cgroup": "/berth/x"}')
    assert rec == RunRecord("starting", ["rootfs"], "/berth/x")


def test_an_unreadable_record_means_everything_may_be_held(tmp_path: Path) -> None:
    run = _owner(tmp_path)
    cdir = tmp_path / "containers" / ("a" * 64)
    cdir.mkdir()
    (cdir / resources.RECORD).write_text("garbage")
    rec = run.record("a" * 64)
    assert rec is not None and rec.phase == "starting"
    assert set(rec.holds) >= {"network", "rootfs", "shm", "volumes", "bundle"}


def test_the_record_goes_with_the_release(tmp_path: Path) -> None:
    run = _owner(tmp_path)
    c = _container()
    (tmp_path / "containers" / c.id).mkdir()
    assert not run.holds_anything(c.id)
    run._write(c.id, run._plan(c, f"/berth-unit-test-absent/{c.id}"))
    assert run.holds_anything(c.id)
    assert run.record(c.id) == RunRecord(
        "starting", ["rootfs", "cgroup", "bundle"], f"/berth-unit-test-absent/{c.id}"
    )
    run.mark_running(c.id)
    assert (
        json.loads((tmp_path / "containers" / c.id / resources.RECORD).read_text())["phase"]
        == "running"
    )
    (tmp_path / "run" / c.id).mkdir()
    (tmp_path / "run" / c.id / "exit.json").write_text("{}")
    # the exit not yet saved: the bundle (with exit.json) and a record naming it stay
    asyncio.run(run.release(c, network=False, bundle=False))
    assert (tmp_path / "run" / c.id / "exit.json").exists()
    kept = run.record(c.id)
    assert kept is not None and kept.holds == ["bundle"]
    asyncio.run(run.release(c, network=False))
    assert not (tmp_path / "run" / c.id).exists()
    assert not run.holds_anything(c.id)
    asyncio.run(run.release(c, network=False))  # a second release finds nothing to do


def test_a_failed_acquire_gives_back_what_it_took(tmp_path: Path) -> None:
    class Images:
        def get(self, ref: str) -> Any:
            return object()

        def layer_dirs(self, image: Any) -> list[str]:
            raise OSError(28, "No space left on device")

    run = _owner(tmp_path)
    run.images = Images()
    c = _container()
    (tmp_path / "containers" / c.id).mkdir()
    with pytest.raises(OSError):
        asyncio.run(run.acquire(c, f"/berth-unit-test-absent/{c.id}", lambda rootfs: None))  # type: ignore[arg-type,return-value]
    assert not run.holds_anything(c.id)


def test_a_start_that_fails_after_the_shim_was_forked_ends_it(tmp_path: Path) -> None:
    # the shim is forked while the rest is set up: a spec that cannot be made must not
    # leave it behind, idle, with its bundle gone
    class Images:
        def get(self, ref: str) -> Any:
            return object()

        def layer_dirs(self, image: Any) -> list[str]:
            return ["/lower"]

    def no_spec(rootfs: str) -> Any:
        raise OSError(22, "a spec that cannot be made")

    run = _owner(tmp_path)
    run.images = Images()
    rt = run.runtime
    c = _container()
    (tmp_path / "containers" / c.id).mkdir()
    with pytest.raises(OSError, match="cannot be made"):
        asyncio.run(run.acquire(c, f"/berth-unit-test-absent/{c.id}", no_spec))
    assert ("spawn_shim", c.id) in rt.calls and ("shutdown", c.id) in rt.calls  # type: ignore[attr-defined]
    assert not run.holds_anything(c.id)


class _Layers:
    def get(self, ref: str) -> Any:
        return object()

    def layer_dirs(self, image: Any) -> list[str]:
        return ["/lower"]


class _Network:
    """The network service's start halves, scripted: PREPARE_ERROR fails the first."""

    def __init__(self, prepare_error: Exception | None = None) -> None:
        self.prepare_error = prepare_error

    def plan_links(self, c: Any) -> None:
        pass

    async def prepare(self, c: Any) -> str | None:
        await asyncio.sleep(0)  # the cgroup's thread runs meanwhile
        if self.prepare_error is not None:
            raise self.prepare_error
        return f"/run/netns/berth-{c.id[:12]}"

    async def detach(self, c: Any) -> None:
        pass


def _spec_for(c: Container) -> Any:
    return lambda rootfs: RuntimeSpec(
        id=c.id, rootfs=rootfs, args=["true"], env=[], cgroup_path=f"/berth/{c.id}"
    )


def _acquire(run: RunResources, c: Container) -> resources.Acquired:
    (run.containers_dir / c.id).mkdir(exist_ok=True)
    return asyncio.run(run.acquire(c, f"/berth/{c.id}", _spec_for(c)))


def test_the_cgroup_is_made_by_the_engine_and_the_shim_told(tmp_path: Path) -> None:
    run = _owner(tmp_path)
    run.images, run.network = _Layers(), _Network()
    c = _container()
    got = _acquire(run, c)
    rt = run.runtime
    assert isinstance(rt, FakeRuntime)
    assert got.cgroup_made and f"/berth/{c.id}" in rt.cgroups
    assert rt.calls.index(("make_cgroup", c.id)) < rt.calls.index(("write_bundle", c.id))
    assert got.gate is not None  # a network to plug: the process waits for it
    got.gate.close()


def test_a_cgroup_the_engine_cannot_make_is_left_to_the_shim(tmp_path: Path) -> None:
    # the shim then fails the start with the error worded as runc words it
    run = _owner(tmp_path)
    run.images = _Layers()
    rt = run.runtime
    assert isinstance(rt, FakeRuntime)
    rt.make_cgroup_error = OSError(34, "Numerical result out of range")
    got = _acquire(run, _container())
    assert not got.cgroup_made and got.gate is None  # no network: no gate


def test_a_start_that_fails_after_the_cgroup_was_made_removes_it(tmp_path: Path) -> None:
    run = _owner(tmp_path)
    run.images, run.network = _Layers(), _Network(prepare_error=OSError(28, "no room"))
    c = _container()
    with pytest.raises(OSError, match="no room"):
        _acquire(run, c)
    rt = run.runtime
    assert isinstance(rt, FakeRuntime)
    assert ("make_cgroup", c.id) in rt.calls and f"/berth/{c.id}" not in rt.cgroups
    assert not run.holds_anything(c.id)


def test_a_shareable_ipc_run_mounts_its_shm_and_gives_it_back(tmp_path: Path) -> None:
    run = _owner(tmp_path)
    c = _container()
    c.host_config.ipc_mode = "shareable"
    cdir = tmp_path / "containers" / c.id
    cdir.mkdir()
    run._prepare_shm(c)
    fake = run.runtime
    assert isinstance(fake, FakeRuntime)
    shm = str(cdir / "mounts" / "shm")
    assert ("mount_shm", shm, 64 * 1024 * 1024) in fake.calls
    run._write(c.id, run._plan(c, f"/berth/{c.id}"))
    asyncio.run(run.release(c, network=False))
    assert shm not in fake.mounted and ("remove_cgroup", f"/berth/{c.id}") in fake.calls
