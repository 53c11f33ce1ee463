"""Go's number and duration parsers, with their error texts (HEALTHCHECK's flags)."""

from __future__ import annotations

from berth.engine.build.shell import go_quote

from .model import Invalid

_UNITS = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,
    "\u03bcs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}


def go_parse_duration(s: str) -> int:
    """Go's time.ParseDuration, in nanoseconds, with Go's error texts."""
    orig = s
    invalid = Invalid(f"time: invalid duration {go_quote(orig)}")
    neg = False
    if s and s[0] in "+-":
        neg = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0
    if s == "":
        raise invalid
    total = 0
    while s:
        if not (s[0] == "." or "0" <= s[0] <= "9"):
            raise invalid
        i = 0
        while i < len(s) and "0" <= s[i] <= "9":
            i += 1
        pre = i > 0
        whole = int(s[:i]) if pre else 0
        s = s[i:]
        frac, scale, post = 0, 1.0, False
        if s.startswith("."):
            s = s[1:]
            i = 0
            while i < len(s) and "0" <= s[i] <= "9":
                i += 1
            post = i > 0
            digits = s[:i]
            s = s[i:]
            # Go stops accumulating digits once the fraction would overflow
            for ch in digits:
                if frac > (1 << 63) // 10:
                    break
                frac = frac * 10 + int(ch)
                scale *= 10
        if not pre and not post:
            raise invalid
        i = 0
        while i < len(s) and not (s[i] == "." or "0" <= s[i] <= "9"):
            i += 1
        if i == 0:
            raise Invalid(f"time: missing unit in duration {go_quote(orig)}")
        unit_name = s[:i]
        s = s[i:]
        unit = _UNITS.get(unit_name)
        if unit is None:
            raise Invalid(f"time: unknown unit {go_quote(unit_name)} in duration {go_quote(orig)}")
        if whole > (1 << 63) // unit:
            raise invalid
        v = whole * unit
        if frac:
            v += int(float(frac) * (float(unit) / scale))
        total += v
        if total > 1 << 63:
            raise invalid
    if not neg and total > (1 << 63) - 1:
        raise invalid
    return -total if neg else total


def go_parse_int(s: str, bits: int) -> int:
    """Go's strconv.ParseInt(s, 10, bits), with its error texts."""
    digits = s[1:] if s[:1] in ("+", "-") else s
    if digits == "" or not all("0" <= c <= "9" for c in digits):
        raise Invalid(f"strconv.ParseInt: parsing {go_quote(s)}: invalid syntax")
    n = int(s)
    if not -(1 << (bits - 1)) <= n < 1 << (bits - 1):
        raise Invalid(f"strconv.ParseInt: parsing {go_quote(s)}: value out of range")
    return n
