"""The lexer's errors, and the end-of-input it reads as a character."""

from __future__ import annotations

EOF = ""
# what Go prints for string(rune(scanner.EOF)) in "unsupported modifier" errors
EOF_TEXT = "\ufffd"


class ExpansionError(Exception):
    """A word the lexer refuses; `message` is dockerd's text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Fail(Exception):
    # internal: the unwrapped error, before "failed to process %q" is added
    pass
