"""The daemon's event stream (GET /events): an in-memory bus with a bounded history.

Every lifecycle action publishes one message in dockerd's shape; subscribers get the
buffered messages they asked for (`since`/`until`) and then the live ones. The filter
rules are dockerd's (daemon/events/filter.go): `type`, `event` and `image` match
exactly, names and ids of the other kinds by prefix, `label` against the attributes.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from berth.engine.errors import InvalidParameter
from berth.engine.filters import normalize

# dockerd keeps this many messages for `since` queries (daemon/events: eventsLimit)
HISTORY = 256
# a subscriber that falls this far behind is dropped rather than buffering forever
QUEUE_LIMIT = 1024

FILTER_KEYS = frozenset(
    {
        "config",
        "container",
        "daemon",
        "event",
        "image",
        "label",
        "network",
        "node",
        "plugin",
        "scope",
        "secret",
        "service",
        "type",
        "volume",
    }
)
# kinds whose filter matches the actor's id or name by prefix
_NAMED_KINDS = (
    "container",
    "daemon",
    "plugin",
    "volume",
    "network",
    "node",
    "service",
    "secret",
    "config",
)
# dockerd matches these event names by prefix ("exec_start: sh -c ..." is one action)
_FUZZY_ACTIONS = frozenset({"health_status", "exec_create", "exec_start"})


@dataclass(frozen=True)
class Event:
    type: str
    action: str
    actor_id: str
    attributes: Mapping[str, str]
    time_nano: int
    scope: str = "local"

    def to_wire(self) -> dict[str, Any]:
        """dockerd's events.Message, keys in its order; the legacy status/id/from are set
        for containers and images only, as dockerd does."""
        out: dict[str, Any] = {}
        if self.type in ("container", "image"):
            out["status"] = self.action
            out["id"] = self.actor_id
            if self.type == "container" and self.attributes.get("image"):
                out["from"] = self.attributes["image"]
        out["Type"] = self.type
        out["Action"] = self.action
        out["Actor"] = {"ID": self.actor_id, "Attributes": dict(sorted(self.attributes.items()))}
        out["scope"] = self.scope
        out["time"] = self.time_nano // 1_000_000_000
        out["timeNano"] = self.time_nano
        return out


# ---- filters -----------------------------------------------------------------


def normalize_filters(raw: object) -> dict[str, list[str]]:
    """The filters query value in either wire form, with unknown keys refused."""
    return normalize(raw, FILTER_KEYS)


def _exact(flt: Mapping[str, list[str]], key: str, value: str) -> bool:
    vals = flt.get(key)
    return not vals or value in vals


def _fuzzy(flt: Mapping[str, list[str]], key: str, value: str) -> bool:
    vals = flt.get(key)
    return not vals or any(value == v or value.startswith(v) for v in vals)


def _strip_tag(ref: str) -> str:
    """An image reference without its tag (a colon after the last slash)."""
    if "@" in ref:
        return ref
    slash, colon = ref.rfind("/"), ref.rfind(":")
    return ref[:colon] if colon > slash else ref


def _labels_match(flt: Mapping[str, list[str]], attrs: Mapping[str, str]) -> bool:
    for spec in flt.get("label") or []:
        k, eq, v = spec.partition("=")
        if k not in attrs or (eq and attrs[k] != v):
            return False
    return True


def matches(flt: Mapping[str, list[str]], ev: Event) -> bool:
    """Whether the event passes every filter (an absent filter passes everything)."""
    if any(a in _FUZZY_ACTIONS for a in flt.get("event") or []):
        if not _fuzzy(flt, "event", ev.action):
            return False
    elif not _exact(flt, "event", ev.action):
        return False
    if not _exact(flt, "type", ev.type) or not _exact(flt, "scope", ev.scope):
        return False
    name = ev.attributes.get("name", "")
    for kind in _NAMED_KINDS:
        if kind in flt and not (_fuzzy(flt, kind, ev.actor_id) or _fuzzy(flt, kind, name)):
            return False
    if flt.get("image"):
        # container events name their image in "image", image events in "name"
        img = ev.attributes.get("name" if ev.type == "image" else "image", "")
        cands = {ev.actor_id, img, _strip_tag(ev.actor_id), _strip_tag(img)}
        if not any(c in flt["image"] for c in cands):
            return False
    return _labels_match(flt, ev.attributes)


# ---- since / until -------------------------------------------------------------

_DUR_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DUR_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9}
_DUR_NS["h"] = 3600 * 10**9


def _duration_ns(text: str) -> int | None:
    body = text.lstrip("+-")
    if not body:
        return None
    total, pos = 0, 0
    for m in _DUR_RE.finditer(body):
        if m.start() != pos:
            return None
        total += int(float(m.group(1)) * _DUR_NS[m.group(2)])
        pos = m.end()
    if pos != len(body):
        return None
    return -total if text.startswith("-") else total


def parse_time(value: str | None, now_ns: int | None = None) -> int | None:
    """A since/until value as unix nanoseconds: "sec[.frac]" (what docker clients send),
    RFC3339, or a Go duration meaning that long ago. None when absent."""
    if value is None or value == "":
        return None
    sec, dot, frac = value.partition(".")
    if sec.lstrip("-").isdigit() and (not dot or frac.isdigit()):
        ns = int(sec) * 10**9
        if frac:
            ns += int(frac[:9].ljust(9, "0")) * (-1 if sec.startswith("-") else 1)
        return ns
    dur = _duration_ns(value)
    if dur is not None:
        return (time.time_ns() if now_ns is None else now_ns) - dur
    from berth.engine.clock import parse_rfc3339

    try:
        return round(parse_rfc3339(value) * 1_000_000) * 1000
    except ValueError:
        raise InvalidParameter(
            f"failed to parse value {value!r} as a timestamp: use unix seconds or RFC3339"
        ) from None


# ---- the bus ---------------------------------------------------------------------


@dataclass(eq=False)
class Subscription:
    filters: Mapping[str, list[str]]
    queue: asyncio.Queue[Event | None] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_LIMIT + 1)
    )
    dropped: bool = False

    async def get(self) -> Event | None:
        """The next matching event; None once the bus dropped this subscriber."""
        return await self.queue.get()


class EventBus:
    """Publish lifecycle events; keep the last HISTORY for `since` queries."""

    def __init__(self, history: int = HISTORY) -> None:
        self._ring: deque[Event] = deque(maxlen=history)
        self._subs: set[Subscription] = set()
        self._last_ns = 0

    @property
    def listeners(self) -> int:
        return len(self._subs)

    def _now_ns(self) -> int:
        # strictly increasing, so "until = an event's timeNano" is unambiguous
        now = max(time.time_ns(), self._last_ns + 1)
        self._last_ns = now
        return now

    def publish(
        self, type_: str, action: str, actor_id: str, attributes: Mapping[str, str]
    ) -> Event:
        ev = Event(type_, action, actor_id, dict(attributes), self._now_ns())
        self._ring.append(ev)
        for sub in list(self._subs):
            if not matches(sub.filters, ev):
                continue
            if sub.queue.qsize() >= QUEUE_LIMIT:
                # too slow a reader: end its stream rather than hold memory for it
                self._subs.discard(sub)
                sub.dropped = True
                sub.queue.put_nowait(None)
                continue
            sub.queue.put_nowait(ev)
        return ev

    def container(self, c: Any, action: str, extra: Mapping[str, str] | None = None) -> Event:
        """A container event: its labels, image and name as attributes, plus `extra`."""
        attrs: dict[str, str] = dict(extra or {})
        for k, v in (c.config.labels or {}).items():
            attrs[k] = v
        if c.config.image:
            attrs["image"] = c.config.image
        attrs["name"] = c.name.lstrip("/")
        return self.publish("container", action, c.id, attrs)

    def image(self, image_id: str, action: str, name: str = "") -> Event:
        return self.publish("image", action, image_id, {"name": name or image_id})

    def history(
        self, flt: Mapping[str, list[str]], since_ns: int | None, until_ns: int | None
    ) -> list[Event]:
        """Buffered events for a subscriber: none unless since or until is given."""
        if since_ns is None and until_ns is None:
            return []
        lo = since_ns or 0
        return [
            ev
            for ev in self._ring
            if ev.time_nano >= lo
            and (until_ns is None or ev.time_nano <= until_ns)
            and matches(flt, ev)
        ]

    def subscribe(self, flt: Mapping[str, list[str]]) -> Subscription:
        sub = Subscription(flt)
        self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)
