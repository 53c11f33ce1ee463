"""An in-memory backend for the API's route tests: every protocol of berth.api.backends,
no daemon, no store, no runtime.

The fake keeps what a test sets up (containers, images, volumes, networks, execs) in
dicts, answers lookups with the engine's error kinds and messages, and records the
calls the handlers make (`calls`), so that a test can check what a query decoded to.
Verbs whose real work is on the host (start, attach, load, pull, build) do the least that
keeps the handler's contract; a test that needs more sets it up itself."""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from berth.engine.build.options import BuildOptions
from berth.engine.containers.exec import ExecInstance, ExecStream
from berth.engine.containers.logs import LogOptions
from berth.engine.containers.model import (
    Container,
    ContainerConfig,
    CreateRequest,
    HostConfig,
    State,
)
from berth.engine.containers.service import AttachRequest
from berth.engine.errors import Conflict, NotFound
from berth.engine.events import EventBus
from berth.engine.images.model import Image, ImageConfig
from berth.engine.network.model import Network
from berth.engine.volumes.model import PruneReport, Volume

if TYPE_CHECKING:
    from berth.api.backends import Backend

Filters = dict[str, list[str]]
CREATED = "2024-05-01T10:00:00.123456789Z"


def hex_id(n: int) -> str:
    return f"{n:x}".rjust(64, "0")


def container(
    n: int, name: str, *, status: str = "exited", image: str = "busybox", **kw: Any
) -> Container:
    c = Container(
        id=hex_id(n),
        name=name,
        created=CREATED,
        image_id="sha256:" + hex_id(1000 + n),
        path="sh",
        args=["-c", "echo hi"],
        config=ContainerConfig(image=image),
        host_config=HostConfig(),
        state=State(status=status),
        **kw,
    )
    return c


def image(n: int, tags: list[str] | None = None, **raw: Any) -> Image:
    return Image(
        id="sha256:" + hex_id(n),
        repo_tags=list(tags or []),
        repo_digests=[],
        created=CREATED,
        config=ImageConfig(cmd=["sh"]),
        diff_ids=["sha256:" + hex_id(n + 1)],
        size=1234,
        architecture="amd64",
        os="linux",
        raw_config={"config": {"Cmd": ["sh"], "Hostname": "old"}, **raw},
    )


class Calls:
    """What the handlers asked for, in order: (name, args) pairs."""

    def __init__(self) -> None:
        self.log: list[tuple[str, tuple[Any, ...]]] = []

    def __call__(self, name: str, *args: Any) -> None:
        self.log.append((name, args))

    def last(self, name: str) -> tuple[Any, ...]:
        for n, args in reversed(self.log):
            if n == name:
                return args
        raise AssertionError(f"{name} was never called (calls: {self.log})")


class FakeContainers:
    def __init__(self, calls: Calls, events: EventBus) -> None:
        self.by_id: dict[str, Container] = {}
        self.calls = calls
        self.events = events
        self.overlay_dir = Path("/nonexistent/berth-fake/overlay")

    def add(self, c: Container) -> Container:
        self.by_id[c.id] = c
        return c

    # ---- lookups
    def get(self, ref: str) -> Container:
        name = ref.lstrip("/")
        for c in self.by_id.values():
            if c.name == name or c.id == ref:
                return c
        found = [c for c in self.by_id.values() if ref and c.id.startswith(ref)]
        if len(found) == 1:
            return found[0]
        raise NotFound(f"No such container: {ref}")

    def all(self) -> list[Container]:
        return list(self.by_id.values())

    def save(self, c: Container) -> None:
        self.calls("save", c.id)

    # ---- verbs
    def create(self, name: str | None, body: CreateRequest) -> tuple[Container, list[str]]:
        self.calls("create", name, body)
        if name and any(c.name == name for c in self.by_id.values()):
            raise Conflict(f'Conflict. The container name "/{name}" is already in use')
        c = container(len(self.by_id) + 1, name or f"fake_{len(self.by_id)}")
        c.config = body.config
        return self.add(c), []

    async def start(self, ref: str) -> None:
        c = self.get(ref)
        self.calls("start", ref)
        c.state.status = "running"

    async def stop(self, ref: str, timeout: int | None, sig: str | None) -> None:
        self.get(ref)
        self.calls("stop", ref, timeout, sig)

    async def restart(self, ref: str, timeout: int | None, sig: str | None = None) -> None:
        self.get(ref)
        self.calls("restart", ref, timeout, sig)

    async def kill(self, ref: str, sig: str | None) -> None:
        c = self.get(ref)
        self.calls("kill", ref, sig)
        if not c.state.running:
            raise Conflict(f"Container {c.id} is not running")

    async def remove(self, ref: str, *, force: bool = False, volumes: bool = False) -> None:
        c = self.get(ref)
        self.calls("remove", ref, force, volumes)
        if c.state.running and not force:
            raise Conflict(
                f'cannot remove container "/{c.name}": container is running: '
                "stop the container before removing or force remove"
            )
        del self.by_id[c.id]

    async def rename(self, ref: str, new_name: str) -> None:
        self.get(ref).name = new_name

    async def wait(self, ref: str, condition: str) -> asyncio.Future[State]:
        c = self.get(ref)
        fut: asyncio.Future[State] = asyncio.get_running_loop().create_future()
        fut.set_result(c.state)
        return fut

    async def resize(self, ref: str, height: int, width: int) -> None:
        self.get(ref)
        self.calls("resize", ref, height, width)

    async def _lines(self, lines: list[tuple[int, bytes]]) -> AsyncIterator[tuple[int, bytes]]:
        for line in lines:
            yield line

    def logs(self, c: Container, opts: LogOptions) -> AsyncIterator[tuple[int, bytes]]:
        self.calls("logs", c.id, opts)
        return self._lines([(1, b"hello\n")])

    async def log_stream(self, c: Container, opts: LogOptions) -> AsyncIterator[bytes]:
        self.calls("log_stream", c.id, opts)
        yield b"hello\n"

    def attach_request(
        self, c: Container, stdin: bool, stdout: bool, stderr: bool
    ) -> AttachRequest:
        return AttachRequest(stdin, stdout, stderr)

    def cancel_attach(self, c: Container, req: AttachRequest) -> None:
        self.calls("cancel_attach", c.id)

    async def pause(self, ref: str) -> None:
        self.get(ref).state.status = "paused"

    async def unpause(self, ref: str) -> None:
        self.get(ref).state.status = "running"

    async def update(self, ref: str, body: dict[str, Any]) -> list[str]:
        self.get(ref)
        self.calls("update", ref, body)
        return []


