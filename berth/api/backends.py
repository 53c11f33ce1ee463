"""What each API area needs of the engine: one Protocol per area (moby's per-router
`Backend` interfaces), so a handler depends on the calls it makes, not on the daemon.

| area (routes/)        | protocol              | engine services it reaches               |
|-----------------------|-----------------------|------------------------------------------|
| system                | SystemBackend         | version(), info()                        |
| system_events: events | EventsBackend         | events (subscribe, history)              |
| system_events: df ... | PruneBackend          | containers, images, volumes, events      |
| containers            | ContainersBackend     | containers, images, execs, events        |
| container_ops         | ContainerOpsBackend   | containers, images                       |
| exec                  | ExecBackend           | execs                                    |
| images                | ImagesBackend         | images, events                           |
| networks              | NetworksBackend       | network, containers                      |
| volumes               | VolumesBackend        | volumes                                  |
| build                 | BuildBackend          | builds                                   |
| absent                | NoBackend             | nothing                                  |
| policy.py             | PolicyBackend         | containers, execs (lookups)              |

Each area's services are protocols of their own, named by role (ContainerLifecycle,
ImageLookup, ...). `Backend` is all of them at once: what the HTTP server is fed, and
what `berth.engine.engine.Engine` must be (app.py has mypy prove it).

Members are read-only properties so that an engine attribute of a narrower type (the
real service) satisfies them; a fake's plain attribute does too.

The container-ops handlers hand `containers` on to engine functions (archive, top,
stats, commit) and the prune handlers hand the whole backend on to engine/prune.py; those
functions take `Any` today and need the engine's own services, not a fake."""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from berth.engine.build.options import BuildOptions
    from berth.engine.containers.exec import ExecInstance, ExecStream
    from berth.engine.containers.logs import LogOptions
    from berth.engine.containers.model import Container, CreateRequest, State
    from berth.engine.containers.service import AttachRequest
    from berth.engine.events import Event, Subscription
    from berth.engine.images.model import Image
    from berth.engine.network.model import Network
    from berth.engine.volumes.model import PruneReport, Volume

Filters = dict[str, list[str]]
JSONObject = dict[str, Any]


# ---- containers -----------------------------------------------------------------
class ContainerLookup(Protocol):
    def get(self, ref: str) -> Container: ...

    def all(self) -> list[Container]: ...


class ContainerRecords(ContainerLookup, Protocol):
    """For the handlers that change a container's record."""

    def save(self, c: Container) -> None: ...


class ContainerLifecycle(ContainerRecords, Protocol):
    """The container verbs of routes/containers.py."""

    @property
    def overlay_dir(self) -> Path: ...

    def create(self, name: str | None, body: CreateRequest) -> tuple[Container, list[str]]: ...

    async def start(self, ref: str) -> None: ...

    async def stop(self, ref: str, timeout: int | None, sig: str | None) -> None: ...

    async def restart(self, ref: str, timeout: int | None, sig: str | None = None) -> None: ...

    async def kill(self, ref: str, sig: str | None) -> None: ...

    async def remove(self, ref: str, *, force: bool = False, volumes: bool = False) -> None: ...

    async def rename(self, ref: str, new_name: str) -> None: ...

    async def wait(self, ref: str, condition: str) -> asyncio.Future[State]: ...

    async def resize(self, ref: str, height: int, width: int) -> None: ...

    def logs(self, c: Container, opts: LogOptions) -> AsyncIterator[tuple[int, bytes]]: ...

    def log_stream(self, c: Container, opts: LogOptions) -> AsyncIterator[bytes]: ...

    def attach_request(
        self, c: Container, stdin: bool, stdout: bool, stderr: bool
    ) -> AttachRequest: ...

    def cancel_attach(self, c: Container, req: AttachRequest) -> None: ...


class ContainerOpsTarget(ContainerLookup, Protocol):
    """What routes/container_ops.py calls itself (archive, top, stats, commit and export
    are engine functions given the service)."""

    @property
    def overlay_dir(self) -> Path: ...

    async def pause(self, ref: str) -> None: ...

    async def unpause(self, ref: str) -> None: ...

    async def update(self, ref: str, body: JSONObject) -> list[str]: ...


