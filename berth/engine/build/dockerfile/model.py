"""What the parser makes: the syntax level's nodes, the checked instructions grouped into
stages, and the errors (dockerd's texts)."""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_NAME = "Dockerfile"
# bufio.MaxScanTokenSize: a longer line stops moby's scanner
_MAX_LINE = 64 * 1024

COMMANDS: frozenset[str] = frozenset(
    {
        "add",
        "arg",
        "cmd",
        "copy",
        "entrypoint",
        "env",
        "expose",
        "from",
        "healthcheck",
        "label",
        "maintainer",
        "onbuild",
        "run",
        "shell",
        "stopsignal",
        "user",
        "volume",
        "workdir",
    }
)
_LEADING_TABS = re.compile(r"^\t+", re.MULTILINE)


class DockerfileError(Exception):
    """A Dockerfile dockerd refuses; `message` is the text dockerd answers."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


class Invalid(Exception):
    # internal: the bare error, before the level's prefix is added
    line: int | None = None


@dataclass(frozen=True)
class Heredoc:
    """A heredoc body. `content` is raw, as moby keeps it; with `chomp` (`<<-`)
    the consumer strips leading tabs (`data()` does)."""

    name: str
    content: str
    expand: bool
    chomp: bool

    def data(self) -> str:
        return chomp_heredoc(self.content) if self.chomp else self.content


@dataclass(frozen=True)
class Instruction:
    """One instruction. `args` per kind:

    - RUN/CMD/ENTRYPOINT/SHELL: the JSON array's strings, or a 1-tuple with the
      rest of the line (shell form);
    - ENV/LABEL: moby's node triples (name, value, "=" or "" for the legacy
      `ENV name value` form), values still quoted: use `parse_key_values`;
    - ARG: the words, still quoted: use `parse_args`;
    - ONBUILD: a 1-tuple with the trigger expression (what goes in the image's
      OnBuild list);
    - HEALTHCHECK: the type then its command: use `parse_healthcheck`;
    - MAINTAINER/STOPSIGNAL/USER/WORKDIR: a 1-tuple with the rest of the line;
    - ADD/COPY/VOLUME (non-JSON), EXPOSE, FROM: split on whitespace.

    `flags` are checked and normalised (bool flags read "true"/"false");
    `raw_flags` are the words as written.
    """

    cmd: str
    args: tuple[str, ...]
    json_form: bool
    flags: tuple[tuple[str, str], ...]
    original: str
    line: int
    heredocs: tuple[Heredoc, ...] = ()
    end_line: int = 0
    raw_flags: tuple[str, ...] = ()

    def flag(self, name: str, default: str = "") -> str:
        for k, v in self.flags:
            if k == name:
                return v
        return default

    def flag_values(self, name: str) -> list[str]:
        return [v for k, v in self.flags if k == name]


@dataclass(frozen=True)
class Stage:
    name: str
    base: str
    platform: str
    instructions: tuple[Instruction, ...]
    from_instruction: Instruction


@dataclass(frozen=True)
class Dockerfile:
    escape: str
    meta_args: tuple[Instruction, ...]
    stages: tuple[Stage, ...]
    # the lines dockerd prints to the build's stderr, "[WARNING]: ..." each
    warnings: tuple[str, ...]
    instruction_count: int
    # the `# syntax=` directive, which the classic builder ignores
    syntax: str = ""


@dataclass(frozen=True)
class Node:
    """moby's parser.Node for one instruction: the syntax level, unchecked."""

    cmd: str  # as written
    args: tuple[str, ...]  # moby's nodeArgs
    json_form: bool
    raw_flags: tuple[str, ...]
    original: str  # the joined line, untrimmed
    start_line: int
    end_line: int
    heredocs: tuple[Heredoc, ...] = ()
    child: Node | None = None  # ONBUILD's trigger


@dataclass(frozen=True)
class NodeResult:
    nodes: tuple[Node, ...]
    escape: str
    warnings: tuple[str, ...]
    syntax: str = ""


def chomp_heredoc(content: str) -> str:
    return _LEADING_TABS.sub("", content)
