"""The subset of Go text/template that docker --format users write.

Supported: {{.Field.Sub}}, {{.}}, {{json .X}}, {{index .M "k"}}, method-style calls on values
that are Python callables ({{.Label "k"}}), pipelines (|), parenthesised pipelines, $ and
$variables, {{range}}/{{if}}/{{with}} with {{else}} and {{end}}, {{- -}} trimming, comments,
and the functions docker registers (json, join, split, lower, upper, title, truncate, pad,
println) plus Go's builtins (index, len, printf, print, eq, ne, lt, le, gt, ge, and, or, not).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any


class TemplateError(ValueError):
    """A template that does not parse or cannot be executed."""


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


class TemplateData(dict[str, Any]):
    """A dict whose callables are template methods, left out of {{json .}}."""

    def json_view(self) -> dict[str, Any]:
        """The plain fields."""
        return {k: v for k, v in sorted(self.items()) if not callable(v)}


def truthy(v: Any) -> bool:
    """Go template truth: zero values are false."""
    return bool(v) if v is not None else False


# ---- lexer -----------------------------------------------------------------


def _tokens(src: str) -> list[str]:
    out: list[str] = []
    i = 0
    n = len(src)
    while i < n:
        c = src[i]
        if c.isspace():
            i += 1
        elif c in "()|,":
            out.append(c)
            i += 1
        elif c == ":" and src.startswith(":=", i):
            out.append(":=")
            i += 2
        elif c == "=":
            out.append("=")
            i += 1
        elif c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            if j >= n:
                raise TemplateError("unterminated quoted string")
            out.append(src[i : j + 1])
            i = j + 1
        elif c == "`":
            j = src.find("`", i + 1)
            if j < 0:
                raise TemplateError("unterminated raw quoted string")
            out.append(src[i : j + 1])
            i = j + 1
        else:
            j = i
            while j < n and not src[j].isspace() and src[j] not in "()|,":
                if src.startswith(":=", j):
                    break
                j += 1
            out.append(src[i:j])
            i = j
    return out


# ---- AST -------------------------------------------------------------------


class Pipe:
    """A pipeline: commands (operand lists; an operand is a token or a nested Pipe) and the
    variables it declares (":=") or assigns ("=")."""

    __slots__ = ("cmds", "decl", "assign")

    def __init__(self, cmds: list[list[Any]], decl: list[str] | None = None, assign: bool = False):
        self.cmds = cmds
        self.decl = decl or []
        self.assign = assign


class Block:
    """{{range}}, {{if}} or {{with}}: its pipeline, body and {{else}} part."""

    __slots__ = ("kind", "pipe", "body", "alt")

    def __init__(self, kind: str, pipe: Pipe) -> None:
        self.kind = kind
        self.pipe = pipe
        self.body: list[Any] = []
        self.alt: list[Any] = []


def _parse_pipe(toks: list[str]) -> Pipe:
    decl: list[str] = []
    assign = False
    for i, t in enumerate(toks):
        if t in (":=", "="):
            decl = [x for x in toks[:i] if x != ","]
            if not decl or not all(d.startswith("$") for d in decl):
                raise TemplateError("bad variable declaration")
            assign = t == "="
            toks = toks[i + 1 :]
            break
        if not (t.startswith("$") or t == ","):
            break
    cmds: list[list[Any]] = [[]]
    stack: list[list[list[Any]]] = []
    for t in toks:
        if t == "(":
            stack.append(cmds)
            cmds = [[]]
        elif t == ")":
            if not stack:
                raise TemplateError("unexpected right paren")
            inner = Pipe(cmds)
            cmds = stack.pop()
            cmds[-1].append(inner)
        elif t == "|":
            cmds.append([])
        else:
            cmds[-1].append(t)
    if stack:
        raise TemplateError("unclosed left paren")
    if any(not c for c in cmds):
        raise TemplateError("missing value for command")
    return Pipe(cmds, decl, assign)


def parse(src: str) -> list[Any]:
    """Parse a template into a node list."""
    pieces: list[tuple[str, str]] = []
    i = 0
    while True:
        j = src.find("{{", i)
        if j < 0:
            pieces.append(("text", src[i:]))
            break
        k = src.find("}}", j + 2)
        if k < 0:
            raise TemplateError("unclosed action")
        text = src[i:j]
        inner = src[j + 2 : k]
        if inner.startswith("- "):
            text = text.rstrip()
            inner = inner[2:]
        i = k + 2
        if inner.endswith(" -"):
            inner = inner[:-2]
            m = i
            while m < len(src) and src[m].isspace():
                m += 1
            i = m
        pieces.append(("text", text))
        pieces.append(("action", inner.strip()))
    root: list[Any] = []
    stack: list[tuple[list[Any], Block | None]] = [(root, None)]
    for kind, val in pieces:
        cur = stack[-1][0]
        if kind == "text":
            if val:
                cur.append(val)
            continue
        if val.startswith("/*"):
            continue
        word, _, rest = val.partition(" ")
        if word in ("range", "if", "with"):
            block = Block(word, _parse_pipe(_tokens(rest)))
            cur.append(block)
            stack.append((block.body, block))
        elif word == "else":
            blk = stack[-1][1]
            if blk is None:
                raise TemplateError("unexpected {{else}}")
            stack.pop()
            rest = rest.strip()
            if rest.startswith("if ") or rest.startswith("with "):
                w2, _, r2 = rest.partition(" ")
                nested = Block(w2, _parse_pipe(_tokens(r2)))
                blk.alt.append(nested)
                # The nested block shares the outer {{end}}.
                stack.append((nested.body, nested))
            else:
                stack.append((blk.alt, None))
        elif word == "end":
            if len(stack) == 1:
                raise TemplateError("unexpected {{end}}")
            stack.pop()
        elif not val:
            raise TemplateError("missing value for command")
        else:
            cur.append(_parse_pipe(_tokens(val)))
    if len(stack) != 1:
        raise TemplateError("unexpected EOF: missing {{end}}")
    return root


# ---- execution ---------------------------------------------------------------


def _unquote(tok: str) -> str:
    if tok.startswith("`"):
        return tok[1:-1]
    try:
        return json.loads(tok)  # type: ignore[no-any-return]
    except ValueError:
        raise TemplateError(f"bad string literal {tok}") from None


def _field(obj: Any, name: str) -> Any:
    if isinstance(obj, dict):
        return obj.get(name)
    if obj is None:
        return None
    raise TemplateError(f"can't evaluate field {name} in type {type(obj).__name__}")


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


FUNCS: dict[str, Callable[..., Any]] = {
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
    "print": lambda *xs: "".join(go_str(x) for x in xs),
    "println": lambda *xs: " ".join(go_str(x) for x in xs) + "\n",
    "not": lambda x: not truthy(x),
    "and": _and,
    "or": _or,
    **{op: _cmp(op) for op in ("eq", "ne", "lt", "le", "gt", "ge")},
}


class _Exec:
    def __init__(self, root: Any) -> None:
        self.vars: list[dict[str, Any]] = [{"$": root}]

    def lookup_var(self, name: str) -> Any:
        for scope in reversed(self.vars):
            if name in scope:
                return scope[name]
        raise TemplateError(f"undefined variable: {name}")

    def operand(self, tok: Any, dot: Any) -> Any:
        if isinstance(tok, Pipe):
            return self.pipe(tok, dot)
        if tok.startswith('"') or tok.startswith("`"):
            return _unquote(tok)
        if tok == ".":
            return dot
        if tok.startswith("."):
            return self.chain(dot, tok[1:].split("."))
        if tok.startswith("$"):
            name, _, rest = tok.partition(".")
            val = self.lookup_var(name)
            return self.chain(val, rest.split(".")) if rest else val
        if tok in ("true", "false"):
            return tok == "true"
        if tok == "nil":
            return None
        try:
            return int(tok, 0)
        except ValueError:
            pass
        try:
            return float(tok)
        except ValueError:
            pass
        if tok in FUNCS:
            return FUNCS[tok]()
        raise TemplateError(f'function "{tok}" not defined')

    def chain(self, val: Any, names: list[str]) -> Any:
        for name in names:
            if callable(val):
                val = val()
            val = _field(val, name)
        return val

    def command(self, cmd: list[Any], dot: Any, prev: list[Any]) -> Any:
        head = cmd[0]
        if isinstance(head, str) and head in FUNCS:
            args = [self.operand(t, dot) for t in cmd[1:]] + prev
            try:
                return FUNCS[head](*args)
            except TypeError as exc:
                raise TemplateError(f"wrong number of args for {head}: {exc}") from None
        val = self.operand(head, dot)
        args = [self.operand(t, dot) for t in cmd[1:]] + prev
        if callable(val):
            try:
                return val(*args)
            except TypeError as exc:
                raise TemplateError(f"wrong number of args: {exc}") from None
        if args:
            raise TemplateError(f"can't give argument to non-function {head}")
        return val

    def pipe(self, p: Pipe, dot: Any) -> Any:
        prev: list[Any] = []
        val: Any = None
        for cmd in p.cmds:
            val = self.command(cmd, dot, prev)
            prev = [val]
        if p.decl and not p.assign:
            self.vars[-1][p.decl[-1]] = val
        elif p.decl:
            for scope in reversed(self.vars):
                if p.decl[-1] in scope:
                    scope[p.decl[-1]] = val
                    break
            else:
                raise TemplateError(f"undefined variable: {p.decl[-1]}")
        return val

    def run(self, nodes: list[Any], dot: Any, out: list[str]) -> None:
        for node in nodes:
            if isinstance(node, str):
                out.append(node)
            elif isinstance(node, Pipe):
                val = self.pipe(node, dot)
                if not node.decl:
                    out.append(go_str(val))
            else:
                self.block(node, dot, out)

    def block(self, b: Block, dot: Any, out: list[str]) -> None:
        if b.kind == "range":
            self.vars.append({})
            try:
                coll = self.pipe(Pipe(b.pipe.cmds), dot)
                items: list[tuple[Any, Any]]
                if isinstance(coll, dict):
                    items = [(k, coll[k]) for k in sorted(coll)]
                elif isinstance(coll, list | tuple):
                    items = list(enumerate(coll))
                elif coll is None:
                    items = []
                elif isinstance(coll, int):
                    items = [(i, i) for i in range(coll)]
                else:
                    raise TemplateError(f"range can't iterate over {go_str(coll)}")
                if not items:
                    self.run(b.alt, dot, out)
                for k, v in items:
                    if len(b.pipe.decl) == 2:
                        self.vars[-1][b.pipe.decl[0]] = k
                        self.vars[-1][b.pipe.decl[1]] = v
                    elif b.pipe.decl:
                        self.vars[-1][b.pipe.decl[0]] = v
                    self.run(b.body, v, out)
            finally:
                self.vars.pop()
            return
        self.vars.append({})
        try:
            val = self.pipe(b.pipe, dot)
            if truthy(val):
                self.run(b.body, val if b.kind == "with" else dot, out)
            else:
                self.run(b.alt, dot, out)
        finally:
            self.vars.pop()


class Template:
    """A parsed template; execute() renders it against data."""

    def __init__(self, src: str) -> None:
        self.src = src
        self.nodes = parse(src)

    def execute(self, data: Any) -> str:
        """Render with data as dot (and $)."""
        out: list[str] = []
        _Exec(data).run(self.nodes, data, out)
        return "".join(out)
