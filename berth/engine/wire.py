"""Conversion between berth's dataclasses and Docker's CamelCase JSON.

Field names map by rule (snake_case -> CamelCase); the few names Docker spells
otherwise carry `metadata={"wire": "..."}`. Only the edge (API views, request
parsing) calls these; the engine works with the dataclasses, or with JSON this module
has already checked.

Decoding follows Go's encoding/json, which dockerd decodes every body with:

| JSON            | into                  | rule                                              |
|-----------------|-----------------------|---------------------------------------------------|
| null            | anything              | leaves the zero value (a field keeps its default) |
| true/false      | bool only             | "false" (a string) is no boolean                  |
| number          | int                   | integral and in range (int64 unless said), else   |
|                 |                       | `number 1.5` / `number 1e30` in the message        |
| string          | str only              |                                                   |
| array / object  | list[T] / dict[str,T] | every element decoded against T                   |
| object          | a dataclass           | keys matched exactly, else case-insensitively;    |
|                 |                       | unknown keys ignored                              |

The first mismatch in document order is reported in Go's words: `json: cannot unmarshal
string into Go struct field CreateRequest.Env of type []string` -- the innermost struct
type's name, then the path of JSON keys from the root (map keys and array indexes are not
part of it), then the Go type. dockerd prefixes "invalid JSON: " (see `body_error`).

Go's type names are given with `Annotated[int, Go("int")]` where they are not the
default ("int64" for int, "string", "bool", "[]T", "map[string]T", a dataclass's `GO`).
A field whose value berth keeps as JSON (PortBindings, Mounts, ...) declares its Go
shape in `metadata={"shape": ...}`: the value is checked against the shape and its keys
are put in Docker's spelling, and it stays JSON."""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Go:
    """Go's name for a field's type, and for integers their range (`uint16`: 0..65535)."""

    name: str
    lo: int | None = None
    hi: int | None = None


INT64 = (-(1 << 63), (1 << 63) - 1)

# common Go integer types
GoInt = typing.Annotated[int, Go("int", *INT64)]
GoUint = typing.Annotated[int, Go("uint", 0, (1 << 64) - 1)]
GoUint16 = typing.Annotated[int, Go("uint16", 0, 65535)]
GoUint32 = typing.Annotated[int, Go("uint32", 0, (1 << 32) - 1)]
GoUint64 = typing.Annotated[int, Go("uint64", 0, (1 << 64) - 1)]
Duration = typing.Annotated[int, Go("time.Duration", *INT64)]


def named(go_name: str) -> Any:
    """A Go string type with a name of its own (`container.NetworkMode`)."""
    return typing.Annotated[str, Go(go_name)]


_JSON_KIND = {bool: "bool", str: "string", list: "array", dict: "object"}


def _number_text(val: int | float) -> str:
    """The number as Go quotes the literal (`1e30`, `1.5`): Python's repr, with the
    exponent's "+" dropped."""
    if isinstance(val, float):
        if math.isinf(val) or math.isnan(val):
            return "1e999"
        return repr(val).replace("e+", "e")
    return str(val)


def json_kind(val: Any, *, literal: bool = False) -> str:
    """Go's name for the JSON kind of `val` in an unmarshal error (`number 1e30` when the
    target was an integer, which Go quotes the literal for)."""
    if isinstance(val, int | float) and not isinstance(val, bool):
        return f"number {_number_text(val)}" if literal else "number"
    return _JSON_KIND.get(type(val), type(val).__name__)


@dataclass
class _Ctx:
    struct: str  # the innermost struct type's name
    stack: tuple[str, ...]  # JSON keys from the root


def _split(tp: Any) -> tuple[Any, Go | None, bool]:
    """(bare type, Go annotation, optional) of a type hint."""
    go: Go | None = None
    optional = False
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            args = typing.get_args(tp)
            go = next((a for a in args[1:] if isinstance(a, Go)), go)
            tp = args[0]
        elif origin in (types.UnionType, typing.Union):
            inner = [a for a in typing.get_args(tp) if a is not type(None)]
            optional = optional or len(inner) < len(typing.get_args(tp))
            if len(inner) != 1:
                return Any, go, optional
            tp = inner[0]
        else:
            return tp, go, optional


def go_type(tp: Any) -> str:
    """Go's name for a field type, as reflect prints it in an unmarshal error."""
    bare, go, _ = _split(tp)
    if go is not None:
        return go.name
    origin = typing.get_origin(bare)
    if origin is list:
        return "[]" + _elem_name(typing.get_args(bare)[0])
    if origin is dict:
        k, v = typing.get_args(bare)
        return f"map[{go_type(k)}]{_elem_name(v)}"
    if dataclasses.is_dataclass(bare):
        return str(getattr(bare, "GO", getattr(bare, "__name__", "struct")))
    return {bool: "bool", str: "string", int: "int64", float: "float64"}.get(
        bare, "interface {}" if bare is Any else getattr(bare, "__name__", str(bare))
    )


