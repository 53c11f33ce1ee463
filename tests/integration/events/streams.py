"""Read GET /events as a client does: a chunked stream of JSON lines."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.apiclient import UnixHTTPConnection


class EventStream:
    def __init__(self, sock: str, query: str = "", timeout: float = 20) -> None:
        self.conn = UnixHTTPConnection(sock, timeout=timeout)
        self.conn.request("GET", "/events" + query)
        self.resp = self.conn.getresponse()
        self.buf = b""

    def next(self) -> dict[str, Any] | None:
        """The next event; None when the daemon ended the stream."""
        while b"\n" not in self.buf:
            data = self.resp.read1(65536)
            if not data:
                return None
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)  # type: ignore[no-any-return]

    def until(self, done: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        """Events up to and including the first one `done` accepts."""
        out = []
        while True:
            e = self.next()
            assert e is not None, f"stream ended early after {[x['Action'] for x in out]}"
            out.append(e)
            if done(e):
                return out

    def rest(self) -> list[dict[str, Any]]:
        out = []
        while (e := self.next()) is not None:
            out.append(e)
        return out

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def actions(events: list[dict[str, Any]], cid: str | None = None) -> list[str]:
    return [e["Action"] for e in events if cid is None or e["Actor"]["ID"] == cid]
