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


class ExecError(TemplateError):
    """An execution error located as Go's text/template words it:
    `template: NAME:LINE:COL: executing "NAME" at <NODE>: MESSAGE`."""


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


# ---- lexer -----------------------------------------------------------------


class Tok(str):
    """A token that remembers its offset in the template (Go's error positions)."""

    pos: int = 0


def _tok(text: str, pos: int) -> Tok:
    t = Tok(text)
    t.pos = pos
    return t


def _tokens(src: str, base: int = 0) -> list[str]:
    """The action's tokens, each a Tok at base + its offset."""
    out: list[str] = []
    for t, at in _raw_tokens(src):
        out.append(_tok(t, base + at))
    return out


def _raw_tokens(src: str) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    i = 0
    n = len(src)
    while i < n:
        c = src[i]
        if c.isspace():
            i += 1
        elif c in "()|,":
            out.append((c, i))
            i += 1
        elif c == ":" and src.startswith(":=", i):
            out.append((":=", i))
            i += 2
        elif c == "=":
            out.append(("=", i))
            i += 1
        elif c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            if j >= n:
                raise TemplateError("unterminated quoted string")
            out.append((src[i : j + 1], i))
            i = j + 1
        elif c == "`":
            j = src.find("`", i + 1)
            if j < 0:
                raise TemplateError("unterminated raw quoted string")
            out.append((src[i : j + 1], i))
            i = j + 1
        else:
            j = i
            while j < n and not src[j].isspace() and src[j] not in "()|,":
                if src.startswith(":=", j):
                    break
                j += 1
            out.append((src[i:j], i))
            i = j
    return out


# ---- AST -------------------------------------------------------------------


class Pipe:
    """A pipeline: commands (operand lists; an operand is a token or a nested Pipe) and the
    variables it declares (":=") or assigns ("=")."""

    __slots__ = ("cmds", "decl", "assign", "fields", "fields_tok")

    def __init__(self, cmds: list[list[Any]], decl: list[str] | None = None, assign: bool = False):
        self.cmds = cmds
        self.decl = decl or []
        self.assign = assign
        # `(pipeline).A.B`: Go's chain node, fields read off the parenthesised value
        self.fields: list[str] = []
        self.fields_tok: Any = ""


class Block:
    """{{range}}, {{if}} or {{with}}: its pipeline, body and {{else}} part."""

    __slots__ = ("kind", "pipe", "body", "alt")

    def __init__(self, kind: str, pipe: Pipe) -> None:
        self.kind = kind
        self.pipe = pipe
        self.body: list[Any] = []
        self.alt: list[Any] = []


class Call:
    """{{template "name" pipeline}}."""

    __slots__ = ("name", "pipe")

    def __init__(self, name: str, pipe: Pipe | None) -> None:
        self.name = name
        self.pipe = pipe


class Jump:
    """{{break}} or {{continue}} inside a {{range}}."""

    __slots__ = ("kind",)

    def __init__(self, kind: str) -> None:
        self.kind = kind


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


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
    closed_at = -2  # where the last ")" was: a field right after it chains onto it
    for t in toks:
        pos = getattr(t, "pos", -1)
        if (
            t.startswith(".")
            and len(t) > 1
            and pos >= 0
            and pos == closed_at + 1
            and cmds[-1]
            and isinstance(cmds[-1][-1], Pipe)
        ):
            cmds[-1][-1].fields = t[1:].split(".")
            cmds[-1][-1].fields_tok = t
            continue
        if t == "(":
            stack.append(cmds)
            cmds = [[]]
        elif t == ")":
            if not stack:
                raise TemplateError("unexpected right paren")
            inner = Pipe(cmds)
            cmds = stack.pop()
            cmds[-1].append(inner)
            closed_at = pos
        elif t == "|":
            cmds.append([])
        else:
            cmds[-1].append(t)
    if stack:
        raise TemplateError("unclosed left paren")
    if any(not c for c in cmds):
        raise TemplateError("missing value for command")
    return Pipe(cmds, decl, assign)


