"""An HTTP/1.1 request as the handlers see it: query, headers, body, hijack."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs

from berth.engine.errors import InvalidParameter

_TRUE = {"1", "true", "True", "TRUE", "yes"}
_FALSE = {"0", "false", "False", "FALSE", "no", ""}


class Request:
    """One parsed request. The body is read lazily from the connection."""

    def __init__(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.method = method
        path, _, qs = target.partition("?")
        self.raw_path = path
        self.path = path
        self.api_version: str | None = None
        self.query: dict[str, list[str]] = parse_qs(qs, keep_blank_values=True)
        self.headers = headers  # keys are lower-case
        self.match_info: dict[str, str] = {}
        self.reader = reader
        self.writer = writer
        self.hijacked = False
        self._body_state = "unread"  # unread | reading | done
        te = headers.get("transfer-encoding", "").lower()
        self._chunked = "chunked" in te
        cl = headers.get("content-length")
        try:
            self._remaining = int(cl) if cl is not None else 0
        except ValueError as exc:
            raise InvalidParameter(f"invalid Content-Length {cl!r}") from exc

    # ---- query helpers -------------------------------------------------
    def q(self, name: str, default: str | None = None) -> str | None:
        vals = self.query.get(name)
        return vals[-1] if vals else default

    def qbool(self, name: str, default: bool = False) -> bool:
        val = self.q(name)
        if val is None:
            return default
        if val in _TRUE:
            return True
        if val in _FALSE:
            return False
        raise InvalidParameter(f"invalid boolean value for {name}: {val!r}")

    def qint(self, name: str, default: int | None = None) -> int | None:
        val = self.q(name)
        if val is None or val == "":
            return default
        try:
            return int(val)
        except ValueError as exc:
            raise InvalidParameter(f"invalid value for {name}: {val!r}") from exc

    def qjson(self, name: str) -> Any:
        val = self.q(name)
        if not val:
            return None
        try:
            return json.loads(val)
        except ValueError as exc:
            raise InvalidParameter(f"invalid JSON in {name}: {exc}") from exc

    @property
    def wants_upgrade(self) -> bool:
        return "upgrade" in self.headers.get("connection", "").lower()

    # ---- body ----------------------------------------------------------
    @property
    def has_body(self) -> bool:
        return self._chunked or self._remaining > 0

    async def iter_body(self, chunk_size: int = 1 << 16) -> AsyncIterator[bytes]:
        """Yield the body as it arrives (chunked or Content-Length)."""
        if self._body_state != "unread":
            return
        self._body_state = "reading"
        reader = self.reader
        if self._chunked:
            while True:
                line = await reader.readline()
                if not line:
                    raise InvalidParameter("unexpected end of chunked body")
                size_s = line.split(b";", 1)[0].strip()
                try:
                    size = int(size_s, 16)
                except ValueError as exc:
                    raise InvalidParameter("malformed chunked body") from exc
                if size == 0:
                    # trailers until an empty line
                    while True:
                        t = await reader.readline()
                        if t in (b"\r\n", b"\n", b""):
                            break
                    break
                while size > 0:
                    data = await reader.read(min(size, chunk_size))
                    if not data:
                        raise InvalidParameter("unexpected end of chunked body")
                    size -= len(data)
                    yield data
                await reader.readline()  # CRLF after each chunk
        else:
            while self._remaining > 0:
                data = await reader.read(min(self._remaining, chunk_size))
                if not data:
                    raise InvalidParameter("unexpected end of request body")
                self._remaining -= len(data)
                yield data
        self._body_state = "done"

    async def body(self, limit: int = 64 << 20) -> bytes:
        parts: list[bytes] = []
        total = 0
        async for chunk in self.iter_body():
            total += len(chunk)
            if total > limit:
                raise InvalidParameter("request body too large")
            parts.append(chunk)
        return b"".join(parts)

    async def json(self) -> Any:
        """The body as JSON; None when empty. Malformed JSON is a 400."""
        raw = await self.body()
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise InvalidParameter(f"invalid JSON: {exc}") from exc

    async def discard_body(self) -> bool:
        """Drain an unread body so the connection can be reused. False if not possible."""
        if self._body_state == "reading":
            return False
        if self._body_state == "unread":
            try:
                async for _ in self.iter_body():
                    pass
            except InvalidParameter:
                return False
        return True
