"""The Dockerfile parser of the classic builder, as dockerd 28 vendors it from
buildkit (`frontend/dockerfile/parser` for the syntax, `instructions` for the
per-instruction checks).

Two levels, as in moby:

- `parse_nodes` is moby's `parser.Parse`: directives, continuations, comments,
  heredocs, flags and each instruction's argument shape. Its errors read
  "failed to parse Dockerfile: ..." (dockerd wraps them with the file name).
- `parse` adds `instructions.Parse`: flag and argument checks per instruction
  ("dockerfile parse error on line N: ..."), then groups the instructions into
  stages after the meta ARGs.

Nothing is variable-expanded here: ENV/LABEL/ARG values keep their quotes,
because which parts are quoted decides what `shell.expand` substitutes later.

One module per part of moby's parser: `lines` (directives, continuations, heredoc bodies),
`nodes` (each instruction's argument shape), `text` (word splitting and leading flags),
`heredocs`, `flags` (BFlags), `instructions` (the per-instruction checks and the stages),
`values` (what the builder reads out of an instruction), `goparse` (Go's number parsers).
"""

from .goparse import go_parse_duration, go_parse_int
from .heredocs import parse_heredoc_word
from .instructions import parse
from .lines import parse_nodes
from .model import (
    COMMANDS,
    DEFAULT_NAME,
    Dockerfile,
    DockerfileError,
    Heredoc,
    Instruction,
    Invalid,
    Node,
    NodeResult,
    Stage,
    chomp_heredoc,
)
from .text import parse_words
from .values import parse_arg, parse_args, parse_healthcheck, parse_key_values

__all__ = [
    "COMMANDS",
    "DEFAULT_NAME",
    "Dockerfile",
    "DockerfileError",
    "Heredoc",
    "Instruction",
    "Invalid",
    "Node",
    "NodeResult",
    "Stage",
    "chomp_heredoc",
    "go_parse_duration",
    "go_parse_int",
    "parse",
    "parse_arg",
    "parse_args",
    "parse_healthcheck",
    "parse_heredoc_word",
    "parse_key_values",
    "parse_nodes",
    "parse_words",
]
