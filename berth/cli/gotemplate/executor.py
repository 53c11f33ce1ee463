"""Runs a parsed tree against data, as Go's text/template/exec.go walks it: dot and the
variable stack, pipelines feeding the previous value as the last argument, range / if /
with / template, and Go's located errors. Data is JSON-ish (dicts, lists, str, numbers,
None); a callable value is a method ({{.Label "k"}})."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from berth.cli.gotemplate.errors import ExecError, TemplateError
from berth.cli.gotemplate.funcs import FUNCS, GO_MAPS, TemplateData, go_str, truthy
from berth.cli.gotemplate.nodes import (
    ActionNode,
    BoolNode,
    BranchNode,
    BreakNode,
    ChainNode,
    CommandNode,
    ContinueNode,
    DotNode,
    FieldNode,
    IdentifierNode,
    ListNode,
    NilNode,
    Node,
    NumberNode,
    PipeNode,
    RangeNode,
    StringNode,
    TemplateNode,
    TextNode,
    Tree,
    VariableNode,
    WithNode,
)

MAX_DEPTH = 1000  # Go allows 100000; Python's own stack ends well before that


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


_GO_TYPES = {"str": "string", "int": "int", "float": "float64", "bool": "bool",
             "list": "[]interface {}", "dict": "map[string]interface {}"}  # fmt: skip


class State:
    """One execution: the output, the variable stack and where errors are located."""

    def __init__(
        self, tree: Tree, src: str, data: Any, missingkey: str = "default", root_type: str = ""
    ) -> None:
        self.tree = tree
        self.src = src
        self.root = data
        self.root_type = root_type
        self.missingkey = missingkey
        self.vars: list[tuple[str, Any]] = [("$", data)]
        self.name = ""  # the {{define}}d template running ("" the main one)
        self.depth = 0
        self.out: list[str] = []

    def fail(self, node: Node, message: str) -> ExecError:
        """Go's ErrorContext: NAME:LINE:COL and the node's text."""
        text = self.src[: node.pos]
        nl = text.rfind("\n")
        col = node.pos if nl < 0 else node.pos - nl - 1
        line = 1 + text.count("\n")
        return ExecError(
            f'template: {self.name}:{line}:{col}: executing "{self.name}" at <{node}>: {message}'
        )

    # ---- statements -----------------------------------------------------------------

    def walk(self, dot: Any, node: Node) -> None:
        if isinstance(node, TextNode):
            self.out.append(node.text)
        elif isinstance(node, ActionNode):
            val = self.pipeline(dot, node.pipe)
            if not node.pipe.decl:
                self.out.append(go_str(val))
        elif isinstance(node, ListNode):
            for n in node.nodes:
                self.walk(dot, n)
        elif isinstance(node, RangeNode):
            self.walk_range(dot, node)
        elif isinstance(node, BranchNode):
            self.walk_if_or_with(dot, node)
        elif isinstance(node, TemplateNode):
            self.walk_template(dot, node)
        elif isinstance(node, BreakNode):
            raise _Break()
        elif isinstance(node, ContinueNode):
            raise _Continue()

    def walk_if_or_with(self, dot: Any, node: BranchNode) -> None:
        mark = len(self.vars)
        try:
            val = self.pipeline(dot, node.pipe)
            if truthy(val):
                self.walk(val if isinstance(node, WithNode) else dot, node.body)
            elif node.alt is not None:
                self.walk(dot, node.alt)
        finally:
            del self.vars[mark:]

    def walk_range(self, dot: Any, node: RangeNode) -> None:
        mark = len(self.vars)
        try:
            coll = self.pipeline(dot, node.pipe)
            items = self._range_items(node, coll)
            if not items and node.alt is not None:
                self.walk(dot, node.alt)
            decl = node.pipe.decl
            for key, elem in items:
                if decl:  # $v, or $k, $v: the element last, the key before it
                    self.set_top(len(decl), decl[0].ident[0], elem if len(decl) == 1 else key)
                    if len(decl) == 2:
                        self.set_top(1, decl[1].ident[0], elem)
                inner = len(self.vars)
                try:
                    self.walk(elem, node.body)
                except _Break:
                    break
                except _Continue:
                    continue
                finally:
                    del self.vars[inner:]
        finally:
            del self.vars[mark:]

    def _range_items(self, node: RangeNode, coll: Any) -> list[tuple[Any, Any]]:
        if isinstance(coll, dict):
            return [(k, coll[k]) for k in sorted(coll)]
        if isinstance(coll, list | tuple):
            return list(enumerate(coll))
        if coll is None:
            return []
        if isinstance(coll, int) and not isinstance(coll, bool):
            return [(i, i) for i in range(coll)]
        raise self.fail(node, f"range can't iterate over {go_str(coll)}")

    def walk_template(self, dot: Any, node: TemplateNode) -> None:
        body = self.tree.get(node.name)
        if body is None:
            raise self.fail(node, f"template {_quote(node.name)} not defined")
        if self.depth >= MAX_DEPTH:
            raise self.fail(node, f"exceeded maximum template depth ({MAX_DEPTH})")
        val = self.pipeline(dot, node.pipe) if node.pipe is not None else None
        saved_vars, saved_name = self.vars, self.name
        self.vars, self.name = [("$", val)], node.name
        self.depth += 1
        try:
            self.walk(val, body)
        finally:
            self.vars, self.name = saved_vars, saved_name
            self.depth -= 1

    # ---- variables --------------------------------------------------------------------

    def set_top(self, n: int, name: str, value: Any) -> None:
        """Go's setTopVar: the n-th variable from the top of the stack."""
        self.vars[len(self.vars) - n] = (name, value)

    def var_value(self, node: Node, name: str) -> Any:
        for var, value in reversed(self.vars):
            if var == name:
                return value
        raise self.fail(node, f"undefined variable: {name}")

    def assign(self, node: Node, name: str, value: Any) -> None:
        for i in range(len(self.vars) - 1, -1, -1):
            if self.vars[i][0] == name:
                self.vars[i] = (name, value)
                return
        raise self.fail(node, f"undefined variable: {name}")

    # ---- pipelines --------------------------------------------------------------------

    def pipeline(self, dot: Any, pipe: PipeNode) -> Any:
        value: Any = None
        final: list[Any] = []
        for cmd in pipe.cmds:
            value = self.command(dot, cmd, final)
            final = [value]
        for var in pipe.decl:
            if pipe.is_assign:
                self.assign(var, var.ident[0], value)
            else:
                self.vars.append((var.ident[0], value))
        return value

    def command(self, dot: Any, cmd: CommandNode, final: list[Any]) -> Any:
        first = cmd.args[0]
        if isinstance(first, IdentifierNode):
            args = [self.arg(dot, a) for a in cmd.args[1:]] + final
            return self.call(cmd, first.name, FUNCS[first.name], args)
        val = self.arg(dot, first)
        args = [self.arg(dot, a) for a in cmd.args[1:]] + final
        if callable(val):
            return self.call(cmd, str(first), val, args)
        if args:
            raise self.fail(first, f"can't give argument to non-function {first}")
        return val

    def call(self, cmd: CommandNode, name: str, fn: Callable[..., Any], args: list[Any]) -> Any:
        try:
            return fn(*args)
        except TemplateError as exc:
            raise self.fail(cmd, f"error calling {name}: {exc}") from None
        except TypeError as exc:
            want = _arity(fn)
            if want is None or _fits(want, len(args)):
                raise self.fail(cmd, f"error calling {name}: {exc}") from None
            n, variadic = want
            need = f"at least {n}" if variadic else str(n)
            msg = f"wrong number of args for {name}: want {need} got {len(args)}"
            raise self.fail(cmd, msg) from None

    def arg(self, dot: Any, node: Node) -> Any:
        """An operand's value (a method value stays uncalled, for the command to call)."""
        if isinstance(node, PipeNode):
            return self.pipeline(dot, node)
        if isinstance(node, StringNode):
            return node.text
        if isinstance(node, DotNode):
            return dot
        if isinstance(node, FieldNode):
            return self.fields(node, dot, node.ident)
        if isinstance(node, VariableNode):
            val = self.var_value(node, node.ident[0])
            return self.fields(node, val, node.ident[1:]) if len(node.ident) > 1 else val
        if isinstance(node, ChainNode):
            return self.fields(node, self.arg(dot, node.node), node.fields)
        if isinstance(node, BoolNode):
            return node.value
        if isinstance(node, NilNode):
            return None
        if isinstance(node, NumberNode):
            return node.value
        if isinstance(node, IdentifierNode):
            return self.call(CommandNode(node.pos, [node]), node.name, FUNCS[node.name], [])
        raise self.fail(node, f"can't evaluate {node}")

    def fields(self, node: Node, val: Any, names: list[str]) -> Any:
        """.A.B.C read off val: a missing key is <no value>, or an error as Go gives it (a
        typed row, missingkey=error), except in a field that is a Go map."""
        parent = ""
        for name in names:
            if callable(val):
                val = val()
            if parent in GO_MAPS:
                pass  # a Go map field: the typed pass renders a missing key as <no value>
            elif isinstance(val, TemplateData) and type(val).get is dict.get:
                if name not in val and val.go_type:
                    raise self.fail(node, f"can't evaluate field {name} in type {val.go_type}")
            elif isinstance(val, dict) and name not in val:
                if val is self.root and self.root_type:
                    msg = f"can't evaluate field {name} in type {self.root_type}"
                    raise self.fail(node, msg)
                if self.missingkey == "error":
                    raise self.fail(node, f"map has no entry for key {_quote(name)}")
            if isinstance(val, dict):
                val = val.get(name)
            elif val is not None:
                go_type = _GO_TYPES.get(type(val).__name__, type(val).__name__)
                raise self.fail(node, f"can't evaluate field {name} in type {go_type}")
            parent = name
        return val


def _quote(s: str) -> str:
    import json

    return json.dumps(s, ensure_ascii=False)


def _arity(fn: Callable[..., Any]) -> tuple[int, bool] | None:
    """(positional parameters, variadic) of a function, None when Python cannot tell."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    n = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)
    return n, any(p.kind is p.VAR_POSITIONAL for p in params)


def _fits(want: tuple[int, bool], got: int) -> bool:
    n, variadic = want
    return got >= n if variadic else got == n


def execute(
    tree: Tree, src: str, data: Any, missingkey: str = "default", root_type: str = ""
) -> str:
    state = State(tree, src, data, missingkey, root_type)
    try:
        state.walk(data, tree[""])
    except (_Break, _Continue):
        raise TemplateError("{{break}} or {{continue}} outside {{range}}") from None
    return "".join(state.out)
