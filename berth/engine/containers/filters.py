"""`docker ps` filters and their rules (status, name, label, id, ancestor, exited...)."""

from __future__ import annotations

import re
from collections.abc import Callable

from berth.engine.containers import mounts
from berth.engine.containers.model import Container
from berth.engine.errors import InvalidParameter

_STATUSES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")
_HEALTH = ("starting", "healthy", "unhealthy", "none")
_KNOWN = {
    "status",
    "name",
    "label",
    "id",
    "ancestor",
    "exited",
    "before",
    "since",
    "volume",
    "network",
    "publish",
    "expose",
    "health",
    "isolation",
    "is-task",
}


def _label_match(labels: dict[str, str], spec: str) -> bool:
    k, eq, v = spec.partition("=")
    if not eq:
        return k in labels
    return labels.get(k) == v


def build(
    filters: dict[str, list[str]],
    resolve: Callable[[str], Container],
    image_matches: Callable[[Container, str], bool],
) -> Callable[[Container], bool]:
    for key in filters:
        if key not in _KNOWN:
            raise InvalidParameter(f"invalid filter '{key}'")
    for s in filters.get("status", []):
        if s not in _STATUSES:
            raise InvalidParameter(f"invalid filter 'status={s}'")
    exited: list[int] = []
    for e in filters.get("exited", []):
        try:
            exited.append(int(e))
        except ValueError as exc:
            raise InvalidParameter(f"invalid filter 'exited={e}'") from exc
    for h in filters.get("health", []):
        if h not in _HEALTH:
            raise InvalidParameter(f"Unrecognised filter value for health: {h}")
    names = [re.compile(n) for n in filters.get("name", [])]
    before = [resolve(b).created for b in filters.get("before", [])]
    since = [resolve(s).created for s in filters.get("since", [])]

    def ok(c: Container) -> bool:
        if "status" in filters and c.state.status not in filters["status"]:
            return False
        if names and not any(rx.search("/" + c.name) for rx in names):
            return False
        if "id" in filters and not any(c.id.startswith(i) for i in filters["id"]):
            return False
        labels = c.config.labels or {}
        if "label" in filters and not all(_label_match(labels, s) for s in filters["label"]):
            return False
        if exited and (c.state.status != "exited" or c.state.exit_code not in exited):
            return False
        if "ancestor" in filters and not any(image_matches(c, a) for a in filters["ancestor"]):
            return False
        if before and not all(c.created < b for b in before):
            return False
        if since and not all(c.created > s for s in since):
            return False
        if "health" in filters and _health(c) not in filters["health"]:
            return False
        if "volume" in filters and not _uses_volume(c, filters["volume"]):
            return False
        if "network" in filters and not _on_network(c, filters["network"]):
            return False
        return True

    return ok


def _health(c: Container) -> str:
    """dockerd's health for the filter: "none" without a healthcheck."""
    if not c.state.health:
        return "none"
    return str(c.state.health.get("Status") or "none")


def _on_network(c: Container, values: list[str]) -> bool:
    """dockerd's rule: a network named exactly, or whose id starts with the value."""
    nets = c.networks or {}
    mode = c.host_config.network_mode
    for v in values:
        if v in nets or (mode in ("host", "none") and v == mode):
            return True
        if v and any((ep or {}).get("NetworkID", "").startswith(v) for ep in nets.values()):
            return True
    return False


def _uses_volume(c: Container, values: list[str]) -> bool:
    """A mount whose volume name (or host source for a bind) or destination is listed."""
    for m in mounts.api_list(c.mount_points):
        keys = {m.get("Destination"), m.get("Name") or m.get("Source")}
        if keys & set(values):
            return True
    return False
