"""The values templates print and the functions they call: Go's fmt %v and json.Marshal
renderings, template truth, the builtins of text/template (index, len, printf, print, eq, ne,
lt, le, gt, ge, and, or, not, slice, html, urlquery) and the functions docker registers
(json, join, split, lower, upper, title, truncate, pad, println)."""

from __future__ import annotations

from berth.cli.gotemplate.errors import TemplateError

# typing and json are not imported at run time: with re, collections and functools they
# are ~10 ms of a `berth ps`, which renders its table without a template
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    _Row = dict[str, Any]
else:
    _Row = dict

NO_VALUE = "<no value>"


def go_str(v: Any) -> str:
    """Go's fmt %v rendering of a JSON-ish value."""
    if v is None:
        return NO_VALUE
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return v
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e21:
        return str(int(v))
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{_inner(v[k])}" for k in sorted(v)) + "]"
    if isinstance(v, list | tuple):
        return "[" + " ".join(_inner(x) for x in v) + "]"
    return str(v)


def _inner(v: Any) -> str:
    return "<nil>" if v is None else go_str(v)


def go_json(v: Any) -> str:
    """Go's json.Marshal: compact, HTML characters escaped."""
    if callable(v):
        v = None
    elif isinstance(v, TemplateData):
        v = v.json_view()
    import json

    s = json.dumps(v, separators=(",", ":"), ensure_ascii=False, default=_json_default)
    return (
        s.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _json_default(o: Any) -> Any:
    if isinstance(o, TemplateData):
        return o.json_view()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


class TemplateData(_Row):
    """A dict whose callables are template methods, left out of {{json .}}.

    go_type, when set, is the Go type the docker CLI formats this row with (a struct: a
    field it lacks is an error whatever the missingkey option, "can't evaluate field X in
    type T")."""

    go_type = ""

    def json_view(self) -> dict[str, Any]:
        """The plain fields."""
        return {k: v for k, v in sorted(self.items()) if not callable(v)}


def truthy(v: Any) -> bool:
    """Go template truth: zero values are false."""
    return bool(v) if v is not None else False


def _index(obj: Any, *keys: Any) -> Any:
    for k in keys:
        if isinstance(obj, dict):
            obj = obj.get(k)
        elif isinstance(obj, list | str):
            try:
                obj = obj[int(k)]
            except (IndexError, ValueError):
                raise TemplateError(f"index out of range: {k}") from None
        elif obj is None:
            return None
        else:
            raise TemplateError(f"can't index item of type {type(obj).__name__}")
    return obj


def _printf(fmt: str, *args: Any) -> str:
    conv = []
    for a in args:
        conv.append(go_str(a) if not isinstance(a, int | float) or isinstance(a, bool) else a)
    try:
        return fmt.replace("%v", "%s").replace("%q", '"%s"') % tuple(conv)
    except (TypeError, ValueError) as exc:
        raise TemplateError(f"printf: {exc}") from None


def _truncate(s: Any, n: int) -> str:
    s = go_str(s)
    return s[:n]


def _title(s: Any) -> str:
    return " ".join(w[:1].upper() + w[1:] for w in go_str(s).split(" "))


def _cmp(op: str) -> Callable[..., bool]:
    def f(a: Any, *bs: Any) -> bool:
        if op == "eq":
            return any(a == b for b in bs)
        b = bs[0]
        try:
            return {"ne": a != b, "lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b}[op]
        except TypeError:
            raise TemplateError(f"incompatible types for comparison in {op}") from None

    return f


def _and(*xs: Any) -> Any:
    for x in xs:
        if not truthy(x):
            return x
    return xs[-1]


def _or(*xs: Any) -> Any:
    for x in xs:
        if truthy(x):
            return x
    return xs[-1]


def _slice(item: Any, *idx: Any) -> Any:
    """Go's slice builtin: slice x 1 2 is x[1:2] (a third index caps a list's capacity)."""
    if not isinstance(item, list | tuple | str):
        raise TemplateError(f"can't slice item of type {type(item).__name__}")
    if len(idx) > 3 or (len(idx) == 3 and isinstance(item, str)):
        raise TemplateError("too many slice indexes: " + str(len(idx)))
    n = len(item)
    bounds = [int(i) for i in idx]
    for b in bounds:
        if not 0 <= b <= n:
            raise TemplateError(f"index out of range: {b}")
    if len(bounds) >= 2 and bounds[0] > bounds[1]:
        raise TemplateError(f"invalid slice index: {bounds[0]} > {bounds[1]}")
    lo = bounds[0] if bounds else 0
    hi = bounds[1] if len(bounds) >= 2 else n
    return item[lo:hi]


def _sprint(*xs: Any) -> str:
    """fmt.Sprint: spaces only between operands that are neither of them strings."""
    out = ""
    for i, x in enumerate(xs):
        if i and not isinstance(x, str) and not isinstance(xs[i - 1], str):
            out += " "
        out += _inner(x)
    return out


def _html(*xs: Any) -> str:
    """template.HTMLEscapeString of the operands' fmt.Sprint."""
    s = _sprint(*xs)
    for a, b in (("&", "&amp;"), ("'", "&#39;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&#34;"),
                 ("\0", "\ufffd")):  # fmt: skip
        s = s.replace(a, b)
    return s


def _urlquery(*xs: Any) -> str:
    """url.QueryEscape of the operands' fmt.Sprint."""
    from urllib.parse import quote_plus

    return quote_plus(_sprint(*xs), safe="")


FUNCS: dict[str, Callable[..., Any]] = {
    "slice": _slice,
    "html": _html,
    "urlquery": _urlquery,
    "json": go_json,
    "index": _index,
    "len": lambda x: len(x) if x is not None else 0,
    "join": lambda xs, sep: sep.join(go_str(x) for x in (xs or [])),
    "split": lambda s, sep: go_str(s).split(sep),
    "lower": lambda s: go_str(s).lower(),
    "upper": lambda s: go_str(s).upper(),
    "title": _title,
    "truncate": _truncate,
    "pad": lambda s, before, after: " " * before + go_str(s) + " " * after,
    "printf": _printf,
    "print": _sprint,
    "println": lambda *xs: " ".join(go_str(x) for x in xs) + "\n",
    "not": lambda x: not truthy(x),
    "and": _and,
    "or": _or,
    **{op: _cmp(op) for op in ("eq", "ne", "lt", "le", "gt", "ge")},
}


# Fields that are Go maps in the structs docker inspect formats first: a key missing from
# them renders <no value> even with missingkey=error (which only its raw fallback uses).
GO_MAPS = frozenset(
    {
        "Labels",
        "Options",
        "Annotations",
        "Sysctls",
        "Tmpfs",
        "StorageOpt",
        "DriverOpts",
        "Volumes",
        "ExposedPorts",
        "Ports",
        "PortBindings",
        "Networks",
        "Containers",
        "Data",
        "Status",
    }  # fmt: skip
)
