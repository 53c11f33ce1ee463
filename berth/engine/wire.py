"""Conversion between berth's dataclasses and Docker's CamelCase JSON.

Field names map by rule (snake_case -> CamelCase); the few names Docker spells
otherwise carry `metadata={"wire": "..."}`. Only the edge (API views, request
parsing) calls these; the engine works with the dataclasses."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, TypeVar

from berth.engine.errors import InvalidParameter

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


class DecodeError(InvalidParameter):
    """A request field whose JSON type is not the one the Engine API declares (a 400). The
    text is Go's encoding/json wording, which clients and scripts know from dockerd."""


# Go's names for the JSON kinds and for berth's field types, as encoding/json prints them
_JSON_KIND = {bool: "bool", str: "string", int: "number", float: "number", list: "array",
              dict: "object"}  # fmt: skip
_INT64 = (-(1 << 63), (1 << 63) - 1)


def _go_type(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        return _go_type(next(a for a in typing.get_args(tp) if a is not type(None)))
    if origin is list:
        return "[]" + _go_type(typing.get_args(tp)[0])
    if origin is dict:
        k, v = typing.get_args(tp)
        return f"map[{_go_type(k)}]{_go_type(v)}"
    return {bool: "bool", str: "string", int: "int64", float: "float64"}.get(
        tp, "interface {}" if tp is Any else getattr(tp, "__name__", str(tp))
    )


def json_kind(val: Any) -> str:
    """Go's name for the JSON kind of `val` in an unmarshal error."""
    if isinstance(val, int | float) and not isinstance(val, bool):
        return f"number {val!r}" if isinstance(val, float) or not _fits(val) else "number"
    return _JSON_KIND.get(type(val), type(val).__name__)


def _fits(val: int) -> bool:
    return _INT64[0] <= val <= _INT64[1]


def _matches(tp: Any, val: Any) -> bool:
    """Does JSON value `val` decode into Go type `tp` (no coercion, as encoding/json)?"""
    if tp is Any:
        return True
    if val is None:
        return True  # null leaves a Go value at its zero value
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        return any(_matches(a, val) for a in typing.get_args(tp) if a is not type(None))
    if origin is list:
        (item,) = typing.get_args(tp)
        return isinstance(val, list) and all(_matches(item, v) for v in val)
    if origin is dict:
        _, item = typing.get_args(tp)
        return isinstance(val, dict) and all(_matches(item, v) for v in val.values())
    if tp is bool:
        return isinstance(val, bool)
    if tp is int:
        # Go refuses 1.0, 1e3 and anything beyond int64 for an integer field
        return isinstance(val, int) and not isinstance(val, bool) and _fits(val)
    if tp is float:
        return isinstance(val, int | float) and not isinstance(val, bool)
    if tp is str:
        return isinstance(val, str)
    if dataclasses.is_dataclass(tp):
        return isinstance(val, dict)
    return True


def _hints(cls: type) -> dict[str, Any]:
    got = _HINTS.get(cls)
    if got is None:
        got = _HINTS[cls] = typing.get_type_hints(cls)
    return got


_HINTS: dict[type, dict[str, Any]] = {}


def from_wire(cls: type[T], data: dict[str, Any] | None, *, path: str = "") -> T:
    """Build `cls` from a wire dict; unknown keys are ignored, null means default. Each
    value must have the JSON type of its field, as Go's decoder insists (a "false" string
    is no boolean): else DecodeError. `path` names the struct in the message
    ("HostConfig"); fields marked `strslice` take a string as a one-element list, as
    Docker's strslice type does for Cmd and Entrypoint."""
    kwargs: dict[str, Any] = {}
    data = data or {}
    struct = path or getattr(cls, "__name__", "")
    hints = _hints(cls)
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        wire = f.metadata.get("wire") or camel(f.name)
        if wire not in data or data[wire] is None:
            continue
        val = data[wire]
        tp = hints[f.name]
        if f.metadata.get("strslice") and isinstance(val, str):
            val = [val]
        if not _matches(tp, val):
            raise DecodeError(
                f"json: cannot unmarshal {json_kind(_offender(tp, val))} into Go struct field "
                f"{struct}.{wire} of type {_go_type(tp)}"
            )
        sub = _NESTED.get((cls.__name__, f.name))
        if sub is not None and isinstance(val, dict):
            val = from_wire(sub, val, path=f"{struct}.{wire}")
        kwargs[f.name] = val
    return cls(**kwargs)


def _offender(tp: Any, val: Any) -> Any:
    """The innermost value that does not fit (Go names that one, not the whole array)."""
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return _offender(inner[0], val) if len(inner) == 1 else val
    if origin is list and isinstance(val, list):
        (item,) = typing.get_args(tp)
        return next((_offender(item, v) for v in val if not _matches(item, v)), val)
    if origin is dict and isinstance(val, dict):
        _, item = typing.get_args(tp)
        return next((_offender(item, v) for v in val.values() if not _matches(item, v)), val)
    return val


def field(data: dict[str, Any], key: str, tp: type[T], struct: str, default: T) -> T:
    """One typed field of a request object that has no dataclass of its own (exec, network
    bodies): `default` when absent or null, DecodeError when of another JSON type."""
    val = data.get(key)
    if val is None:
        return default
    if not _matches(tp, val):
        raise DecodeError(
            f"json: cannot unmarshal {json_kind(val)} into Go struct field {struct}.{key} "
            f"of type {_go_type(tp)}"
        )
    return typing.cast(T, val)


# (class name, field name) -> nested dataclass, registered by the models.
_NESTED: dict[tuple[str, str], type] = {}


def nested(owner: str, field: str, cls: type) -> None:
    _NESTED[(owner, field)] = cls


def storage_dict(obj: Any) -> dict[str, Any]:
    """Plain dict for the database (snake_case names, nested dataclasses expanded)."""
    return dataclasses.asdict(obj)