class FakeImages:
    def __init__(self, calls: Calls) -> None:
        self.by_id: dict[str, Image] = {}
        self.calls = calls

    def add(self, img: Image) -> Image:
        self.by_id[img.id] = img
        return img

    def resolve_id(self, ref: str) -> str:
        for img in self.by_id.values():
            if ref in (img.id, img.id[7:19]) or ref in img.repo_tags:
                return img.id
        raise NotFound(f"No such image: {ref}")

    def get(self, ref: str) -> Image:
        return self.by_id[self.resolve_id(ref)]

    def layer_dirs(self, image: Image) -> builtins.list[str]:
        return [f"/layers/{d[7:19]}" for d in image.diff_ids]

    def layer_size(self, image: Image) -> dict[str, int]:
        return {d: image.size for d in image.diff_ids}

    def list(self, *, all: bool = False, filters: Filters | None = None) -> builtins.list[Image]:
        self.calls("images.list", all, filters)
        return builtins.list(self.by_id.values())

    def history(self, ref: str) -> builtins.list[dict[str, Any]]:
        img = self.get(ref)
        return [{"Id": img.id, "Created": img.created_unix, "CreatedBy": "", "Size": img.size}]

    def tag(self, ref: str, repo: str, tag: str | None) -> None:
        self.get(ref).repo_tags.append(f"{repo}:{tag or 'latest'}")

    def remove(self, ref: str, *, force: bool, prune: bool) -> builtins.list[dict]:
        img = self.get(ref)
        self.calls("images.remove", ref, force, prune)
        del self.by_id[img.id]
        return [{"Untagged": t} for t in img.repo_tags] + [{"Deleted": img.id}]

    async def _none(self) -> AsyncIterator[dict]:
        nothing: list[dict] = []
        for msg in nothing:
            yield msg

    def load(self, body: AsyncIterator[bytes], *, quiet: bool) -> AsyncIterator[dict]:
        return self._none()

    async def save(self, refs: builtins.list[str]) -> AsyncIterator[bytes]:
        for ref in refs:
            self.get(ref)
        yield b"tar"

    async def import_rootfs(
        self,
        body: AsyncIterator[bytes],
        *,
        repo: str | None,
        tag: str | None,
        changes: builtins.list[str],
        message: str,
        platform: str | None,
    ) -> Image:
        return self.add(image(len(self.by_id) + 500))

    def pull(
        self, image: str, tag: str | None, *, platform: str | None, auth: str | None
    ) -> AsyncIterator[dict]:
        self.calls("pull", image, tag, platform, auth)
        return self._none()

    def push(self, name: str, tag: str | None, *, auth: str | None) -> AsyncIterator[dict]:
        return self._none()

    async def login(self, body: dict[str, Any]) -> dict[str, str]:
        return {"Status": "Login Succeeded", "IdentityToken": ""}


