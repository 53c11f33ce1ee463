"""A small HTTP/1.1 server on asyncio streams.

berth owns its HTTP layer instead of using aiohttp (the DESIGN's first choice):
Docker's attach and exec hijack the connection (`Upgrade: tcp`) and rely on
half-closing it, which needs the raw streams; and the daemon's idle memory and
start-up time stay small with the standard library alone."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from berth.api.errors import status_for
from berth.api.http.request import Request
from berth.api.http.response import AnyResponse, HijackResponse, Response, StreamResponse
from berth.api.http.router import Router, version_tuple
from berth.constants import API_VERSION, MIN_API_VERSION
from berth.engine.errors import EngineError, InvalidParameter, NotFound

log = logging.getLogger("berth.api")

_REASONS = {
    101: "UPGRADED",
    200: "OK",
    201: "Created",
    204: "No Content",
    304: "Not Modified",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
}
_COMMON_HEADERS = (
    f"Api-Version: {API_VERSION}\r\nDocker-Experimental: false\r\nOstype: linux\r\n"
    "Server: berth/0.1 (linux)\r\n"
)
_MAX_HEAD = 1 << 20
_API_MAX = version_tuple(API_VERSION)
_API_MIN = version_tuple(MIN_API_VERSION)


class NotFoundRoute(NotFound):
    pass


def _head(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\n", _COMMON_HEADERS]
    lines += [f"{k}: {v}\r\n" for k, v in headers.items()]
    lines.append("\r\n")
    return "".join(lines).encode("latin-1")


def error_response(exc: BaseException) -> Response:
    status = status_for(exc)
    msg = exc.message if isinstance(exc, EngineError) else f"{type(exc).__name__}: {exc}"
    return Response(status, json.dumps({"message": msg}).encode() + b"\n", "application/json")


class HTTPServer:
    def __init__(self, router: Router, backend: Any) -> None:
        self.router = router
        self.backend = backend
        self.connections: set[asyncio.Task[None]] = set()

    async def handle_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.connections.add(task)
        try:
            while True:
                keep = await self._one_request(reader, writer)
                if not keep:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        except Exception:  # a bug in berth: never let it kill the server
            log.exception("connection failed")
        finally:
            self.connections.discard(task)
            try:
                writer.close()
            except Exception:
                pass

    async def _one_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False
        except asyncio.LimitOverrunError:
            writer.write(_head(431, {"Content-Length": "0", "Connection": "close"}))
            return False
        if len(head) > _MAX_HEAD:
            return False
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, version = lines[0].split(" ", 2)
        except ValueError:
            writer.write(_head(400, {"Content-Length": "0", "Connection": "close"}))
            return False
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if not line:
                continue
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        keep_alive = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        try:
            req = Request(method, target, headers, reader, writer)
            resp = await self._dispatch(req)
        except Exception as exc:  # noqa: BLE001 - turned into the error response
            if not isinstance(exc, EngineError):
                log.exception("handler failed: %s %s", method, target)
            elif status_for(exc) >= 500:
                log.warning("%s %s: %s", method, target, exc.message)
            req_ok = "req" in locals()
            resp = error_response(exc)
            if not req_ok:
                keep_alive = False
        if isinstance(resp, HijackResponse):
            await self._hijack(req, resp, writer)
            return False
        # The client may have sent a body the handler did not read.
        if not await req.discard_body():
            keep_alive = False
        if isinstance(resp, StreamResponse):
            return await self._stream(req, resp, writer, keep_alive)
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
        writer.write(out)
        await writer.drain()
        return keep_alive

    async def _dispatch(self, req: Request) -> AnyResponse:
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
        if (
            route.min_version
            and req.api_version
            and (version_tuple(req.api_version) < version_tuple(route.min_version))
        ):
            raise NotFoundRoute("page not found")
        req.match_info = params
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