class ContainerPruning(ContainerLookup, Protocol):
    """What engine/prune.py asks of the container service."""

    @property
    def overlay_dir(self) -> Path: ...

    async def remove(self, ref: str, *, force: bool = False, volumes: bool = False) -> None: ...


class Containers(ContainerLifecycle, ContainerOpsTarget, ContainerPruning, Protocol):
    """The container service as the whole API sees it."""


# ---- images ---------------------------------------------------------------------
class ImageLookup(Protocol):
    def get(self, ref: str) -> Image: ...


class ImageLayers(ImageLookup, Protocol):
    def layer_dirs(self, image: Image) -> builtins.list[str]: ...


class ImageOps(ImageLayers, Protocol):
    """The image verbs of routes/images.py."""

    def list(
        self, *, all: bool = False, filters: Filters | None = None
    ) -> builtins.list[Image]: ...

    def resolve_id(self, ref: str) -> str: ...

    def history(self, ref: str) -> builtins.list[JSONObject]: ...

    def tag(self, ref: str, repo: str, tag: str | None) -> None: ...

    def remove(self, ref: str, *, force: bool, prune: bool) -> builtins.list[dict]: ...

    def load(self, body: AsyncIterator[bytes], *, quiet: bool) -> AsyncIterator[dict]: ...

    def save(self, refs: builtins.list[str]) -> AsyncIterator[bytes]: ...

    async def import_rootfs(
        self,
        body: AsyncIterator[bytes],
        *,
        repo: str | None,
        tag: str | None,
        changes: builtins.list[str],
        message: str,
        platform: str | None,
    ) -> Image: ...

    def pull(
        self, image: str, tag: str | None, *, platform: str | None, auth: str | None
    ) -> AsyncIterator[dict]: ...

    def push(self, name: str, tag: str | None, *, auth: str | None) -> AsyncIterator[dict]: ...

    async def login(self, body: JSONObject) -> dict[str, str]: ...


class ImagePruning(ImageLookup, Protocol):
    """What engine/prune.py asks of the image service."""

    def list(
        self, *, all: bool = False, filters: Filters | None = None
    ) -> builtins.list[Image]: ...

    def layer_size(self, image: Image) -> dict[str, int]: ...

    def remove(self, ref: str, *, force: bool, prune: bool) -> builtins.list[dict]: ...


class Images(ImageOps, ImagePruning, Protocol):
    """The image service as the whole API sees it."""


# ---- exec -----------------------------------------------------------------------
class ExecLookup(Protocol):
    def get(self, eid: str) -> ExecInstance: ...


class ExecIds(Protocol):
    def ids_for(self, cid: str) -> list[str] | None: ...


class ExecOps(Protocol):
    """The exec verbs of routes/exec.py."""

    def create(self, ref: str, body: object) -> ExecInstance: ...

    def startable(self, eid: str) -> tuple[ExecInstance, Container]: ...

    async def start(
        self, eid: str, *, detach: bool, raw: bool, console_size: list[int] | None = None
    ) -> ExecStream | None: ...

    async def wait_exit(self, eid: str) -> None: ...

    def detached(self, eid: str) -> None: ...

    async def resize(self, eid: str, height: int, width: int) -> None: ...

    def inspect(self, eid: str) -> ExecInstance: ...


class Execs(ExecLookup, ExecIds, ExecOps, Protocol):
    """The exec service as the whole API sees it."""


# ---- events ---------------------------------------------------------------------
class ContainerEvents(Protocol):
    def container(
        self, c: Container, action: str, extra: Mapping[str, str] | None = None
    ) -> Event: ...


class ImageEvents(Protocol):
    def image(self, image_id: str, action: str, name: str = "") -> Event: ...


class EventPublisher(ImageEvents, Protocol):
    def publish(
        self, type_: str, action: str, actor_id: str, attributes: Mapping[str, str]
    ) -> Event: ...


class EventFeed(Protocol):
    """GET /events: a subscription and the buffered history, read with no await between."""

    def subscribe(self, flt: Mapping[str, list[str]]) -> Subscription: ...

    def unsubscribe(self, sub: Subscription) -> None: ...

    def history(
        self, flt: Mapping[str, list[str]], since_ns: int | None, until_ns: int | None
    ) -> list[Event]: ...


