"""JSON decoding for the CLI without the json package: `json.decoder` compiles regular
expressions at import, and importing `re` (with enum, functools and collections) is ~6 ms
of a `berth version` that takes ~25. CPython's C scanner (`_json`), which json.loads itself
uses, does the work here; the json package is imported only to encode, to report a
malformed document (its errors are the ones json.loads raises), or where `_json` is
missing."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_WS = " \t\n\r"
_CONSTANTS = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}


class _Context:
    """What the C scanner reads off a JSONDecoder: json.loads's defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = staticmethod(_CONSTANTS.__getitem__)


_scan: Any = None


def _scanner() -> Any:
    global _scan
    if _scan is None:
        try:
            from _json import make_scanner
        except ImportError:
            _scan = False
        else:
            _scan = make_scanner(_Context())  # type: ignore[arg-type]
    return _scan


def loads(doc: str | bytes) -> Any:
    """json.loads(DOC): the same value, or the same error."""
    scan = _scanner()
    text = doc
    if isinstance(doc, bytes | bytearray):
        try:
            text = doc.decode("utf-8")
        except UnicodeDecodeError:
            scan = False
    if scan:
        assert isinstance(text, str)
        start = len(text) - len(text.lstrip(_WS))
        try:
            value, end = scan(text, start)
        except (StopIteration, ValueError, RecursionError):
            pass  # json.loads below says what is wrong, in its words
        else:
            if not text[end:].strip(_WS):
                return value
    import json

    return json.loads(doc)


def dumps(value: Any) -> str:
    """json.dumps(VALUE) (the json package is imported for it)."""
    import json

    return json.dumps(value)