def _elem_name(tp: Any) -> str:
    # a pointer element prints as *T; berth marks those Optional
    _, _, optional = _split(tp)
    bare = _split(tp)[0]
    name = go_type(tp)
    if optional and dataclasses.is_dataclass(bare):
        return "*" + name
    return name


def _fail(val: Any, tp: Any, ctx: _Ctx, *, literal: bool = False) -> DecodeError:
    where = ".".join(ctx.stack)
    head = f"invalid JSON: json: cannot unmarshal {json_kind(val, literal=literal)} into Go "
    if where:
        return DecodeError(f"{head}struct field {ctx.struct}.{where} of type {go_type(tp)}")
    return DecodeError(f"{head}value of type {go_type(tp)}")


def _zero(tp: Any, as_json: bool) -> Any:
    bare, _, optional = _split(tp)
    if optional or typing.get_origin(bare) in (list, dict) or bare is Any:
        return None
    if bare is bool:
        return False
    if bare is str:
        return ""
    if bare in (int, float):
        return 0
    if dataclasses.is_dataclass(bare):
        return {} if as_json else typing.cast(Any, bare)()
    return None


@dataclass(frozen=True)
class _Field:
    path: tuple[str, ...]  # attribute names (more than one for an embedded struct's)
    wire: str
    tp: Any
    strslice: bool
    shape: Any


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    got = _HINTS.get(cls)
    if got is None:
        got = _HINTS[cls] = typing.get_type_hints(cls, include_extras=True)
    return got


_TABLES: dict[type, tuple[dict[str, _Field], dict[str, _Field]]] = {}


def _table(cls: type) -> tuple[dict[str, _Field], dict[str, _Field]]:
    """Exact and case-folded key -> field of a struct, embedded structs' fields promoted."""
    got = _TABLES.get(cls)
    if got is None:
        exact: dict[str, _Field] = {}
        hints = _hints(cls)
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            tp = hints[f.name]
            if f.metadata.get("embed"):
                for sub in _table(_split(tp)[0])[0].values():
                    exact.setdefault(sub.wire, dataclasses.replace(sub, path=(f.name, *sub.path)))
                continue
            wire = f.metadata.get("wire") or camel(f.name)
            exact[wire] = _Field(
                (f.name,), wire, tp, bool(f.metadata.get("strslice")), f.metadata.get("shape")
            )
        folded: dict[str, _Field] = {}
        for k, v in exact.items():
            folded.setdefault(k.lower(), v)
        got = _TABLES[cls] = (exact, folded)
    return got


def _decode(tp: Any, val: Any, ctx: _Ctx, as_json: bool) -> Any:
    """`val` decoded into `tp` (a dataclass instance, or JSON when `as_json`)."""
    bare, go, optional = _split(tp)
    if val is None:
        return _zero(tp, as_json)
    if bare is Any:
        return val
    origin = typing.get_origin(bare)
    if origin is list:
        if not isinstance(val, list):
            raise _fail(val, tp, ctx)
        (item,) = typing.get_args(bare)
        return [_decode(item, v, ctx, as_json) for v in val]
    if origin is dict:
        if not isinstance(val, dict):
            raise _fail(val, tp, ctx)
        _, item = typing.get_args(bare)
        return {k: _decode(item, v, ctx, as_json) for k, v in val.items()}
    if bare is bool:
        if not isinstance(val, bool):
            raise _fail(val, tp, ctx)
        return val
    if bare is str:
        if not isinstance(val, str):
            raise _fail(val, tp, ctx)
        return val
    if bare is int:
        if isinstance(val, bool) or not isinstance(val, int | float):
            raise _fail(val, tp, ctx)
        lo, hi = (go.lo, go.hi) if go is not None and go.lo is not None else INT64
        # Go refuses 1.5, 1e3 and anything out of range for an integer field
        if isinstance(val, float) or not (lo <= val <= (hi if hi is not None else val)):
            raise _fail(val, tp, ctx, literal=True)
        return val
    if bare is float:
        if isinstance(val, bool) or not isinstance(val, int | float):
            raise _fail(val, tp, ctx)
        return val
    if dataclasses.is_dataclass(bare):
        if not isinstance(val, dict):
            raise _fail(val, tp, ctx)
        return _struct(typing.cast(type, bare), val, ctx, as_json)
    return val


