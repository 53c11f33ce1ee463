"""The volume service: create, inspect, list, remove and prune volumes, and mount them
for the containers that use them. Which containers use a volume is asked of the
container service (its mount points are the references, as dockerd restores them)."""

from __future__ import annotations

import builtins
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from berth.engine.db import Database
from berth.engine.errors import Conflict, InvalidParameter, NotFound
from berth.engine.events import EventBus
from berth.engine.volumes import local
from berth.engine.volumes.model import (
    ANONYMOUS_LABEL,
    DEFAULT_DRIVER,
    PruneReport,
    Volume,
    validate_name,
)
from berth.engine.volumes.store import VolumeStore

Filters = dict[str, list[str]]
_LIST_FILTERS = ("dangling", "name", "driver", "label")
_PRUNE_FILTERS = ("label", "label!", "all")
_TRUE, _FALSE = ("1", "true"), ("0", "false")


class VolumeService:
    def __init__(
        self,
        db: Database,
        root: Path,
        *,
        events: EventBus | None = None,
        users: Callable[[str], list[str]] | None = None,
    ) -> None:
        """`users(name)`: the containers that reference a volume (their mount points, as
        dockerd restores them); `events`: where volume events go."""
        self.store = VolumeStore(db)
        self.driver = local.LocalDriver(root)
        self._users = users or (lambda name: [])
        # volume name -> containers that have it mounted right now (for mount options)
        self._active: dict[str, set[str]] = {}
        self._events = events

    def _event(self, name: str, action: str, **attrs: str) -> None:
        if self._events is not None:
            self._events.publish("volume", action, name, {"driver": DEFAULT_DRIVER, **attrs})

    # ---- lookups -------------------------------------------------------
    def get(self, name: str) -> Volume:
        v = self.store.get(name)
        if v is None:
            raise NotFound(f"get {name}: no such volume")
        return v

    def maybe(self, name: str) -> Volume | None:
        return self.store.get(name)

    def users(self, name: str) -> list[str]:
        return self._users(name)

    def list(self, filters: Filters | None = None) -> list[Volume]:
        flt = filters or {}
        _check_keys(flt, _LIST_FILTERS)
        dangling: bool | None = None
        if "dangling" in flt:
            dangling = _bool_filter(flt, "dangling")
        out = []
        for v in sorted(self.store.all(), key=lambda v: v.name):
            if flt.get("driver") and v.driver not in flt["driver"]:
                continue
            if flt.get("name") and not any(_name_match(p, v.name) for p in flt["name"]):
                continue
            if not _labels_match(v.labels or {}, flt.get("label") or []):
                continue
            if dangling is not None and bool(self._users(v.name)) == dangling:
                continue
            out.append(v)
        return out

    # ---- create / remove -----------------------------------------------
    def create(
        self,
        name: str = "",
        driver: str = "",
        opts: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
    ) -> tuple[Volume, bool]:
        """The volume (existing, or made now) and whether it was made now. An empty
        name makes an anonymous volume with a random name."""
        if not name:
            import secrets

            name = secrets.token_hex(32)
            labels = {**(labels or {}), ANONYMOUS_LABEL: ""}
        else:
            validate_name(name)
        driver = driver or DEFAULT_DRIVER
        if driver != DEFAULT_DRIVER:
            raise NotFound(
                f'create {name}: error looking up volume plugin {driver}: plugin "{driver}" '
                "not found"
            )
        existing = self.store.get(name)
        if existing is not None:
            return existing, False
        try:
            local.validate_opts(opts)
        except InvalidParameter as exc:
            raise InvalidParameter(f"create {name}: {exc.message}") from None
        path = self.driver.create(name)
        v = Volume(
            name=name,
            driver=driver,
            mountpoint=path,
            created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            labels=labels,
            options=opts,
        )
        try:
            self.store.add(v)
        except BaseException:
            self.driver.remove(name)
            raise
        self._event(name, "create")
        return v, True

    def remove(self, name: str, force: bool = False) -> None:
        v = self.store.get(name)
        if v is None:
            if force:
                return
            raise NotFound(f"get {name}: no such volume")
        refs = self._users(name)
        if refs:
            raise Conflict(f"remove {name}: volume is in use - [{', '.join(refs)}]")
        self._drop(v)

    def _drop(self, v: Volume) -> None:
        self.driver.remove(v.name)
        self.store.delete(v.name)
        self._active.pop(v.name, None)
        self._event(v.name, "destroy")

    def prune(self, filters: Filters | None = None) -> PruneReport:
        """Unused local volumes without mount options: anonymous ones only, unless the
        filter says all=true (what API < 1.42 clients get)."""
        flt = dict(filters or {})
        _check_keys(flt, _PRUNE_FILTERS)
        everything = False
        if "all" in flt:
            if len(flt["all"]) > 1:
                raise InvalidParameter(
                    f"invalid filter 'all=[{' '.join(flt['all'])}]': only one value is expected"
                )
            val = flt["all"][0].lower() if flt["all"] else ""
            if val not in _TRUE + _FALSE + ("t", "f"):
                raise InvalidParameter(
                    f"invalid filter 'all': strconv.ParseBool: parsing \"{flt['all'][0]}\": "
                    "invalid syntax"
                )
            everything = val in ("1", "true", "t")
        rep = PruneReport()
        for v in sorted(self.store.all(), key=lambda v: v.name):
            if v.driver != DEFAULT_DRIVER or v.options or self._users(v.name):
                continue
            if not everything and not v.anonymous:
                continue
            labels = v.labels or {}
            if not _labels_match(labels, flt.get("label") or []):
                continue
            if flt.get("label!") and any(_labels_match(labels, [neg]) for neg in flt["label!"]):
                continue
            size = local.dir_size(v.mountpoint)
            try:
                self._drop(v)
            except Exception:  # noqa: BLE001 - dockerd skips what it cannot remove
                continue
            rep.deleted.append(v.name)
            rep.space_reclaimed += size
        return rep

    def usage(self) -> builtins.list[dict[str, Any]]:
        """Volumes with UsageData (size on disk, references), for `system df`."""
        out = []
        for v in self.list():
            d = v.to_api()
            size = -1 if v.options else local.dir_size(v.mountpoint)
            d["UsageData"] = {"Size": size, "RefCount": len(self._users(v.name))}
            out.append(d)
        return out

    # ---- container use ---------------------------------------------------
    def acquire(self, name: str, ref: str, *, destination: str = "", rw: bool = True) -> str:
        """Make the volume ready for container `ref` (mounting its filesystem for the
        first user when it has mount options); returns the host path to bind."""
        v = self.get(name)
        users = self._active.setdefault(name, set())
        if local.needs_mount(v.options) and not users:
            self.driver.mount(name, v.options or {})
        users.add(ref)
        self._event(
            name,
            "mount",
            container=ref,
            destination=destination,
            propagation="",
            **{"read/write": "true" if rw else "false"},
        )
        return v.mountpoint

    def release(self, name: str, ref: str) -> None:
        users = self._active.get(name)
        if users is not None:
            if ref in users:
                self._event(name, "unmount", container=ref)
            users.discard(ref)
        if users:
            return
        self._active.pop(name, None)
        v = self.store.get(name)
        if v is not None and local.needs_mount(v.options):
            self.driver.unmount(name)

    def adopt(self, name: str, ref: str) -> None:
        """Count a container that kept running across a daemon restart as a user."""
        if self.store.get(name) is not None:
            self._active.setdefault(name, set()).add(ref)


def _check_keys(flt: Filters, accepted: tuple[str, ...]) -> None:
    for k in flt:
        if k not in accepted:
            raise InvalidParameter(f"invalid filter '{k}'")


def _bool_filter(flt: Filters, key: str) -> bool:
    vals = {v.lower() for v in flt[key]}
    is_true = bool(vals & set(_TRUE))
    is_false = bool(vals & set(_FALSE))
    if is_true == is_false:
        raise InvalidParameter(f"invalid filter '{key}={','.join(flt[key])}'")
    return is_true


def _name_match(pattern: str, name: str) -> bool:
    if pattern == name:
        return True
    try:
        return re.search(pattern, name) is not None
    except re.error:
        return False


def _labels_match(labels: dict[str, str], wanted: list[str]) -> bool:
    for w in wanted:
        k, eq, val = w.partition("=")
        if k not in labels or (eq and labels[k] != val):
            return False
    return True