class Events(ContainerEvents, EventPublisher, EventFeed, Protocol):
    """The event bus as the whole API sees it."""


# ---- networks, volumes, builds ----------------------------------------------------
class NetworkOps(Protocol):
    def list(self, filters: Filters | None = None) -> builtins.list[Network]: ...

    def get(self, ref: str) -> Network: ...

    def attached(self, n: Network) -> dict[str, JSONObject]: ...

    async def create(self, body: JSONObject) -> tuple[Network, str]: ...

    async def remove(self, ref: str) -> None: ...

    async def connect(self, c: Container, ref: str, cfg: JSONObject) -> None: ...

    async def disconnect(self, c: Container, ref: str, force: bool = False) -> None: ...

    async def prune(self, filters: Filters | None = None) -> builtins.list[str]: ...


class VolumeOps(Protocol):
    def list(self, filters: Filters | None = None) -> builtins.list[Volume]: ...

    def create(
        self,
        name: str = "",
        driver: str = "",
        opts: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
    ) -> tuple[Volume, bool]: ...

    def get(self, name: str) -> Volume: ...

    def remove(self, name: str, force: bool = False) -> None: ...

    def prune(self, filters: Filters | None = None) -> PruneReport: ...


class VolumeUsage(Protocol):
    """system df's Volumes."""

    def usage(self) -> builtins.list[JSONObject]: ...


class Volumes(VolumeOps, VolumeUsage, Protocol):
    """The volume service as the whole API sees it."""


class BuildOps(Protocol):
    def build(self, opts: BuildOptions, body: AsyncIterator[bytes]) -> AsyncIterator[dict]: ...

    def prune(self) -> JSONObject: ...


# ---- the areas --------------------------------------------------------------------
class NoBackend(Protocol):
    """The routes of what berth lacks (routes/absent.py) need nothing of the engine."""


class SystemBackend(Protocol):
    def version(self) -> JSONObject: ...

    def info(self) -> JSONObject: ...


class EventsBackend(Protocol):
    @property
    def events(self) -> EventFeed: ...


class PruneBackend(Protocol):
    """system df and the prunes: engine/prune.py is handed the backend itself."""

    @property
    def containers(self) -> ContainerPruning: ...

    @property
    def images(self) -> ImagePruning: ...

    @property
    def volumes(self) -> VolumeUsage: ...

    @property
    def events(self) -> EventPublisher: ...


class ContainersBackend(Protocol):
    @property
    def containers(self) -> ContainerLifecycle: ...

    @property
    def images(self) -> ImageLookup: ...

    @property
    def execs(self) -> ExecIds: ...

    @property
    def events(self) -> ContainerEvents: ...


class ContainerOpsBackend(Protocol):
    @property
    def containers(self) -> ContainerOpsTarget: ...

    @property
    def images(self) -> ImageLayers: ...


class ExecBackend(Protocol):
    @property
    def execs(self) -> ExecOps: ...


class ImagesBackend(Protocol):
    @property
    def images(self) -> ImageOps: ...

    @property
    def events(self) -> ImageEvents: ...


class NetworksBackend(Protocol):
    @property
    def network(self) -> NetworkOps: ...

    @property
    def containers(self) -> ContainerRecords: ...


class VolumesBackend(Protocol):
    @property
    def volumes(self) -> VolumeOps: ...


class BuildBackend(Protocol):
    @property
    def builds(self) -> BuildOps: ...


class PolicyBackend(Protocol):
    """A listener's label scope looks containers and execs up (berth.api.policy)."""

    @property
    def containers(self) -> ContainerLookup: ...

    @property
    def execs(self) -> ExecLookup: ...


class Backend(
    SystemBackend,
    EventsBackend,
    PruneBackend,
    ContainersBackend,
    ContainerOpsBackend,
    ExecBackend,
    ImagesBackend,
    NetworksBackend,
    VolumesBackend,
    BuildBackend,
    PolicyBackend,
    NoBackend,
    Protocol,
):
    """Every area's backend at once: what the HTTP server hands each handler."""

    @property
    def containers(self) -> Containers: ...

    @property
    def images(self) -> Images: ...

    @property
    def execs(self) -> Execs: ...

    @property
    def events(self) -> Events: ...

    @property
    def volumes(self) -> Volumes: ...