def _struct(cls: type, data: dict[str, Any], ctx: _Ctx, as_json: bool) -> Any:
    exact, folded = _table(cls)
    name = str(getattr(cls, "GO", cls.__name__)).rpartition(".")[2]
    values: dict[tuple[str, ...], Any] = {}
    out: dict[str, Any] = {}
    for key, val in data.items():  # document order, so the first error is Go's first
        f = exact.get(key) or folded.get(key.lower())
        if f is None:
            if as_json:
                out[key] = val  # kept as sent (dockerd drops it; nothing reads it)
            continue
        if val is None:
            if as_json:
                out[f.wire] = None
            continue
        sub = _Ctx(name, (*ctx.stack, f.wire))
        if f.strslice and not isinstance(val, str | list):
            # strslice.StrSlice tries []string, then string: Go names the second
            raise _fail(val, str, sub)
        if f.strslice and isinstance(val, list) and not all(isinstance(v, str | None) for v in val):
            raise _fail(val, str, sub)
        if f.strslice and isinstance(val, str):
            val = [val]
        if f.shape is not None:
            got = _decode(f.shape, val, sub, True)
        else:
            got = _decode(f.tp, val, sub, as_json)
        if as_json:
            out[f.wire] = got
        else:
            values[f.path] = got
    if as_json:
        return out
    return _build(cls, values)


def _build(cls: type, values: dict[tuple[str, ...], Any]) -> Any:
    kwargs: dict[str, Any] = {}
    nested: dict[str, dict[tuple[str, ...], Any]] = {}
    for path, val in values.items():
        if len(path) == 1:
            kwargs[path[0]] = val
        else:
            nested.setdefault(path[0], {})[path[1:]] = val
    hints = _hints(cls)
    for attr in {f.name for f in dataclasses.fields(cls) if f.metadata.get("embed")}:  # type: ignore[arg-type]
        kwargs[attr] = _build(_split(hints[attr])[0], nested.get(attr, {}))
    return cls(**kwargs)


def from_wire(cls: type[T], data: dict[str, Any] | None, *, path: str = "") -> T:
    """Build `cls` from a wire dict with Go's rules (see the module's table); raises
    DecodeError. `path` is the JSON key path of `data` in its request ("HostConfig")
    and `struct` of the message is `cls`'s Go name; fields marked `strslice` take a string
    as a one-element list, as Docker's strslice type does for Cmd and Entrypoint."""
    stack = tuple(p for p in path.split(".") if p)
    name = str(getattr(cls, "GO", cls.__name__)).rpartition(".")[2]
    return typing.cast(T, _struct(cls, data or {}, _Ctx(name, stack), False))


def decode(tp: Any, data: Any, *, struct: str = "", path: str = "") -> Any:
    """`data` decoded into any type form (a dataclass, list[...], dict[...]), as JSON with
    Docker's key spelling when `tp` is a shape. A top-level mismatch reads Go's
    `cannot unmarshal array into Go value of type network.CreateRequest`."""
    stack = tuple(p for p in path.split(".") if p)
    return _decode(tp, data, _Ctx(struct, stack), True)


def decode_struct(cls: type[T], data: Any) -> T:
    """A whole request body decoded into struct `cls` (an empty body is its zero value);
    a body that is no object reads `cannot unmarshal array into Go value of type ...`."""
    return typing.cast(T, _decode(cls, {} if data is None else data, _Ctx("", ()), False))


def check(cls: type, data: Any) -> dict[str, Any]:
    """A request body checked against struct `cls`: the body as JSON, keys in Docker's
    spelling (so the engine finds "Driver" when "driver" was sent). An empty body is {}."""
    if data is None:
        return {}
    return typing.cast(dict[str, Any], decode(cls, data))


def field(data: dict[str, Any], key: str, tp: Any, struct: str, default: T) -> T:
    """One typed field of a request object that has no dataclass of its own: `default`
    when absent or null, DecodeError when of another JSON type."""
    val = data.get(key)
    if val is None:
        return default
    return typing.cast(T, _decode(tp, val, _Ctx(struct, (key,)), True))


def storage_dict(obj: Any) -> dict[str, Any]:
    """Plain dict for the database (snake_case names, nested dataclasses expanded): what
    dataclasses.asdict gives, without its deep copy of every leaf, which the JSON the
    dict becomes has no use for (a container's record: 0.4 -> 0.05 ms, three per run)."""
    return typing.cast(dict[str, Any], _plain(obj))


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}
_LEAVES = frozenset((str, int, float, bool, type(None)))


def _plain(v: Any) -> Any:
    cls = type(v)
    names = _FIELD_NAMES.get(cls)
    if names is None and dataclasses.is_dataclass(cls):
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    if names is not None:
        return {n: _plain(getattr(v, n)) for n in names}
    if cls in _LEAVES:
        return v
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]  # the same JSON as asdict's tuple
    return v
