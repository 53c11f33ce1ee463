"""POST /build (the classic builder) and POST /build/prune: decode, call the build
service, stream its JSON lines."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from berth.api.backends import BuildBackend
from berth.api.http.request import Request
from berth.api.http.response import Response, StreamResponse, json_response
from berth.api.http.router import Route
from berth.engine.build.options import BuildOptions, Ulimit
from berth.engine.errors import InvalidParameter


async def build(req: Request, eng: BuildBackend) -> Response | StreamResponse:
    opts = decode(req.query, req.headers.get("x-registry-config"))
    gen = eng.builds.build(opts, req.iter_body())
    # Up to the first message here: bad input found before it (no Dockerfile, a syntax
    # error, a missing target) is an error response with its status, as from dockerd.
    try:
        first = await gen.__anext__()
    except StopAsyncIteration:
        return Response(200, b"", "application/json")
    return StreamResponse(chunks=_lines(first, gen))


async def _lines(first: dict, rest: AsyncIterator[dict]) -> AsyncIterator[bytes]:
    yield json.dumps(first).encode() + b"\r\n"
    async for msg in rest:
        yield json.dumps(msg).encode() + b"\r\n"


async def build_prune(req: Request, eng: BuildBackend) -> Response:
    return json_response(eng.builds.prune())


# ---- the query, decoded once into BuildOptions, with dockerd's refusals ----------
def _json_field(raw: str, name: str, kind: type) -> Any:
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise InvalidParameter(f"invalid {name}: {exc}") from None
    if value is None:
        return kind()
    if not isinstance(value, kind):
        raise InvalidParameter(f"invalid {name}: expected a JSON {kind.__name__}")
    return value


def _int(raw: str, name: str) -> int:
    if raw == "":
        return 0
    try:
        return int(raw)
    except ValueError:
        raise InvalidParameter(f'strconv.ParseInt: parsing "{raw}": invalid syntax') from None


def _bool(raw: str | None, default: bool) -> bool:
    # dockerd's httputils.BoolValue: "", "0", "no", "false", "none" are false
    if raw is None:
        return default
    return raw.strip().lower() not in ("", "0", "no", "false", "none")


class _Query:
    """POST /build's query with Go's FormValue: the first value of a repeated parameter
    (docker-py sends `dockerfile` twice for a Dockerfile outside the context: its name,
    then its text)."""

    def __init__(self, query: dict[str, list[str]]) -> None:
        self.query = query

    def __call__(self, name: str) -> str:
        v = self.query.get(name)
        return v[0] if v else ""

    def flag(self, name: str, default: bool = False) -> bool:
        v = self.query.get(name)
        return _bool(v[0] if v else None, default)

    def all(self, name: str) -> list[str]:
        return self.query.get(name, [])


def decode(query: dict[str, list[str]], registry_config: str | None) -> BuildOptions:
    """The query of POST /build (a name -> values mapping) and its X-Registry-Config."""
    q = _Query(query)
    _refuse_unsupported(q)
    opts = BuildOptions(
        tags=[t for t in q.all("t") if t],
        dockerfile=q("dockerfile") or "Dockerfile",
        target=q("target"),
        no_cache=q.flag("nocache"),
        pull=q.flag("pull"),
        network_mode=q("networkmode"),
        remove=q.flag("rm", True),
        force_remove=q.flag("forcerm"),
        quiet=q.flag("q"),
        platform=q("platform"),
        shm_size=_int(q("shmsize"), "shmsize"),
        memory=_int(q("memory"), "memory"),
        memory_swap=_int(q("memswap"), "memswap"),
        cpu_shares=_int(q("cpushares"), "cpushares"),
        cpu_period=_int(q("cpuperiod"), "cpuperiod"),
        cpu_quota=_int(q("cpuquota"), "cpuquota"),
        cpuset_cpus=q("cpusetcpus"),
        cpuset_mems=q("cpusetmems"),
        cgroup_parent=q("cgroupparent"),
    )
    if opts.force_remove:
        opts.remove = True
    _decode_json_fields(q, opts)
    if registry_config:
        opts.registry_auth = _registry_config(registry_config)
    return opts


def _refuse_unsupported(q: _Query) -> None:
    """dockerd's refusals, and berth's own for what only BuildKit or a remote has."""
    if q("remote"):
        raise InvalidParameter(
            "remote build contexts (a Git repository or URL) are not supported by berth: "
            "send the context as a tar"
        )
    if q.flag("squash"):
        raise InvalidParameter("squash is only supported with experimental mode")
    if q("isolation") not in ("", "default"):
        raise InvalidParameter(f"Unsupported isolation: {q('isolation')!r}")
    if q("version") not in ("", "1"):
        raise InvalidParameter(
            "BuildKit is not supported by berth: use the classic builder (DOCKER_BUILDKIT=0)"
        )
    if q("outputs"):
        raise InvalidParameter("outputs are a BuildKit option: not supported by berth")


def _decode_json_fields(q: _Query, opts: BuildOptions) -> None:
    """buildargs, labels, cachefrom and ulimits (JSON in the query) and extrahosts."""
    if q("buildargs"):
        args = _json_field(q("buildargs"), "buildargs", dict)
        for k, v in args.items():
            if not isinstance(k, str) or not (v is None or isinstance(v, str)):
                raise InvalidParameter("invalid buildargs: values must be strings or null")
        opts.build_args = args
    if q("labels"):
        labels = _json_field(q("labels"), "labels", dict)
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
            raise InvalidParameter("invalid labels: values must be strings")
        opts.labels = labels
    if q("cachefrom"):
        cf = _json_field(q("cachefrom"), "cachefrom", list)
        if not all(isinstance(x, str) for x in cf):
            raise InvalidParameter("invalid cachefrom: expected a list of strings")
        opts.cache_from = cf
    if q("extrahosts"):
        # the CLI sends a comma-free list joined by commas (older) or repeated values
        hosts: list[str] = []
        for raw in q.all("extrahosts"):
            hosts += [h for h in raw.split(",") if h]
        opts.extra_hosts = hosts
    if q("ulimits"):
        opts.ulimits.extend(_ulimits(q("ulimits")))


def _ulimits(raw: str) -> list[Ulimit]:
    out = []
    for u in _json_field(raw, "ulimits", list):
        if not isinstance(u, dict) or not isinstance(u.get("Name"), str):
            raise InvalidParameter("invalid ulimits: expected a list of {Name, Soft, Hard}")
        soft, hard = u.get("Soft", 0), u.get("Hard", 0)
        if not isinstance(soft, int) or not isinstance(hard, int):
            raise InvalidParameter("invalid ulimits: Soft and Hard must be integers")
        out.append(Ulimit(u["Name"], soft, hard))
    return out


def _registry_config(raw: str) -> dict[str, dict[str, Any]]:
    import base64

    try:
        padded = raw + "=" * (-len(raw) % 4)
        data = base64.urlsafe_b64decode(padded.encode())
        value = json.loads(data)
    except (ValueError, TypeError):
        return {}  # dockerd ignores an X-Registry-Config it cannot read
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, dict)}


ROUTES = [
    Route("POST", "/build", build),
    Route("POST", "/build/prune", build_prune),
]
