"""Variable expansion in Dockerfile words, as moby's shell lexer does it
(buildkit `frontend/dockerfile/shell/lex.go`, the version dockerd 28 vendors).

`expand` is ProcessWord: `$VAR`, `${VAR}`, `${VAR:-d}`, `${VAR-d}`, `${VAR:+a}`,
`${VAR+a}`, `${VAR:?msg}`, `${VAR?msg}`, `${VAR#p}`, `${VAR##p}`, `${VAR%p}`,
`${VAR%%p}`, `${VAR/p/r}`, `${VAR//p/r}`; quotes are removed and escapes
resolved the way the lexer does, unknown variables become "". `expand_words` is
ProcessWords: the same, then split into words (quoted spaces kept).

Which instruction gets which: the classic builder expands the instructions in
`EXPANDED` word by word (`expand`), except EXPOSE, which alone is split into
words after expansion (`expand_words`); FROM (and its --platform) is expanded
against the meta ARGs only. RUN's own expansion only concerns --mount, which the
classic builder refuses anyway.

One module per part of lex.go: `lexer` (the lexer), `patterns` (the ${} patterns),
`gotext` (Go's strconv.Quote and unicode.IsSpace), `errors`.
"""

from .errors import ExpansionError
from .gotext import go_quote, is_space
from .lexer import Lexer, Result, expand, expand_words
from .patterns import shell_pattern_to_regex

EXPANDED: frozenset[str] = frozenset(
    {
        "add",
        "arg",
        "copy",
        "env",
        "expose",
        "from",
        "label",
        "stopsignal",
        "user",
        "volume",
        "workdir",
    }
)
# the one instruction whose words may split into several after expansion
WORDS_EXPANDED: frozenset[str] = frozenset({"expose"})

__all__ = [
    "EXPANDED",
    "WORDS_EXPANDED",
    "ExpansionError",
    "Lexer",
    "Result",
    "expand",
    "expand_words",
    "go_quote",
    "is_space",
    "shell_pattern_to_regex",
]