def _action_end(src: str, i: int) -> int:
    """The offset of the "}}" that closes the action starting at i: quoted strings, raw
    strings and comments may hold "}}" ({{"}}"}})."""
    n = len(src)
    while i < n:
        c = src[i]
        if c == '"':
            i += 1
            while i < n and src[i] != '"':
                if src[i] == "\n":
                    raise TemplateError("unterminated quoted string")
                i += 2 if src[i] == "\\" else 1
            if i >= n:
                raise TemplateError("unterminated quoted string")
        elif c == "`":
            k = src.find("`", i + 1)
            if k < 0:
                raise TemplateError("unterminated raw quoted string")
            i = k
        elif src.startswith("/*", i):
            k = src.find("*/", i + 2)
            if k < 0:
                raise TemplateError("unclosed comment")
            i = k + 1
        elif src.startswith("}}", i):
            return i
        i += 1
    raise TemplateError("unclosed action")


_SPACE = " \t\r\n"


def parse(src: str, defines: dict[str, list[Any]] | None = None) -> list[Any]:
    """Parse a template into a node list; {{define}}d templates go into defines."""
    pieces: list[tuple[str, str, int]] = []
    i = 0
    while True:
        j = src.find("{{", i)
        if j < 0:
            pieces.append(("text", src[i:], i))
            break
        k = _action_end(src, j + 2)
        text = src[i:j]
        inner = src[j + 2 : k]
        base = j + 2
        # Go's trim markers: "{{- " and " -}}", the dash beside one space, tab or newline
        if len(inner) >= 2 and inner[0] == "-" and inner[1] in _SPACE:
            text = text.rstrip(_SPACE)
            inner = inner[2:]
            base += 2
        i = k + 2
        if len(inner) >= 2 and inner[-1] == "-" and inner[-2] in _SPACE:
            inner = inner[:-2]
            m = i
            while m < len(src) and src[m] in _SPACE:
                m += 1
            i = m
        pieces.append(("text", text, 0))
        stripped = inner.lstrip(_SPACE)
        pieces.append(("action", stripped.rstrip(_SPACE), base + len(inner) - len(stripped)))
    defines = {} if defines is None else defines
    root: list[Any] = []
    # (node list being filled, its block, the {{define}} name it belongs to)
    stack: list[tuple[list[Any], Block | None, str | None]] = [(root, None, None)]
    for kind, val, at in pieces:
        cur = stack[-1][0]
        if kind == "text":
            if val:
                cur.append(val)
            continue
        if val.startswith("/*"):
            continue
        word, _, rest = val.partition(" ")
        word = word.rstrip(_SPACE)
        rest_at = at + len(val) - len(rest)
        if word in ("range", "if", "with"):
            block = Block(word, _parse_pipe(_tokens(rest, rest_at)))
            cur.append(block)
            stack.append((block.body, block, None))
        elif word in ("define", "block", "template"):
            toks = _tokens(rest, rest_at)
            if not toks or not (toks[0].startswith('"') or toks[0].startswith("`")):
                raise TemplateError(f"unexpected {{{{{word}}}}} without a quoted name")
            name = _unquote(toks[0])
            pipe = _parse_pipe(toks[1:]) if len(toks) > 1 else None
            if word == "define":
                if pipe is not None:
                    raise TemplateError("unexpected text after {{define}} name")
                body: list[Any] = []
                stack.append((body, None, name))
                continue
            cur.append(Call(name, pipe))
            if word == "block":
                body = []
                stack.append((body, None, name))
        elif word in ("break", "continue"):
            cur.append(Jump(word))
        elif word == "else":
            blk = stack[-1][1]
            if blk is None:
                raise TemplateError("unexpected {{else}}")
            stack.pop()
            rest = rest.strip()
            if rest.startswith("if ") or rest.startswith("with "):
                w2, _, r2 = rest.partition(" ")
                nested = Block(w2, _parse_pipe(_tokens(r2, at + len(val) - len(r2))))
                blk.alt.append(nested)
                # The nested block shares the outer {{end}}.
                stack.append((nested.body, nested, None))
            else:
                stack.append((blk.alt, None, None))
        elif word == "end":
            if len(stack) == 1:
                raise TemplateError("unexpected {{end}}")
            nodes, _, defined = stack.pop()
            if defined is not None:
                defines[defined] = nodes
        elif not val:
            raise TemplateError("missing value for command")
        else:
            cur.append(_parse_pipe(_tokens(val, at)))
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
    "print": lambda *xs: "".join(go_str(x) for x in xs),
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


