"""The argument checks shared by the parse and the builder: ENV/LABEL pairs, ARG's
names, HEALTHCHECK's config; and the helpers the builder calls per instruction."""

from __future__ import annotations

from berth.engine.build.shell import go_quote

from .flags import STRING, Flags
from .goparse import go_parse_duration, go_parse_int
from .model import DockerfileError, Instruction, Invalid

_MINIMUM_DURATION_NS = 1_000_000


def at_least_one(cmd: str) -> Invalid:
    return Invalid(f"{cmd} requires at least one argument")


def kvps(args: tuple[str, ...], cmd: str) -> list[tuple[str, str]]:
    if not args:
        raise at_least_one(cmd)
    if len(args) % 3:
        raise Invalid(f"Bad input to {cmd}, too many arguments")
    out = []
    for i in range(0, len(args), 3):
        if args[i] == "":
            raise Invalid(f"{cmd} names can not be blank")
        out.append((args[i], args[i + 1]))
    return out


def parse_key_values(inst: Instruction) -> list[tuple[str, str]]:
    """ENV/LABEL's (name, value) pairs, values still quoted and unexpanded:
    the builder passes name and value through `shell.expand`, which removes the
    quotes as it expands.

    Raises:
        DockerfileError: dockerd's text, e.g. "ENV names can not be blank".
    """
    try:
        return kvps(inst.args, inst.cmd.upper())
    except Invalid as e:
        raise DockerfileError(str(e), inst.line) from None


def arg_pairs(args: tuple[str, ...]) -> list[tuple[str, str | None]]:
    if not args:
        raise at_least_one("ARG")
    out: list[tuple[str, str | None]] = []
    for arg in args:
        if "=" in arg:
            k, v = arg.split("=", 1)
            if k == "":
                raise Invalid("ARG names can not be blank")
            out.append((k, v))
        else:
            out.append((arg, None))
    return out


def parse_args(inst: Instruction) -> list[tuple[str, str | None]]:
    """Every `name[=default]` of an ARG (moby accepts several per instruction),
    still quoted and unexpanded."""
    try:
        return arg_pairs(inst.args)
    except Invalid as e:
        raise DockerfileError(str(e), inst.line) from None


def parse_arg(inst: Instruction) -> tuple[str, str | None]:
    """The single `name[=default]` of an ARG; an ARG with several names is an
    error here — use `parse_args` for those."""
    pairs = parse_args(inst)
    if len(pairs) != 1:
        raise ValueError(f"ARG declares {len(pairs)} names; use parse_args")
    return pairs[0]


def parse_healthcheck(inst: Instruction) -> dict[str, object] | None:
    """HEALTHCHECK as the image config's Healthcheck (durations in ns).

    Raises:
        DockerfileError: dockerd's text for bad flags or arguments.
    """
    if not inst.args:
        raise DockerfileError("HEALTHCHECK requires at least one argument", inst.line)
    if inst.args[0].upper() == "NONE":
        if len(inst.args) != 1:
            raise DockerfileError("HEALTHCHECK NONE takes no arguments", inst.line)
        return {"Test": ["NONE"]}
    fl = Flags(inst.raw_flags)
    for name in ("interval", "timeout", "start-period", "start-interval", "retries"):
        fl.add(name, STRING)
    try:
        fl.parse()
        return health_config(inst.args, inst.json_form, fl)
    except Invalid as e:
        raise DockerfileError(str(e), inst.line) from None


def health_config(args: tuple[str, ...], is_json: bool, fl: Flags) -> dict[str, object]:
    typ = args[0].upper()
    if typ != "CMD":
        raise Invalid(f"Unknown type {go_quote(typ)} in HEALTHCHECK (try CMD)")
    rest = list(args[1:])
    if not rest:
        raise Invalid("Missing command after HEALTHCHECK CMD")
    test = ["CMD", *rest] if is_json else ["CMD-SHELL", " ".join(rest)]
    config: dict[str, object] = {"Test": test}
    for flag, key in (
        ("interval", "Interval"),
        ("timeout", "Timeout"),
        ("start-period", "StartPeriod"),
        ("start-interval", "StartInterval"),
    ):
        config[key] = _interval(flag, fl.value(flag))
    retries = fl.value("retries")
    if retries:
        n = go_parse_int(retries, 32)
        if n < 0:
            raise Invalid(f"--retries cannot be negative ({n})")
        config["Retries"] = n
    else:
        config["Retries"] = 0
    return config


def _interval(name: str, value: str) -> int:
    if value == "":
        return 0
    d = go_parse_duration(value)
    if d == 0:
        return 0
    if d < _MINIMUM_DURATION_NS:
        raise Invalid(f"Interval {go_quote(name)} cannot be less than 1ms")
    return d
