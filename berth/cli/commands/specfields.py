"""Flags that map mechanically onto create-body fields, declared as tables of
(flag attribute, body key, converter) and applied in table order: the order of a table is the
order of the keys in the encoded body, which is what the docker CLI sends."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from berth.cli.flags import Command

# a converter validates one flag's value (raising the docker CLI's message) and encodes it
Convert = Callable[[Command, Any], Any]


class _Falsy:
    """The default `unset`: a flag left at "", 0, False or [] is not sent."""

    def __repr__(self) -> str:
        return "FALSY"


FALSY: Any = _Falsy()


@dataclass(frozen=True)
class Field:
    attr: str  # the parsed flag's attribute, e.g. "cpu_shares"
    key: str  # the body key, e.g. "CpuShares"
    convert: Convert | None = None  # None: the value travels as it is
    unset: Any = FALSY  # the flag's value that means "not given" (then the key is left out)

    def given(self, value: Any) -> bool:
        return bool(value) if self.unset is FALSY else value != self.unset


def apply(
    cmd: Command, opts: SimpleNamespace, target: dict[str, Any], fields: Iterable[Field]
) -> None:
    """Set target[key] for each given flag, converting it; a bad value raises at once, so the
    first bad flag in table order is the one reported."""
    for f in fields:
        value = getattr(opts, f.attr)
        if f.given(value):
            target[f.key] = f.convert(cmd, value) if f.convert else value


def each(convert: Convert) -> Convert:
    """A converter for a list flag that converts every item."""
    return lambda cmd, values: [convert(cmd, v) for v in values]


def as_list(cmd: Command, values: list[Any]) -> list[Any]:
    return list(values)


def key_values(cmd: Command, items: list[str]) -> dict[str, str]:
    """KEY=VALUE items (a bare KEY: an empty value), later keys winning."""
    return dict(i.partition("=")[::2] for i in items)
