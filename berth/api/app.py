"""The route table of the whole API, one module per area."""

from __future__ import annotations

from typing import TYPE_CHECKING

from berth.api.http.router import Router

if TYPE_CHECKING:
    from berth.api.backends import Backend
    from berth.engine.engine import Engine


def build_router() -> Router:
    from berth.api.routes import (
        absent,
        build,
        container_ops,
        containers,
        exec,
        images,
        networks,
        system,
        system_events,
        volumes,
    )

    router = Router()
    # system_events first: its stand-in prunes (networks) give way to a real one
    # registered later for the same path
    for area in (system_events, system, containers, container_ops, exec, images, volumes):
        router.add_all(area.ROUTES)
    router.add_all(networks.ROUTES)
    router.add_all(build.ROUTES)
    # what berth lacks answers as dockerd without it; a real route wins over its stand-in
    areas = (
        system_events, system, containers, container_ops, exec, images, volumes, networks, build
    )  # fmt: skip
    served = {(r.method, r.pattern) for area in areas for r in area.ROUTES}
    router.add_all([r for r in absent.ROUTES if (r.method, r.pattern) not in served])
    return router


def as_backend(engine: Engine) -> Backend:
    """The engine as the API's backend. Never called: mypy checks here that the engine
    has every call each area's protocol (berth.api.backends) declares, with its types."""
    return engine