class FakeExecs:
    def __init__(self, calls: Calls, containers: FakeContainers) -> None:
        self.by_id: dict[str, ExecInstance] = {}
        self.calls = calls
        self.containers = containers

    def add(self, container_id: str, eid: str, **kw: Any) -> ExecInstance:
        fields: dict[str, Any] = dict(
            entrypoint="sh", args=["-c", "true"], env=[], user="", working_dir="",
            privileged=False, tty=False, open_stdin=False, open_stdout=True,
            open_stderr=True, detach_keys=b"", console_size=None,
        )  # fmt: skip
        # the exit and start futures belong to a running engine's loop: nothing here awaits
        fields.update(exited=None, started=None)
        fields.update(kw)
        ex = ExecInstance(eid, container_id, CREATED, **fields)
        self.by_id[eid] = ex
        return ex

    def get(self, eid: str) -> ExecInstance:
        ex = self.by_id.get(eid)
        if ex is None:
            raise NotFound(f"No such exec instance: {eid}")
        return ex

    def ids_for(self, cid: str) -> list[str] | None:
        return [e.id for e in self.by_id.values() if e.container_id == cid] or None

    def create(self, ref: str, body: object) -> ExecInstance:
        c = self.containers.get(ref)
        return self.add(c.id, hex_id(9000 + len(self.by_id)))

    def startable(self, eid: str) -> tuple[ExecInstance, Container]:
        ex = self.get(eid)
        return ex, self.containers.get(ex.container_id)

    async def start(
        self, eid: str, *, detach: bool, raw: bool, console_size: list[int] | None = None
    ) -> ExecStream | None:
        self.calls("exec.start", eid, detach, raw, console_size)
        return None

    async def wait_exit(self, eid: str) -> None:
        return None

    def detached(self, eid: str) -> None:
        self.calls("exec.detached", eid)

    async def resize(self, eid: str, height: int, width: int) -> None:
        self.startable(eid)

    def inspect(self, eid: str) -> ExecInstance:
        return self.get(eid)


class FakeNetworks:
    def __init__(self, calls: Calls) -> None:
        self.by_id: dict[str, Network] = {}
        self.calls = calls

    def add(self, n: Network) -> Network:
        self.by_id[n.id] = n
        return n

    def list(self, filters: Filters | None = None) -> builtins.list[Network]:
        self.calls("networks.list", filters)
        return builtins.list(self.by_id.values())

    def get(self, ref: str) -> Network:
        for n in self.by_id.values():
            if ref in (n.id, n.name):
                return n
        raise NotFound(f"network {ref} not found")

    def attached(self, n: Network) -> dict[str, dict[str, Any]]:
        return {}

    async def create(self, body: dict[str, Any]) -> tuple[Network, str]:
        n = Network(hex_id(7000 + len(self.by_id)), body.get("Name") or "", "bridge", CREATED)
        return self.add(n), ""

    async def remove(self, ref: str) -> None:
        del self.by_id[self.get(ref).id]

    async def connect(self, c: Container, ref: str, cfg: dict[str, Any]) -> None:
        c.networks[self.get(ref).name] = dict(cfg)

    async def disconnect(self, c: Container, ref: str, force: bool = False) -> None:
        c.networks.pop(self.get(ref).name, None)

    async def prune(self, filters: Filters | None = None) -> builtins.list[str]:
        return []


class FakeVolumes:
    def __init__(self, calls: Calls) -> None:
        self.by_name: dict[str, Volume] = {}
        self.calls = calls

    def list(self, filters: Filters | None = None) -> builtins.list[Volume]:
        self.calls("volumes.list", filters)
        return builtins.list(self.by_name.values())

    def create(
        self,
        name: str = "",
        driver: str = "",
        opts: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
    ) -> tuple[Volume, bool]:
        name = name or hex_id(len(self.by_name))
        v = Volume(name, driver or "local", f"/volumes/{name}/_data", CREATED[:19] + "Z", labels)
        self.by_name[name] = v
        return v, True

    def get(self, name: str) -> Volume:
        v = self.by_name.get(name)
        if v is None:
            raise NotFound(f"get {name}: no such volume")
        return v

    def remove(self, name: str, force: bool = False) -> None:
        self.by_name.pop(self.get(name).name)

    def prune(self, filters: Filters | None = None) -> PruneReport:
        self.calls("volumes.prune", filters)
        return PruneReport()

    def usage(self) -> builtins.list[dict[str, Any]]:
        return [v.to_api() for v in self.by_name.values()]


class FakeBuilds:
    async def build(self, opts: BuildOptions, body: AsyncIterator[bytes]) -> AsyncIterator[dict]:
        yield {"stream": f"building {opts.dockerfile}\n"}

    def prune(self) -> dict[str, Any]:
        return {"CachesDeleted": None, "SpaceReclaimed": 0}


class FakeBackend:
    """Every area's backend; `calls` records what the handlers asked for."""

    def __init__(self) -> None:
        self.calls = Calls()
        self.events = EventBus()
        self.containers = FakeContainers(self.calls, self.events)
        self.images = FakeImages(self.calls)
        self.execs = FakeExecs(self.calls, self.containers)
        self.network = FakeNetworks(self.calls)
        self.volumes = FakeVolumes(self.calls)
        self.builds = FakeBuilds()

    def version(self) -> dict[str, Any]:
        return {"ApiVersion": "fake", "Version": "0"}

    def info(self) -> dict[str, Any]:
        return {"Containers": len(self.containers.by_id)}


def _fits(fake: FakeBackend) -> Backend:
    """mypy's proof (`mypy tests/unit/api/fake_backend.py`) that the fake is a Backend."""
    return fake
