"""The route table of the whole API, one module per area."""

from __future__ import annotations

from berth.api.http.router import Router


def build_router() -> Router:
    from berth.api.routes import containers, images, system

    router = Router()
    for area in (system, containers, images):
        router.add_all(area.ROUTES)
    return router
