"""berthd's Prometheus endpoint (--metrics-addr, dockerd's flag): GET /metrics in the text
exposition format, with prometheus-client.

What is measured, and where it comes from:

| metric                                          | source                                |
|-------------------------------------------------|---------------------------------------|
| engine_daemon_container_states_containers       | the container store, at each scrape   |
| engine_daemon_container_actions_seconds{start}  | POST /containers/{name}/start answers |
| berth_container_starts_total                    | "start" events (restart policies too) |
| berth_api_requests_total, ..._duration_seconds  | every API request (route pattern)     |
| berth_image_pulls_total                         | "pull" events                         |
| berth_event_loop_lag_seconds                    | a probe that sleeps and measures      |
| engine_daemon_engine_info                       | the version, once                     |

Routes are labelled by their pattern (`/containers/{name}/start`), never by the raw path,
so that the number of series stays bounded. The endpoint has no authentication (as
dockerd's): berthd warns when it listens beyond loopback."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Iterator
from typing import Any

log = logging.getLogger("berthd")

# how often the event loop is probed for lag
LAG_INTERVAL = 0.5
# the methods the API has; any other is counted as "other"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE"})


class Metrics:
    def __init__(self, engine: Any) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        from berth import __version__

        self.engine = engine
        # a registry of our own: no process-global state between daemons in one process
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(_StateCollector(engine))
        info = Gauge(
            "engine_daemon_engine_info",
            "The information related to the engine and the OS it is running on",
            ["version", "os", "architecture"],
            registry=self.registry,
        )
        import os

        info.labels(__version__, "linux", os.uname().machine).set(1)
        self.requests = Counter(
            "berth_api_requests",
            "API requests answered, by method, route pattern and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "berth_api_request_duration_seconds",
            "Time to answer an API request (streams and sessions: until they end)",
            ["method", "route"],
            registry=self.registry,
        )
        self.actions = Histogram(
            "engine_daemon_container_actions_seconds",
            "The number of seconds it takes to process each container action",
            ["action"],
            registry=self.registry,
        )
        self.starts = Counter(
            "berth_container_starts",
            "Container starts (by the API and by restart policies)",
            registry=self.registry,
        )
        self.pulls = Counter(
            "berth_image_pulls", "Images pulled from a registry", registry=self.registry
        )
        self.lag = Histogram(
            "berth_event_loop_lag_seconds",
            "How late the event loop ran a timer (a blocked loop delays every request)",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=self.registry,
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._server: asyncio.Server | None = None

    # ---- observations ------------------------------------------------------------
    def observe_request(
        self, method: str, path: str, route: str, status: int, seconds: float
    ) -> None:
        route = route or "unmatched"
        if method not in _METHODS or route == "unmatched":
            # a client picks these bytes: a label of each would be a series of each
            method = method if method in _METHODS else "other"
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)
        if method == "POST" and route == "/containers/{name}/start" and status == 204:
            self.actions.labels("start").observe(seconds)

    async def _watch_events(self) -> None:
        while True:  # a subscriber the bus dropped (None) subscribes again
            sub = self.engine.events.subscribe({"event": ["start", "pull"]})
            try:
                while (ev := await sub.get()) is not None:
                    if ev.type == "container" and ev.action == "start":
                        self.starts.inc()
                    elif ev.type == "image" and ev.action == "pull":
                        self.pulls.inc()
            finally:
                self.engine.events.unsubscribe(sub)

    async def _probe_lag(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            t = loop.time()
            await asyncio.sleep(LAG_INTERVAL)
            self.lag.observe(max(0.0, loop.time() - t - LAG_INTERVAL))

    # ---- serving -----------------------------------------------------------------
    async def start(self, addr: str) -> None:
        from berth.api.http.response import Response
        from berth.api.http.router import Route, Router
        from berth.api.http.server import HTTPServer
        from berth.daemon.config import metrics_address

        host, port = metrics_address(addr)
        if not _loopback(host):
            log.warning(
                "metrics are served on %s, beyond loopback: /metrics has no authentication "
                "and tells anyone who reaches it what runs here",
                addr,
            )

        async def scrape(req: Any, eng: Any) -> Response:
            from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

            return Response(200, generate_latest(self.registry), CONTENT_TYPE_LATEST)

        router = Router()
        router.add(Route("GET", "/metrics", scrape))
        server = HTTPServer(router, self.engine)
        self._server = await asyncio.start_server(
            server.handle_connection, host or None, port, reuse_address=True
        )
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._watch_events()), loop.create_task(self._probe_lag())]
        log.info("metrics served at http://%s/metrics", addr)

    async def close(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # "" or 0.0.0.0 or a name: assume it is reachable from outside


class _StateCollector:
    """Containers by state, counted at each scrape (dockerd's container_states)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        counts = {"running": 0, "paused": 0, "stopped": 0}
        for c in self.engine.containers.all():
            st = c.state.status
            counts[st if st in ("running", "paused") else "stopped"] += 1
        fam = GaugeMetricFamily(
            "engine_daemon_container_states_containers",
            "The count of containers in various states",
            labels=["state"],
        )
        for state, n in counts.items():
            fam.add_metric([state], n)
        yield fam

    def describe(self) -> Iterator[Any]:
        return iter(())
