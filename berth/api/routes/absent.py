"""Features berth does not have, answering the way dockerd answers without them, so that
clients that probe for them (a teardown's `POST /swarm/leave`, `docker plugin ls`,
`docker node ls`) see the answer they know instead of `404 page not found`.

| routes                                         | answer                                    |
|------------------------------------------------|-------------------------------------------|
| GET /swarm, /swarm/update, /swarm/unlock(key), | 503 dockerd's errNoManager for a node not |
| /nodes*, /services*, /tasks*, /secrets*,       | in a swarm: "This node is not a swarm     |
| /configs* (every method the Engine API lists)  | manager. Use "docker swarm init" ..."     |
| POST /swarm/leave                              | 503 "This node is not part of a swarm"    |
| POST /swarm/init, /swarm/join                  | 503: berth cannot make or join a swarm    |
| PUT /volumes/{name} (cluster volume update)    | 503 dockerd's "... swarm is unavailable"  |
| GET /plugins                                   | 200 [] (no plugins installed)             |
| /plugins/{name}/... (inspect, enable, push...) | 404 `plugin "NAME" not found`, as dockerd |
| POST /plugins/pull, /plugins/create,           | 501: berth has no plugin support          |
| GET /plugins/privileges                        |                                           |
| GET /images/search                             | 501 naming the registry berth would ask   |
| GET /distribution/{name}/json                  | 501                                       |
| POST /session                                  | 501: no BuildKit session (classic builder)|

Bodies are read first, as dockerd reads them first: malformed JSON is still a 400."""

from __future__ import annotations

from berth.api.backends import NoBackend
from berth.api.http.request import Request
from berth.api.http.response import Response, json_response
from berth.api.http.router import Handler, Route
from berth.engine.errors import NotFound, NotImplementedYet, Unavailable

# dockerd's daemon/cluster errors for a node that never joined a swarm
NOT_MANAGER = (
    'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to '
    "connect this node to swarm and try again."
)
NOT_IN_SWARM = "This node is not part of a swarm"
NO_SWARM_MODE = "berth does not support swarm mode: this node cannot initialize or join a swarm"
NO_CLUSTER_VOLUMES = "volume update only valid for cluster volumes, but swarm is unavailable"
NO_PLUGINS = "berth does not support plugins: {what} is not available"
SEARCH_REGISTRY = "https://index.docker.io/v1/search"
NO_SEARCH = (
    "berth does not search registries: image search would query the Docker Hub index "
    f"({SEARCH_REGISTRY}), which berth does not contact; search the registry's own site "
    "or API instead"
)


def _unavailable(message: str) -> Response:
    """dockerd's notAvailableError: 503 with its message."""
    raise Unavailable(message)


async def _read_body(req: Request) -> None:
    if req.method in ("POST", "PUT"):
        await req.json()  # malformed JSON: 400, as dockerd's ReadJSON comes first


def _swarm(message: str) -> Handler:
    async def handler(req: Request, eng: NoBackend) -> Response:
        await _read_body(req)
        return _unavailable(message)

    return handler


async def update_volume(req: Request, eng: NoBackend) -> Response:
    return _unavailable(NO_CLUSTER_VOLUMES)  # dockerd answers before it reads the body


async def list_plugins(req: Request, eng: NoBackend) -> Response:
    return json_response([])


async def plugin_not_found(req: Request, eng: NoBackend) -> Response:
    await _read_body(req)
    raise NotFound(f'plugin "{req.match_info["name"]}" not found')


def _no_plugins(what: str) -> Handler:
    async def handler(req: Request, eng: NoBackend) -> Response:
        await _read_body(req)
        raise NotImplementedYet(NO_PLUGINS.format(what=what))

    return handler


async def search(req: Request, eng: NoBackend) -> Response:
    raise NotImplementedYet(NO_SEARCH)


async def distribution(req: Request, eng: NoBackend) -> Response:
    raise NotImplementedYet(
        f"berth does not serve GET /distribution/{req.match_info['name']}/json: it does not "
        "query registries for image metadata; pull the image and inspect it instead"
    )


async def session(req: Request, eng: NoBackend) -> Response:
    raise NotImplementedYet(
        "berth has no BuildKit session endpoint: BuildKit is not supported (use the classic "
        "builder, DOCKER_BUILDKIT=0)"
    )


def _swarm_routes() -> list[Route]:
    mgr = _swarm(NOT_MANAGER)
    routes = [
        Route("GET", "/swarm", mgr),
        Route("POST", "/swarm/init", _swarm(NO_SWARM_MODE)),
        Route("POST", "/swarm/join", _swarm(NO_SWARM_MODE)),
        Route("POST", "/swarm/leave", _swarm(NOT_IN_SWARM)),
        Route("POST", "/swarm/update", mgr),
        Route("GET", "/swarm/unlockkey", mgr),
        Route("POST", "/swarm/unlock", mgr),
        Route("GET", "/nodes", mgr),
        Route("GET", "/nodes/{id}", mgr),
        Route("DELETE", "/nodes/{id}", mgr),
        Route("POST", "/nodes/{id}/update", mgr),
        Route("GET", "/services", mgr),
        Route("POST", "/services/create", mgr),
        Route("GET", "/services/{id}", mgr),
        Route("DELETE", "/services/{id}", mgr),
        Route("POST", "/services/{id}/update", mgr),
        Route("GET", "/services/{id}/logs", mgr),
        Route("GET", "/tasks", mgr),
        Route("GET", "/tasks/{id}", mgr),
        Route("GET", "/tasks/{id}/logs", mgr),
    ]
    for kind in ("secrets", "configs"):
        routes += [
            Route("GET", f"/{kind}", mgr),
            Route("POST", f"/{kind}/create", mgr),
            Route("GET", f"/{kind}/{{id}}", mgr),
            Route("DELETE", f"/{kind}/{{id}}", mgr),
            Route("POST", f"/{kind}/{{id}}/update", mgr),
        ]
    return routes


ROUTES = [
    *_swarm_routes(),
    Route("PUT", "/volumes/{name}", update_volume),
    Route("GET", "/plugins", list_plugins),
    Route("GET", "/plugins/privileges", _no_plugins("plugin install")),
    Route("POST", "/plugins/pull", _no_plugins("plugin install")),
    Route("POST", "/plugins/create", _no_plugins("plugin create")),
    Route("GET", "/plugins/{name:path}/json", plugin_not_found),
    Route("DELETE", "/plugins/{name:path}", plugin_not_found),
    Route("POST", "/plugins/{name:path}/enable", plugin_not_found),
    Route("POST", "/plugins/{name:path}/disable", plugin_not_found),
    Route("POST", "/plugins/{name:path}/push", plugin_not_found),
    Route("POST", "/plugins/{name:path}/upgrade", plugin_not_found),
    Route("POST", "/plugins/{name:path}/set", plugin_not_found),
    Route("GET", "/images/search", search),
    Route("GET", "/distribution/{name:path}/json", distribution),
    Route("POST", "/session", session),
]
