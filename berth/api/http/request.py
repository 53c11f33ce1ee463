"""An HTTP/1.1 request as the handlers see it: query, headers, body, hijack."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs

from berth.api.http.parser import FramingError, MessageReader
from berth.engine.errors import InvalidParameter

_TRUE = {"1", "true", "True", "TRUE", "yes"}
_FALSE = {"0", "false", "False", "FALSE", "no", ""}


_MISSING: Any = object()
MAX_JSON_BODY = 64 << 20
MAX_JSON_DEPTH = 256
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_BRACKET = re.compile(rb"[\[\]{}]")


def _too_deep(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether arrays and objects nest deeper than `limit` (strings do not count)."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    depth = 0
    for m in _BRACKET.finditer(_JSON_STRING.sub(b"", raw)):
        if m.group() in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def check_json_content_type(content_type: str, has_body: bool) -> None:
    """dockerd's CheckForJSON: no Content-Type is fine without a body; otherwise the
    media type must be application/json (parameters allowed). A browser's "simple"
    request (text/plain, a form) is refused here: that is the CSRF guard."""
    if content_type == "application/json" or (not content_type and not has_body):
        return
    mediatype, err = parse_media_type(content_type)
    if err:
        raise InvalidParameter(f"malformed Content-Type header ({content_type}): mime: {err}")
    if mediatype != "application/json":
        raise InvalidParameter(
            f"unsupported Content-Type header ({content_type}): must be 'application/json'"
        )


_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


def parse_media_type(value: str) -> tuple[str, str]:
    """(lower-case type/subtype, error) as Go's mime.ParseMediaType judges them."""
    base, _, params = value.partition(";")
    base = base.strip().lower()
    if not base:
        return "", "no media type"
    major, slash, minor = base.partition("/")
    if not _TOKEN.match(major):
        return "", "no media type"
    if not slash:
        return "", "expected slash after first token"
    if not _TOKEN.match(minor):
        return "", "expected token after slash"
    for p in params.split(";"):
        p = p.strip()
        if not p:
            continue
        k, eq, v = p.partition("=")
        v = v.strip()
        if not eq or not _TOKEN.match(k.strip()) or not v:
            return "", "invalid media parameter"
        if not (_TOKEN.match(v) or (len(v) >= 2 and v[0] == v[-1] == '"')):
            return "", "invalid media parameter"
    return base, ""


def version_tuple(v: str) -> tuple[int, ...]:
    """ "1.42" -> (1, 42); ValueError for what is no API version."""
    return tuple(int(p) for p in v.split("."))


class Request:
    """One parsed request. The body is read lazily from the connection."""

    def __init__(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        message: MessageReader | None = None,
    ) -> None:
        self.method = method
        path, _, qs = target.partition("?")
        self.raw_path = path
        self.path = path
        # the /vX.Y prefix's version; None when the path has none (the newest)
        self.api_version: str | None = None
        self.query: dict[str, list[str]] = parse_qs(qs, keep_blank_values=True)
        self.headers = headers  # keys are lower-case
        self.match_info: dict[str, str] = {}
        self.reader = reader
        self.writer = writer
        self.hijacked = False
        self._message = message
        self._body_state = "unread"  # unread | reading | done
        self._json: Any = _MISSING

    def at_least(self, version: str) -> bool:
        """Whether the client speaks API `version` or newer (the one place a handler
        asks). A request without a version in its path means the newest."""
        return self.api_version is None or version_tuple(self.api_version) >= version_tuple(version)

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
        return self._message is not None and self._message.has_body

    async def iter_body(self, chunk_size: int = 1 << 16) -> AsyncIterator[bytes]:
        """Yield the body as it arrives (chunked or Content-Length), never buffered."""
        if self._body_state != "unread":
            return
        self._body_state = "reading"
        if self.has_body and self.headers.get("expect", "").lower() == "100-continue":
            self.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # curl waits for it
        if self._message is not None:
            try:
                async for chunk in self._message.body(chunk_size):
                    yield chunk
            except FramingError as exc:  # the connection closes after the answer
                raise InvalidParameter(exc.message) from None
        self._body_state = "done"

    async def body(self, limit: int = MAX_JSON_BODY) -> bytes:
        parts: list[bytes] = []
        total = 0
        async for chunk in self.iter_body():
            total += len(chunk)
            if total > limit:
                raise InvalidParameter("request body too large")
            parts.append(chunk)
        return b"".join(parts)

    async def json(self) -> Any:
        """The body as JSON; None when empty. Decoded once: a second call returns the
        same object (a socket's policy reads it before the handler does).

        The body must be application/json (dockerd's CheckForJSON), nest at most
        MAX_JSON_DEPTH deep and hold at most MAX_JSON_BODY bytes; anything else is a
        400 with a message, never an exception's text."""
        if self._json is not _MISSING:
            return self._json
        check_json_content_type(self.headers.get("content-type", ""), self.has_body)
        cl = self.headers.get("content-length")
        if cl and int(cl) > MAX_JSON_BODY:
            raise InvalidParameter("request body too large")
        raw = await self.body()
        value: Any = None
        if raw.strip():
            if _too_deep(raw):
                raise InvalidParameter(
                    f"invalid JSON: nested deeper than {MAX_JSON_DEPTH} arrays or objects"
                )
            try:
                value = json.loads(raw, parse_constant=_no_constant)
            except RecursionError:
                raise InvalidParameter("invalid JSON: nested too deep") from None
            except ValueError as exc:
                raise InvalidParameter(f"invalid JSON: {exc}") from None
        self._json = value
        return value

    async def discard_body(self, limit: int = 256 << 10) -> bool:
        """Drain an unread body so the connection can be reused. False if not possible:
        a broken body, or more than `limit` bytes of it (as Go's net/http, the
        connection is closed rather than reading gigabytes nobody wants)."""
        if self._body_state == "reading":
            return False
        if self._body_state == "unread" and not self.has_body:
            self._body_state = "done"
        elif self._body_state == "unread":
            cl = self.headers.get("content-length")
            if cl is not None and int(cl) > limit:
                return False
            total = 0
            try:
                async for chunk in self.iter_body():
                    total += len(chunk)
                    if total > limit:
                        return False
            except InvalidParameter:
                return False
        return True


def _no_constant(name: str) -> Any:
    """NaN and Infinity are not JSON: Go's decoder refuses them, and so does berth."""
    raise ValueError(f"invalid character {name[0]!r} looking for beginning of value")