class _Exec:
    def __init__(
        self, root: Any, src: str = "", missingkey: str = "default", defines: Any = None
    ) -> None:
        self.vars: list[dict[str, Any]] = [{"$": root}]
        self.src = src
        self.missingkey = missingkey
        self.defines: dict[str, list[Any]] = defines or {}
        self.name = ""  # the {{define}}d template running ("" the main one)
        self.depth = 0

    def fail(self, pos: int, node: str, message: str) -> ExecError:
        """Go's located execution error."""
        text = self.src[:pos]
        nl = text.rfind("\n")
        col = pos if nl < 0 else pos - nl - 1
        line = 1 + text.count("\n")
        return ExecError(
            f'template: {self.name}:{line}:{col}: executing "{self.name}" at <{node}>: {message}'
        )

    def lookup_var(self, name: str) -> Any:
        for scope in reversed(self.vars):
            if name in scope:
                return scope[name]
        raise TemplateError(f"undefined variable: {name}")

    def operand(self, tok: Any, dot: Any) -> Any:
        if isinstance(tok, Pipe):
            val = self.pipe(tok, dot)
            return self.chain(val, tok.fields, tok.fields_tok) if tok.fields else val
        if tok.startswith('"') or tok.startswith("`"):
            return _unquote(tok)
        if tok == ".":
            return dot
        if tok.startswith("."):
            return self.chain(dot, tok[1:].split("."), tok)
        if tok.startswith("$"):
            name, _, rest = tok.partition(".")
            val = self.lookup_var(name)
            return self.chain(val, rest.split("."), tok, len(name)) if rest else val
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

    def chain(self, val: Any, names: list[str], tok: Any = "", head: int = 0) -> Any:
        """.A.B.C from val. tok is the whole field token (for errors); head, the length of
        a leading $variable."""

        def where() -> int:
            # Go locates a chain at its second element, a lone field at itself
            start = getattr(tok, "pos", 0)
            if head:
                return start + head
            return start + (len(names[0]) + 1 if len(names) > 1 else 0)

        parent = ""
        for name in names:
            if callable(val):
                val = val()
            if parent in GO_MAPS:
                pass  # a Go map field: the typed pass renders a missing key as <no value>
            elif isinstance(val, TemplateData) and type(val).get is dict.get:
                if name not in val and val.go_type:
                    msg = f"can't evaluate field {name} in type {val.go_type}"
                    raise self.fail(where(), str(tok), msg)
            elif isinstance(val, dict) and name not in val and self.missingkey == "error":
                raise self.fail(where(), str(tok), f'map has no entry for key "{name}"')
            val = _field(val, name)
            parent = name
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
            elif isinstance(node, Call):
                self.call(node, dot, out)
            elif isinstance(node, Jump):
                raise _Break() if node.kind == "break" else _Continue()
            else:
                self.block(node, dot, out)

    def call(self, c: Call, dot: Any, out: list[str]) -> None:
        """{{template "name" pipeline}}: the named template with the pipeline as dot (and $)."""
        body = self.defines.get(c.name)
        if body is None:
            raise TemplateError(f'template: no such template "{c.name}"')
        if self.depth > 100000 // 100:
            raise TemplateError("exceeded maximum template depth (100000)")
        val = self.pipe(c.pipe, dot) if c.pipe is not None else None
        saved_vars, saved_name = self.vars, self.name
        self.vars, self.name = [{"$": val}], c.name
        self.depth += 1
        try:
            self.run(body, val, out)
        finally:
            self.vars, self.name = saved_vars, saved_name
            self.depth -= 1

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
                    try:
                        self.run(b.body, v, out)
                    except _Break:
                        break
                    except _Continue:
                        continue
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
        self.defines: dict[str, list[Any]] = {}
        self.nodes = parse(src, self.defines)

    def execute(self, data: Any, missingkey: str = "default") -> str:
        """Render with data as dot (and $). missingkey is Go's option: "default" renders
        a map's missing key as <no value>, "error" (docker inspect's) fails on it."""
        out: list[str] = []
        try:
            _Exec(data, self.src, missingkey, self.defines).run(self.nodes, data, out)
        except (_Break, _Continue):
            raise TemplateError("{{break}} or {{continue}} outside {{range}}") from None
        return "".join(out)
