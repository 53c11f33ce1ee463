"""A container service on a temporary SQLite database and the fake runtime: the engine's
rules without a daemon, a zygote or root. The image service is a small fake (one image,
no layers); there is no network and no volume service (no test here names a volume)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from berth.engine.containers.exec import ExecService
from berth.engine.containers.model import Container
from berth.engine.containers.service import ContainerService
from berth.engine.containers.store import ContainerStore
from berth.engine.db import Database
from berth.engine.errors import NotFound
from berth.engine.events import Event, EventBus
from berth.engine.images.model import ImageConfig
from tests.unit.engine.fake_runtime import FakeRuntime

IMAGE_ID = "sha256:" + "1" * 64


@dataclass
class FakeImage:
    id: str = IMAGE_ID
    config: ImageConfig = field(default_factory=lambda: ImageConfig(cmd=["sleep", "1000"]))


class FakeImages:
    """The one image "busybox"."""

    def get(self, ref: str) -> FakeImage:
        if ref not in ("busybox", IMAGE_ID):
            raise NotFound(f"No such image: {ref}")
        return FakeImage()

    def layer_dirs(self, image: Any) -> list[str]:
        return []


class RecordingEvents(EventBus):
    """The event bus, keeping the container actions in order."""

    def __init__(self) -> None:
        super().__init__()
        self.actions: list[str] = []

    def container(self, c: Any, action: str, extra: Mapping[str, str] | None = None) -> Event:
        self.actions.append(action)
        return super().container(c, action, extra)


@dataclass
class Env:
    root: Path
    runtime: FakeRuntime
    db: Database
    svc: ContainerService
    execs: ExecService
    events: RecordingEvents

    def restart_daemon(self) -> Env:
        """A second berthd on the same database, exec root and runtime (shims survive)."""
        return make_env(self.root, self.runtime, self.db)


def make_env(root: Path, runtime: FakeRuntime | None = None, db: Database | None = None) -> Env:
    runtime = runtime if runtime is not None else FakeRuntime()
    db = db if db is not None else Database(root / "data" / "berth.db")
    events = RecordingEvents()
    svc = ContainerService(
        ContainerStore(db), FakeImages(), runtime, root / "data", root / "run", events=events
    )
    return Env(root, runtime, db, svc, svc.execs, events)


def create(env: Env, name: str = "web", **host_config: Any) -> Container:
    body: dict[str, Any] = {"Image": "busybox"}
    if "Cmd" in host_config:
        body["Cmd"] = host_config.pop("Cmd")
    if host_config:
        body["HostConfig"] = host_config
    c, _ = env.svc.create(name, body)
    return c


async def settle(pred: Any = None, timeout: float = 2.0) -> None:
    """Let the monitors and timers run: until PRED holds (or a few loop turns)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        for _ in range(20):
            await asyncio.sleep(0)
        if pred is None or pred():
            return
        if loop.time() > end:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.005)


@contextlib.asynccontextmanager
async def running(root: Path, runtime: FakeRuntime | None = None) -> AsyncIterator[Env]:
    """An Env whose monitors and timers are ended afterwards (the shims "run on")."""
    env = make_env(root, runtime)
    try:
        yield env
    finally:
        await env.svc.shutdown(keep_running=True)
