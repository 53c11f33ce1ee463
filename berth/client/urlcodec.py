"""Percent-encoding exactly as urllib.parse does it, for paths and queries: importing
urllib.parse (and the ipaddress module it pulls in) is ~3 ms of every CLI command's start."""

from __future__ import annotations

# RFC 3986's unreserved characters: what urllib.parse.quote never encodes
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")


def quote(text: str, safe: str = "/", *, plus: bool = False) -> str:
    """urllib.parse.quote of `text` (quote_plus with `plus`): its UTF-8 bytes, each one
    outside the unreserved and `safe` characters as %XX."""
    keep = _UNRESERVED.union(safe.encode())
    out = []
    for b in text.encode():
        if b in keep:
            out.append(chr(b))
        elif plus and b == 0x20:
            out.append("+")
        else:
            out.append(f"%{b:02X}")
    return "".join(out)


def urlencode(items: list[tuple[str, str]]) -> str:
    """urllib.parse.urlencode of (key, value) pairs."""
    return "&".join(quote(k, "", plus=True) + "=" + quote(v, "", plus=True) for k, v in items)
