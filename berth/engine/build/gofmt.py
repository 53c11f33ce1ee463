"""The few Go formatting verbs the classic builder's history comments are made with, so
that `docker history` reads as it does after a dockerd build: `%q` of a string slice
(`CMD ["sh" "-c" "x"]`), `%v` of one (`VOLUME [/data]`)."""

from __future__ import annotations

from collections.abc import Sequence


def quote(s: str) -> str:
    """Go's strconv.Quote for the printable strings a Dockerfile holds."""
    out = ['"']
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def q_slice(items: Sequence[str]) -> str:
    """fmt's %q of a []string."""
    return "[" + " ".join(quote(s) for s in items) + "]"


def v_slice(items: Sequence[str]) -> str:
    """fmt's %v of a []string."""
    return "[" + " ".join(items) + "]"
