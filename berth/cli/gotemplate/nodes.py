"""The parse tree, as Go's text/template/parse/node.go shapes it. Every node keeps its byte
offset (pos) for Go's located errors, and str() of a node is Go's String(): the text an
execution error quotes at <...>."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Node:
    pos: int


@dataclass
class TextNode(Node):
    text: str


@dataclass
class DotNode(Node):
    def __str__(self) -> str:
        return "."


@dataclass
class NilNode(Node):
    def __str__(self) -> str:
        return "nil"


@dataclass
class BoolNode(Node):
    value: bool

    def __str__(self) -> str:
        return "true" if self.value else "false"


@dataclass
class NumberNode(Node):
    text: str
    value: int | float

    def __str__(self) -> str:
        return self.text


@dataclass
class StringNode(Node):
    quoted: str  # as written, quotes included
    text: str

    def __str__(self) -> str:
        return self.quoted


@dataclass
class FieldNode(Node):
    """.A.B: the fields read off dot."""

    ident: list[str]

    def __str__(self) -> str:
        return "".join("." + i for i in self.ident)


@dataclass
class VariableNode(Node):
    """$x.A.B: the variable, then fields read off it."""

    ident: list[str]

    def __str__(self) -> str:
        return ".".join(self.ident)


@dataclass
class IdentifierNode(Node):
    """A function's name."""

    name: str

    def __str__(self) -> str:
        return self.name


@dataclass
class ChainNode(Node):
    """(pipeline).A.B: fields read off a term that is not dot or a variable."""

    node: Node
    fields: list[str]

    def __str__(self) -> str:
        head = f"({self.node})" if isinstance(self.node, PipeNode) else str(self.node)
        return head + "".join("." + f for f in self.fields)


@dataclass
class CommandNode(Node):
    """One stage of a pipeline: an operand and its arguments."""

    args: list[Node] = field(default_factory=list)

    def __str__(self) -> str:
        return " ".join(f"({a})" if isinstance(a, PipeNode) else str(a) for a in self.args)


@dataclass
class PipeNode(Node):
    """Commands joined by "|", with the variables it declares (:=) or assigns (=)."""

    decl: list[VariableNode] = field(default_factory=list)
    is_assign: bool = False
    cmds: list[CommandNode] = field(default_factory=list)

    def __str__(self) -> str:
        head = ""
        if self.decl:
            head = ", ".join(str(v) for v in self.decl) + (" = " if self.is_assign else " := ")
        return head + " | ".join(str(c) for c in self.cmds)


@dataclass
class ListNode(Node):
    nodes: list[Node] = field(default_factory=list)

    def __str__(self) -> str:
        return "".join(str(n) for n in self.nodes)


@dataclass
class ActionNode(Node):
    """{{pipeline}}: printed unless it declares variables."""

    pipe: PipeNode

    def __str__(self) -> str:
        return "{{" + str(self.pipe) + "}}"


@dataclass
class BranchNode(Node):
    """{{if}}, {{range}} and {{with}}: the pipeline, the body and the {{else}} part."""

    pipe: PipeNode
    body: ListNode
    alt: ListNode | None
    keyword = ""

    def __str__(self) -> str:
        alt = "{{else}}" + str(self.alt) if self.alt is not None else ""
        return f"{{{{{self.keyword} {self.pipe}}}}}{self.body}{alt}{{{{end}}}}"


@dataclass
class IfNode(BranchNode):
    keyword = "if"


@dataclass
class RangeNode(BranchNode):
    keyword = "range"


@dataclass
class WithNode(BranchNode):
    keyword = "with"


@dataclass
class TemplateNode(Node):
    """{{template "name" pipeline}} (and the call half of {{block}})."""

    name: str
    pipe: PipeNode | None

    def __str__(self) -> str:
        import json

        pipe = f" {self.pipe}" if self.pipe is not None else ""
        return "{{template " + json.dumps(self.name) + pipe + "}}"


@dataclass
class BreakNode(Node):
    def __str__(self) -> str:
        return "{{break}}"


@dataclass
class ContinueNode(Node):
    def __str__(self) -> str:
        return "{{continue}}"


@dataclass
class EndNode(Node):
    """{{end}}: only while parsing, never in a tree."""

    def __str__(self) -> str:
        return "{{end}}"


@dataclass
class ElseNode(Node):
    """{{else}}: only while parsing, never in a tree."""

    def __str__(self) -> str:
        return "{{else}}"


Tree = dict[str, ListNode]  # the main template ("") and each {{define}}d one, by name
Value = Any
