"""Conversion between berth's dataclasses and Docker's CamelCase JSON.

Field names map by rule (snake_case -> CamelCase); the few names Docker spells
otherwise carry `metadata={"wire": "..."}`. Only the edge (API views, request
parsing) calls these; the engine works with the dataclasses."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


def camel(name: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in name.split("_"))


_FIELDS: dict[type, tuple[tuple[str, str], ...]] = {}


def _fields(cls: type) -> tuple[tuple[str, str], ...]:
    got = _FIELDS.get(cls)
    if got is None:
        got = _FIELDS[cls] = tuple(
            (f.name, f.metadata.get("wire") or camel(f.name))
            for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        )
    return got


def to_wire(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, wire in _fields(type(obj)):
        val = getattr(obj, name)
        if dataclasses.is_dataclass(val) and not isinstance(val, type):
            val = to_wire(val)
        out[wire] = val
    return out


def from_wire(cls: type[T], data: dict[str, Any] | None) -> T:
    """Build `cls` from a wire dict; unknown keys are ignored, null means default."""
    kwargs: dict[str, Any] = {}
    data = data or {}
    for name, wire in _fields(cls):
        if wire in data and data[wire] is not None:
            val = data[wire]
            sub = _NESTED.get((cls.__name__, name))
            if sub is not None and isinstance(val, dict):
                val = from_wire(sub, val)
            kwargs[name] = val
    return cls(**kwargs)


# (class name, field name) -> nested dataclass, registered by the models.
_NESTED: dict[tuple[str, str], type] = {}


def nested(owner: str, field: str, cls: type) -> None:
    _NESTED[(owner, field)] = cls


def storage_dict(obj: Any) -> dict[str, Any]:
    """Plain dict for the database (snake_case names, nested dataclasses expanded)."""
    return dataclasses.asdict(obj)
