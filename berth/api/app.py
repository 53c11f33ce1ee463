"""The route table of the whole API, one module per area."""

from __future__ import annotations

from berth.api.http.router import Router


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
