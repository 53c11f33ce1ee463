"""moby's BFlags: the flags an instruction accepts, checked, with buildkit's "did you
mean" suggestion for an unknown one."""

from __future__ import annotations

from .model import Invalid


def _levenshtein(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def _suggest(value: str, options: list[str], case_sensitive: bool) -> str:
    """buildkit's suggest.Search: the closest option under distance 3, or ""."""
    orig = value
    if not case_sensitive:
        value = value.lower()
    match = ""
    best = 3
    for opt in sorted(options):
        if not case_sensitive:
            opt = opt.lower()
        if value == opt:
            return ""
        dist = _levenshtein(value, opt)
        if dist < best:
            best = dist
            if case_sensitive:
                match = opt
            elif orig == orig.lower():
                match = opt.lower()
            elif orig == orig.upper():
                match = opt.upper()
            else:
                match = opt
    return match


def with_suggestion(msg: str, value: str, options: list[str], case_sensitive: bool) -> str:
    match = _suggest(value, options, case_sensitive)
    return f"{msg} (did you mean {match}?)" if match else msg


BOOL, STRING, STRINGS = "bool", "string", "strings"


class Flags:
    """moby's BFlags: the flags an instruction accepts, checked on parse()."""

    def __init__(self, raw: tuple[str, ...]) -> None:
        self.raw = raw
        self.kinds: dict[str, str] = {}
        self.defaults: dict[str, str] = {}
        self.used: list[tuple[str, str]] = []

    def add(self, name: str, kind: str, default: str = "") -> None:
        self.kinds[name] = kind
        self.defaults[name] = "false" if kind == BOOL else default

    def parse(self) -> None:
        seen: set[str] = set()
        for a in self.raw:
            if a == "--":
                return
            if not a.startswith("--"):
                raise Invalid(f"arg should start with -- : {a}")
            flag_name, has_value, value = a.partition("=")
            arg = flag_name[2:]
            kind = self.kinds.get(arg)
            if kind is None:
                raise Invalid(
                    with_suggestion(f"unknown flag: {flag_name}", arg, list(self.kinds), True)
                )
            if arg in seen and kind != STRINGS:
                raise Invalid(f"duplicate flag specified: {flag_name}")
            seen.add(arg)
            if kind == BOOL:
                if has_value and value == "":
                    raise Invalid(f"missing a value on flag: {flag_name}")
                lower = value.lower()
                if lower not in ("", "true", "false"):
                    raise Invalid(f"expecting boolean value for flag {flag_name}, not: {value}")
                self.used.append((arg, "false" if lower == "false" else "true"))
            else:
                if not has_value:
                    raise Invalid(f"missing a value on flag: {flag_name}")
                self.used.append((arg, value))

    def value(self, name: str) -> str:
        for k, v in reversed(self.used):
            if k == name:
                return v
        return self.defaults.get(name, "")


def naive_flags(raw: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    out = []
    for a in raw:
        name, _, value = a.removeprefix("--").partition("=")
        out.append((name, value))
    return tuple(out)
