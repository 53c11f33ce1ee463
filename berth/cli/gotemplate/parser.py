"""Items into a tree, as Go's text/template/parse/parse.go builds it (same grammar, same
error messages): the main template and every {{define}}d or {{block}}ed one by name."""

from __future__ import annotations

import json
from collections.abc import Container

from berth.cli.gotemplate.errors import ParseError
from berth.cli.gotemplate.lexer import Item, T, lex
from berth.cli.gotemplate.nodes import (
    ActionNode,
    BoolNode,
    BranchNode,
    BreakNode,
    ChainNode,
    CommandNode,
    ContinueNode,
    DotNode,
    ElseNode,
    EndNode,
    FieldNode,
    IdentifierNode,
    IfNode,
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

_OPERAND_START = frozenset({T.BOOL, T.CHAR_CONSTANT, T.DOT, T.FIELD, T.IDENTIFIER, T.NUMBER,
                            T.NIL, T.RAW_STRING, T.STRING, T.VARIABLE, T.LEFT_PAREN})  # fmt: skip


def parse(src: str, funcs: Container[str]) -> Tree:
    """The trees of src: "" the main one; funcs, the function names an action may call."""
    return Parser(src, funcs).parse()


class Parser:
    def __init__(self, src: str, funcs: Container[str]) -> None:
        self.items = lex(src)
        self.i = 0
        self.funcs = funcs
        self.vars = ["$"]
        self.range_depth = 0
        self.last: Item = self.items[0]
        self.trees: Tree = {}

    # ---- the token stream ------------------------------------------------------

    def next(self) -> Item:
        self.last = self.peek()
        self.i += 1
        return self.last

    def backup(self, n: int = 1) -> None:
        self.i -= n

    def peek(self) -> Item:
        return self.items[min(self.i, len(self.items) - 1)]  # EOF, however often read

    def next_non_space(self) -> Item:
        token = self.next()
        while token.typ is T.SPACE:
            token = self.next()
        return token

    def peek_non_space(self) -> Item:
        token = self.next_non_space()
        self.backup()
        return token

    def error(self, message: str) -> ParseError:
        return ParseError(message, self.last.line)

    def expect(self, typ: T, context: str) -> Item:
        token = self.next_non_space()
        if token.typ is not typ:
            raise self.unexpected(token, context)
        return token

    def unexpected(self, token: Item, context: str) -> ParseError:
        if token.typ is T.ERROR:
            return ParseError(token.val, token.line)
        return self.error(f"unexpected {token} in {context}")

    # ---- the grammar ---------------------------------------------------------------

    def parse(self) -> Tree:
        root = ListNode(self.peek().pos)
        while self.peek().typ is not T.EOF:
            if self.peek().typ is T.LEFT_DELIM:
                delim = self.next()
                if self.next_non_space().typ is T.DEFINE:
                    self.definition()
                    continue
                self.i = self.items.index(delim)
            n = self.text_or_action()
            if isinstance(n, EndNode | ElseNode):
                raise self.error(f"unexpected {n}")
            if n is not None:
                root.nodes.append(n)
        self.trees[""] = root
        return self.trees

    def definition(self) -> None:
        context = "define clause"
        token = self.next_non_space()
        if token.typ not in (T.STRING, T.RAW_STRING):
            raise self.unexpected(token, context)
        name = self.unquote(token)
        self.expect(T.RIGHT_DELIM, context)
        body, end = self.item_list()
        if not isinstance(end, EndNode):
            raise self.error(f"unexpected {end} in {context}")
        self.trees[name] = body

    def item_list(self) -> tuple[ListNode, Node]:
        """Nodes up to an {{end}} or {{else}}, and that node."""
        nodes = ListNode(self.peek_non_space().pos)
        while self.peek_non_space().typ is not T.EOF:
            n = self.text_or_action()
            if isinstance(n, EndNode | ElseNode):
                return nodes, n
            if n is not None:
                nodes.nodes.append(n)
        raise self.error("unexpected EOF")

    def text_or_action(self) -> Node | None:
        token = self.next_non_space()
        if token.typ is T.TEXT:
            return TextNode(token.pos, token.val)
        if token.typ is T.LEFT_DELIM:
            return self.action()
        if token.typ is T.COMMENT:
            return None
        raise self.unexpected(token, "input")

    def action(self) -> Node:
        token = self.next_non_space()
        control = {
            T.BLOCK: self.block_control,
            T.BREAK: lambda: self.jump(token, BreakNode, "{{break}}"),
            T.CONTINUE: lambda: self.jump(token, ContinueNode, "{{continue}}"),
            T.ELSE: self.else_control,
            T.END: lambda: EndNode(self.expect(T.RIGHT_DELIM, "end").pos),
            T.IF: lambda: self.branch(IfNode, "if"),
            T.RANGE: lambda: self.branch(RangeNode, "range"),
            T.TEMPLATE: self.template_control,
            T.WITH: lambda: self.branch(WithNode, "with"),
        }.get(token.typ)
        if control is not None:
            return control()
        self.backup()
        token = self.peek()
        return ActionNode(token.pos, self.pipeline("command", T.RIGHT_DELIM))

    def jump(self, token: Item, make: type[Node], name: str) -> Node:
        after = self.next_non_space()
        if after.typ is not T.RIGHT_DELIM:
            raise self.unexpected(after, name)
        if self.range_depth == 0:
            raise self.error(f"{name} outside {{{{range}}}}")
        return make(token.pos)

    def else_control(self) -> Node:
        peek = self.peek_non_space()
        if peek.typ in (T.IF, T.WITH):  # "{{else if" is "{{else}}{{if"
            return ElseNode(peek.pos)
        return ElseNode(self.expect(T.RIGHT_DELIM, "else").pos)

    def branch(self, make: type[BranchNode], context: str) -> BranchNode:
        mark = len(self.vars)
        try:
            pipe = self.pipeline(context, T.RIGHT_DELIM)
            if context == "range":
                self.range_depth += 1
            body, nxt = self.item_list()
            if context == "range":
                self.range_depth -= 1
            alt = None
            if isinstance(nxt, ElseNode):
                alt = self.else_part(context, nxt)
            return make(pipe.pos, pipe, body, alt)
        finally:
            del self.vars[mark:]

    def else_part(self, context: str, at: ElseNode) -> ListNode:
        chained = {"if": (T.IF, IfNode), "with": (T.WITH, WithNode)}.get(context)
        if chained and self.peek().typ is chained[0]:
            self.next()
            return ListNode(at.pos, [self.branch(chained[1], context)])
        alt, nxt = self.item_list()
        if not isinstance(nxt, EndNode):
            raise self.error(f"expected end; found {nxt}")
        return alt

    def template_control(self) -> Node:
        context = "template clause"
        token = self.next_non_space()
        name = self.template_name(token, context)
        pipe = None
        if self.next_non_space().typ is not T.RIGHT_DELIM:
            self.backup()
            pipe = self.pipeline(context, T.RIGHT_DELIM)
        return TemplateNode(token.pos, name, pipe)

    def block_control(self) -> Node:
        context = "block clause"
        token = self.next_non_space()
        name = self.template_name(token, context)
        if self.next_non_space().typ is T.RIGHT_DELIM:
            raise self.error(f"missing value for {context}")
        self.backup()
        pipe = self.pipeline(context, T.RIGHT_DELIM)
        body, end = self.item_list()
        if not isinstance(end, EndNode):
            raise self.error(f"unexpected {end} in {context}")
        self.trees[name] = body
        return TemplateNode(token.pos, name, pipe)

    def template_name(self, token: Item, context: str) -> str:
        if token.typ in (T.STRING, T.RAW_STRING):
            return self.unquote(token)
        raise self.unexpected(token, context)

    def unquote(self, token: Item) -> str:
        if token.typ is T.RAW_STRING:
            return token.val[1:-1]
        try:
            return json.loads(token.val)  # type: ignore[no-any-return]
        except ValueError:
            raise self.error(f"invalid syntax: {token.val}") from None

    # ---- pipelines ----------------------------------------------------------------

    def pipeline(self, context: str, end: T) -> PipeNode:
        pipe = PipeNode(self.peek_non_space().pos)
        self.declarations(pipe, context)
        while True:
            token = self.next_non_space()
            if token.typ is end:
                self.check_pipeline(pipe, context)
                return pipe
            if token.typ not in _OPERAND_START:
                raise self.unexpected(token, context)
            self.backup()
            pipe.cmds.append(self.command())

    def declarations(self, pipe: PipeNode, context: str) -> None:
        """$x := / $x = / $k, $v := at the head of a pipeline."""
        while (v := self.peek_non_space()).typ is T.VARIABLE:
            self.next_non_space()
            nxt = self.peek_non_space()
            if nxt.typ in (T.ASSIGN, T.DECLARE):
                pipe.is_assign = nxt.typ is T.ASSIGN
                self.next_non_space()
                pipe.decl.append(VariableNode(v.pos, [v.val]))
                self.vars.append(v.val)
                return
            if nxt.typ is T.CHAR and nxt.val == ",":
                self.next_non_space()
                pipe.decl.append(VariableNode(v.pos, [v.val]))
                self.vars.append(v.val)
                if context == "range" and len(pipe.decl) < 2:
                    if self.peek_non_space().typ in (T.VARIABLE, T.RIGHT_DELIM, T.RIGHT_PAREN):
                        continue
                    raise self.error("range can only initialize variables")
                raise self.error(f"too many declarations in {context}")
            # not a declaration: the variable is the pipeline's first operand
            self.i = self.items.index(v)
            return

    def check_pipeline(self, pipe: PipeNode, context: str) -> None:
        if not pipe.cmds:
            raise self.error(f"missing value for {context}")
        for i, c in enumerate(pipe.cmds[1:]):
            if isinstance(c.args[0], BoolNode | DotNode | NilNode | NumberNode | StringNode):
                raise self.error(f"non executable command in pipeline stage {i + 2}")

    def command(self) -> CommandNode:
        cmd = CommandNode(self.peek_non_space().pos)
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                cmd.args.append(operand)
            token = self.next()
            if token.typ is T.SPACE:
                continue
            if token.typ in (T.RIGHT_DELIM, T.RIGHT_PAREN):
                self.backup()
            elif token.typ is not T.PIPE:
                raise self.unexpected(token, "operand")
            break
        if not cmd.args:
            raise self.error("empty command")
        return cmd

    def operand(self) -> Node | None:
        node = self.term()
        if node is None or self.peek().typ is not T.FIELD:
            return node
        at = self.peek().pos
        fields: list[str] = []
        while self.peek().typ is T.FIELD:
            fields.append(self.next().val[1:])
        if isinstance(node, FieldNode):
            return FieldNode(at, node.ident + fields)
        if isinstance(node, VariableNode):
            return VariableNode(at, node.ident + fields)
        if isinstance(node, BoolNode | StringNode | NumberNode | NilNode | DotNode):
            raise self.error(f"unexpected . after term {json.dumps(str(node))}")
        return ChainNode(at, node, fields)

    def term(self) -> Node | None:
        token = self.next_non_space()
        typ, pos, val = token.typ, token.pos, token.val
        if typ is T.IDENTIFIER:
            if val not in self.funcs:
                raise self.error(f"function {json.dumps(val)} not defined")
            return IdentifierNode(pos, val)
        if typ is T.DOT:
            return DotNode(pos)
        if typ is T.NIL:
            return NilNode(pos)
        if typ is T.VARIABLE:
            return self.use_var(token)
        if typ is T.FIELD:
            return FieldNode(pos, [val[1:]])
        if typ is T.BOOL:
            return BoolNode(pos, val == "true")
        if typ in (T.NUMBER, T.CHAR_CONSTANT):
            return NumberNode(pos, val, self.number(token))
        if typ is T.LEFT_PAREN:
            return self.pipeline("parenthesized pipeline", T.RIGHT_PAREN)
        if typ in (T.STRING, T.RAW_STRING):
            return StringNode(pos, val, self.unquote(token))
        self.backup()
        return None

    def use_var(self, token: Item) -> VariableNode:
        if token.val not in self.vars:
            raise self.error(f"undefined variable {json.dumps(token.val)}")
        return VariableNode(token.pos, [token.val])

    def number(self, token: Item) -> int | float:
        text = token.val
        if token.typ is T.CHAR_CONSTANT:
            inner = text[1:-1]
            return ord(json.loads('"' + inner.replace('"', '\\"') + '"')) if inner else 0
        try:
            return int(text.replace("_", ""), 0)
        except ValueError:
            pass
        try:
            return float(text.replace("_", ""))
        except ValueError:
            raise self.error(f"illegal number syntax: {json.dumps(text)}") from None
