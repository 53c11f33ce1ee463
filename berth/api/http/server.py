"""A small HTTP/1.1 server on asyncio streams.

berth owns its connection handling instead of using aiohttp (the DESIGN's first
choice): Docker's attach and exec hijack the connection (`Upgrade: tcp`) and rely on
half-closing it, which needs the raw streams. The framing of each request (request
line, headers, Content-Length, Transfer-Encoding, chunks) is llhttp's, through
`berth.api.http.parser`; this module answers, keeps connections alive, streams, and
hands hijacked connections over.

Limits that keep slow or abandoned clients from using the daemon up: a request head
must arrive within `idle_timeout` of the connection becoming idle (slowloris), a
body may stall at most `body_timeout`, and at most `max_connections` connections are
served at once (the rest get a 503 and are closed). Streams and hijacked sessions
(logs -f, events, attach) are past their head and are never cut by these timers.
The environment variables BERTH_HTTP_IDLE_TIMEOUT, BERTH_HTTP_BODY_TIMEOUT and
BERTH_HTTP_MAX_CONNECTIONS override the defaults (tests use short ones)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Protocol

from berth.api.backends import Backend
from berth.api.errors import host_fault, status_for
from berth.api.http.parser import FramingError, MessageReader
from berth.api.http.request import Request, version_tuple
from berth.api.http.response import AnyResponse, HijackResponse, Response, StreamResponse
from berth.api.http.router import Route, Router
from berth.constants import API_VERSION, MIN_API_VERSION
from berth.engine.errors import EngineError, InvalidParameter, NotFound

log = logging.getLogger("berth.api")

_REASONS = {101: "UPGRADED", 200: "OK"}
_COMMON_HEADERS = (
    f"Api-Version: {API_VERSION}\r\nDocker-Experimental: false\r\nOstype: linux\r\n"
    "Server: berth/0.1 (linux)\r\n"
)
_API_MAX = version_tuple(API_VERSION)
_API_MIN = version_tuple(MIN_API_VERSION)
INTERNAL_ERROR = "internal error in berthd (the daemon log has the details)"

ConnectionHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
# told of every request once it is answered: method, path, route pattern ("" when no route
# matched), status, seconds (berthd's metrics)
RequestObserver = Callable[[str, str, str, int, float], None]


class Policy(Protocol):
    """A listener's access policy (berth.api.policy): asked after the route is known."""

    name: str

    def allows_everything(self) -> bool: ...

    async def check(self, req: Request, route: Route, backend: Backend) -> None:
        """Raise berth.engine.errors.Forbidden when `req` is not allowed."""


def _env_float(name: str, default: float | None) -> float | None:
    val = os.environ.get(name)
    if not val:
        return default
    f = float(val)
    return f if f > 0 else None


class NotFoundRoute(NotFound):
    pass


def _reason(status: int) -> str:
    r = _REASONS.get(status)
    if r is None:
        try:
            r = HTTPStatus(status).phrase
        except ValueError:
            r = "Status"
        _REASONS[status] = r
    return r


def _head(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} {_reason(status)}\r\n", _COMMON_HEADERS]
    lines += [f"{k}: {v}\r\n" for k, v in headers.items()]
    lines.append("\r\n")
    return "".join(lines).encode("latin-1")


def error_response(exc: BaseException) -> Response:
    """The answer to a failed request. An engine error says what went wrong; anything
    else is a bug in berth: logged with its traceback by the caller, answered with a
    generic message (no Python exception name or text reaches the client)."""
    status = status_for(exc)
    msg = exc.message if isinstance(exc, EngineError) else INTERNAL_ERROR
    return _json_error(status, msg)


def _json_error(status: int, msg: str) -> Response:
    return Response(status, json.dumps({"message": msg}).encode() + b"\n", "application/json")


