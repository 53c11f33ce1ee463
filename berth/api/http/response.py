"""What handlers return: a whole body, a streamed body, or a hijacked connection."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def json_response(obj: Any, status: int = 200) -> Response:
    return Response(status, json.dumps(obj).encode() + b"\n", "application/json")


def empty(status: int = 204) -> Response:
    return Response(status)


@dataclass
class StreamResponse:
    """A chunked response; headers go out before the first chunk is produced,
    so a client waiting for them (docker's `wait`) is released at once."""

    chunks: AsyncIterator[bytes]
    status: int = 200
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


Session = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class HijackResponse:
    """Take over the connection (attach, exec start): the server answers
    `101 UPGRADED` (or 200 for a client that did not ask to upgrade), then runs
    the session on the raw streams and closes the connection afterwards."""

    session: Session
    content_type: str = "application/vnd.docker.raw-stream"


AnyResponse = Response | StreamResponse | HijackResponse
