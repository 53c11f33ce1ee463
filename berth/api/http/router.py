"""Declarative route table: (method, pattern) -> handler.

A handler takes the request and its area's backend (berth.api.backends); what changes
with the API version is decided in the handler through `Request.at_least`."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from berth.api.backends import Backend
from berth.api.http.request import Request
from berth.api.http.response import AnyResponse

Handler = Callable[[Request, Backend], Awaitable[AnyResponse]]

_PARAM = re.compile(r"\{(\w+)(?::(path))?\}")


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str  # e.g. "/containers/{name}/start", "/images/{name:path}/json"
    handler: Handler


def _compile(pattern: str) -> re.Pattern[str]:
    out, pos = [], 0
    for m in _PARAM.finditer(pattern):
        out.append(re.escape(pattern[pos : m.start()]))
        out.append(f"(?P<{m.group(1)}>.+)" if m.group(2) else f"(?P<{m.group(1)}>[^/]+)")
        pos = m.end()
    out.append(re.escape(pattern[pos:]))
    return re.compile("^" + "".join(out) + "$")


class Router:
    def __init__(self) -> None:
        self._static: dict[tuple[str, str], Route] = {}
        self._dynamic: list[tuple[str, re.Pattern[str], Route]] = []

    def add(self, route: Route) -> None:
        if "{" not in route.pattern:
            self._static[(route.method, route.pattern)] = route
        else:
            self._dynamic.append((route.method, _compile(route.pattern), route))

    def add_all(self, routes: list[Route]) -> None:
        for r in routes:
            self.add(r)

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """Return (route, params, path_exists). path_exists lets the server say
        405 rather than 404 when only the method is wrong."""
        if method == "HEAD" and (method, path) not in self._static:
            r = self._static.get(("GET", path))
            if r is not None and path == "/_ping":
                return r, {}, True
        r = self._static.get((method, path))
        if r is not None:
            return r, {}, True
        exists = any(p == path for (_, p) in self._static)
        for m, rx, route in self._dynamic:
            mo = rx.match(path)
            if mo is None:
                continue
            if m == method:
                from urllib.parse import unquote

                return route, {k: unquote(v) for k, v in mo.groupdict().items()}, True
            exists = True
        return None, {}, exists