class HTTPServer:
    idle_timeout: float | None = 60.0
    body_timeout: float | None = 300.0
    max_connections: int = 1024

    def __init__(self, router: Router, backend: Backend) -> None:
        self.router = router
        self.backend = backend
        self.connections: set[asyncio.Task[None]] = set()
        self.idle_timeout = _env_float("BERTH_HTTP_IDLE_TIMEOUT", self.idle_timeout)
        self.body_timeout = _env_float("BERTH_HTTP_BODY_TIMEOUT", self.body_timeout)
        self.max_connections = int(
            os.environ.get("BERTH_HTTP_MAX_CONNECTIONS") or self.max_connections
        )
        self._over_cap = False
        self._watched: dict[MessageReader, asyncio.StreamWriter] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self.observer: RequestObserver | None = None

    def handler(self, policy: Policy | None = None) -> ConnectionHandler:
        """The connection callback of one listener, bound to its policy."""
        if policy is not None and policy.allows_everything():
            policy = None

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._serve(reader, writer, policy)

        return serve

    async def handle_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await self._serve(reader, writer, None)

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, policy: Policy | None
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        if len(self.connections) >= self.max_connections:
            await self._refuse(writer)
            return
        self._over_cap = False
        self.connections.add(task)
        msg = MessageReader(reader, body_timeout=self.body_timeout)
        self._watch(msg, writer)
        try:
            while True:
                keep = await self._one_request(msg, reader, writer, policy)
                if not keep:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        except Exception:  # a bug in berth: never let it kill the server
            log.exception("connection failed")
        finally:
            self.connections.discard(task)
            self._watched.pop(msg, None)
            try:
                writer.close()
            except Exception:
                pass

    # ---- slow clients: one sweeper, not a timer per request ------------------
    def _watch(self, msg: MessageReader, writer: asyncio.StreamWriter) -> None:
        self._watched[msg] = writer
        if self._sweeper is None or self._sweeper.done():
            if self.idle_timeout is not None or self.body_timeout is not None:
                self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    async def _sweep(self) -> None:
        """Close the connections whose client kept berth waiting past its deadline
        (a head not sent within idle_timeout, a body stalled for body_timeout)."""
        loop = asyncio.get_running_loop()
        while self._watched:
            timeouts = [t for t in (self.idle_timeout, self.body_timeout) if t is not None]
            if not timeouts:
                return
            await asyncio.sleep(min(5.0, max(0.05, min(timeouts) / 4)))
            now = loop.time()
            for msg, writer in list(self._watched.items()):
                if msg.deadline is not None and msg.deadline <= now:
                    msg.deadline = None
                    log.debug("closing a connection that kept berthd waiting")
                    writer.close()

    async def _refuse(self, writer: asyncio.StreamWriter) -> None:
        if not self._over_cap:
            log.warning(
                "%d connections open (the limit): refusing new ones until some close",
                len(self.connections),
            )
            self._over_cap = True
        resp = _json_error(503, "too many open connections to berthd, try again later")
        try:
            writer.write(self._encode(resp, False, "GET"))
            await asyncio.wait_for(writer.drain(), 5)
        except (TimeoutError, OSError, RuntimeError):
            pass
        finally:
            writer.close()

    @staticmethod
    def _encode(resp: Response, keep_alive: bool, method: str) -> bytes:
        hdrs = {}
        if resp.content_type:
            hdrs["Content-Type"] = resp.content_type
        hdrs.update(resp.headers)
        if resp.status not in (204, 304):
            hdrs["Content-Length"] = str(len(resp.body))
        if not keep_alive:
            hdrs["Connection"] = "close"
        out = _head(resp.status, hdrs)
        if method != "HEAD" and resp.status not in (204, 304):
            out += resp.body
        return out

    async def _one_request(
        self,
        msg: MessageReader,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        policy: Policy | None,
    ) -> bool:
        if self.idle_timeout is not None:
            msg.deadline = asyncio.get_running_loop().time() + self.idle_timeout
        try:
            head = await msg.head()  # None too when the sweeper closed an idle connection
        except FramingError as exc:
            writer.write(self._encode(_json_error(exc.status, exc.message), False, "GET"))
            await writer.drain()
            return False
        finally:
            msg.deadline = None
        if head is None:
            return False
        method, target = head.method, head.target
        keep_alive = head.keep_alive
        req = Request(method, target, head.headers, reader, writer, msg)
        t0 = asyncio.get_running_loop().time()
        matched: list[str] = []
        try:
            return await self._answer(req, policy, keep_alive, matched)
        finally:
            self._finished(req, t0, matched)

    def _finished(self, req: Request, t0: float, matched: list[str]) -> None:
        """One line per request in debug mode (as dockerd's debug log has), and the
        metrics' observation. A stream or hijacked session counts until it ends."""
        observer = self.observer
        if observer is None and not log.isEnabledFor(logging.DEBUG):
            return
        took = asyncio.get_running_loop().time() - t0
        status = matched[1] if len(matched) > 1 else 0
        log.debug("%s %s %s %.1fms", req.method, req.raw_path, status or "-", took * 1000)
        if observer is not None:
            observer(req.method, req.raw_path, matched[0] if matched else "", int(status), took)

    async def _answer(
        self, req: Request, policy: Policy | None, keep_alive: bool, matched: list[str]
    ) -> bool:
        method, target, writer = req.method, req.raw_path, req.writer
        matched.append("")
        try:
            resp = await self._dispatch(req, policy, matched)
        except Exception as exc:  # noqa: BLE001 - turned into the error response
            if not isinstance(exc, EngineError) and (fault := host_fault(exc)) is not None:
                exc = fault
            if not isinstance(exc, EngineError):
                log.exception("handler failed: %s %s", method, target)
            elif status_for(exc) >= 500:
                log.warning("%s %s: %s", method, target, exc.message)
            resp = error_response(exc)
        if isinstance(resp, HijackResponse):
            matched.append("101" if req.wants_upgrade else "200")
        else:
            matched.append(str(resp.status))
        # The client may have sent a body the handler did not read.
        body_ok = await req.discard_body()
        if not body_ok:
            keep_alive = False
        if isinstance(resp, HijackResponse):
            if body_ok:  # else the stream would start inside a broken body
                await self._hijack(req, resp, writer)
            return False
        if isinstance(resp, StreamResponse):
            return await self._stream(req, resp, writer, keep_alive)
        writer.write(self._encode(resp, keep_alive, method))
        await writer.drain()
        return keep_alive

    async def _dispatch(
        self, req: Request, policy: Policy | None = None, matched: list[str] | None = None
    ) -> AnyResponse:
        path = req.path
        if path.startswith("/v") and "/" in path[1:]:
            ver, rest = path[2:].split("/", 1)
            try:
                vt = version_tuple(ver)
            except ValueError:
                vt = None
            if vt is not None:
                if vt > _API_MAX:
                    raise InvalidParameter(
                        f"client version {ver} is too new. "
                        f"Maximum supported API version is {API_VERSION}"
                    )
                if vt < _API_MIN:
                    raise InvalidParameter(
                        f"client version {ver} is too old. Minimum supported API version "
                        f"is {MIN_API_VERSION}, please upgrade your client to a newer version"
                    )
                req.api_version = ver
                path = "/" + rest
        req.path = path
        route, params, exists = self.router.match(req.method, path)
        if route is None:
            if exists:
                return Response(405, b'{"message":"method not allowed"}\n', "application/json")
            raise NotFoundRoute("page not found")
        req.match_info = params
        if matched:
            matched[0] = route.pattern  # the metrics' label: a pattern, never a raw path
        if policy is not None:
            await policy.check(req, route, self.backend)
        return await route.handler(req, self.backend)

    async def _stream(
        self, req: Request, resp: StreamResponse, writer: asyncio.StreamWriter, keep_alive: bool
    ) -> bool:
        hdrs = {"Content-Type": resp.content_type, "Transfer-Encoding": "chunked"}
        hdrs.update(resp.headers)
        if not keep_alive:
            hdrs["Connection"] = "close"
        writer.write(_head(resp.status, hdrs))
        await writer.drain()
        try:
            async for chunk in resp.chunks:
                if chunk:
                    writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    await writer.drain()
        except EngineError as exc:
            # Headers are gone already: the error travels in the stream, as dockerd does.
            err = json.dumps({"message": exc.message, "error": exc.message}).encode() + b"\n"
            writer.write(b"%x\r\n%s\r\n" % (len(err), err))
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return keep_alive

    async def _hijack(
        self, req: Request, resp: HijackResponse, writer: asyncio.StreamWriter
    ) -> None:
        if req.wants_upgrade:
            head = _head(
                101, {"Content-Type": resp.content_type, "Connection": "Upgrade", "Upgrade": "tcp"}
            )
        else:
            head = _head(200, {"Content-Type": resp.content_type, "Connection": "close"})
        writer.write(head)
        await writer.drain()
        req.hijacked = True
        await resp.session(req.reader, writer)
