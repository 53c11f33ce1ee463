"""A small pflag-style option parser: docker's flag syntax, usage errors, and --help text.

argparse is avoided on purpose: it costs start-up time, and docker's syntax (-itd, -e=X,
options stopping at the image name) is easier to match by hand.
"""

from __future__ import annotations

from types import SimpleNamespace

TYPE_CHECKING = False  # importing typing costs the CLI's start ~3 ms
if TYPE_CHECKING:
    from typing import Any

_TRUE = {"1", "t", "T", "true", "TRUE", "True"}
_FALSE = {"0", "f", "F", "false", "FALSE", "False"}


class UsageError(Exception):
    """Bad command-line usage; the CLI prints it with the command's usage line (exit 125)."""

    def __init__(self, message: str, usage: str = "", command: str = "", status: int = 125):
        super().__init__(message)
        self.message = message
        self.usage = usage
        self.command = command
        self.status = status


class Flag:
    """One option. kind is "bool", "str", "int", "float" or "list" (repeatable strings)."""

    __slots__ = ("long", "short", "kind", "default", "help", "metavar")

    def __init__(
        self,
        long: str,
        short: str = "",
        kind: str = "bool",
        default: Any = None,
        help: str = "",
        metavar: str = "",
    ) -> None:
        self.long = long
        self.short = short
        self.kind = kind
        self.default = default
        self.help = help
        self.metavar = metavar

    @property
    def dest(self) -> str:
        """Attribute name on the parsed options."""
        return self.long.replace("-", "_")

    def initial(self) -> Any:
        """Value when the flag is absent."""
        if self.kind == "list":
            return list(self.default or [])
        if self.kind == "bool" and self.default is None:
            return False
        return self.default


class Command:
    """A command's flags and arity. interspersed=False stops options at the first argument
    (run/create/exec: what follows the image belongs to the container)."""

    def __init__(
        self,
        name: str,
        usage: str,
        summary: str = "",
        flags: list[Flag] | None = None,
        min_args: int = 0,
        max_args: int | None = None,
        interspersed: bool = True,
    ) -> None:
        self.name = name
        self.usage = usage
        self.summary = summary
        self.flags = flags or []
        self.min_args = min_args
        self.max_args = max_args
        self.interspersed = interspersed

    def find(self, name: str, short: bool) -> Flag | None:
        """The flag with this long or short name."""
        for f in self.flags:
            if (f.short if short else f.long) == name:
                return f
        return None

    def usage_error(self, message: str, status: int = 125) -> UsageError:
        """An error to raise for this command."""
        return UsageError(message, self.usage, self.name, status)

    def help_text(self) -> str:
        """docker-like --help output."""
        lines = [f"\nUsage:  {self.usage}\n"]
        if self.summary:
            lines.append(self.summary + "\n")
        if self.flags:
            lines.append("Options:")
            rows = []
            for f in self.flags:
                left = (f"-{f.short}, " if f.short else "    ") + "--" + f.long
                if f.kind != "bool":
                    left += " " + (f.metavar or f.kind)
                rows.append((left, f.help))
            width = max(len(r[0]) for r in rows)
            lines += [f"  {a.ljust(width)}   {b}".rstrip() for a, b in rows]
        return "\n".join(lines) + "\n"


class HelpRequested(Exception):
    """--help was given."""

    def __init__(self, command: Command) -> None:
        super().__init__(command.name)
        self.command = command


def _set(cmd: Command, opts: SimpleNamespace, flag: Flag, name: str, raw: str) -> None:
    dest = flag.dest
    try:
        if flag.kind == "list":
            getattr(opts, dest).append(raw)
            return
        if flag.kind == "bool":
            if raw in _TRUE:
                value: Any = True
            elif raw in _FALSE:
                value = False
            else:
                raise ValueError(f'strconv.ParseBool: parsing "{raw}": invalid syntax')
        elif flag.kind == "int":
            try:
                value = int(raw, 0)
            except ValueError:
                raise ValueError(f'strconv.ParseInt: parsing "{raw}": invalid syntax') from None
        elif flag.kind == "float":
            try:
                value = float(raw)
            except ValueError:
                raise ValueError(f'strconv.ParseFloat: parsing "{raw}": invalid syntax') from None
        else:
            value = raw
    except ValueError as exc:
        label = (f"-{flag.short}, " if flag.short else "") + "--" + flag.long
        raise cmd.usage_error(f'invalid argument "{raw}" for "{label}" flag: {exc}') from None
    setattr(opts, dest, value)


def parse(cmd: Command, argv: list[str]) -> tuple[SimpleNamespace, list[str]]:
    """Parse argv against cmd; returns (options, positional arguments)."""
    opts = SimpleNamespace(**{f.dest: f.initial() for f in cmd.flags})
    args: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            args += argv[i:]
            break
        if arg.startswith("--") and len(arg) > 2:
            name, eq, raw = arg[2:].partition("=")
            if name == "help":
                raise HelpRequested(cmd)
            flag = cmd.find(name, short=False)
            if flag is None:
                raise cmd.usage_error(f"unknown flag: --{name}")
            if not eq:
                if flag.kind == "bool":
                    raw = "true"
                elif i < len(argv):
                    raw = argv[i]
                    i += 1
                else:
                    raise cmd.usage_error(f"flag needs an argument: --{name}")
            _set(cmd, opts, flag, name, raw)
            continue
        if arg.startswith("-") and len(arg) > 1:
            shorts = arg[1:]
            while shorts:
                c, shorts = shorts[0], shorts[1:]
                flag = cmd.find(c, short=True)
                if flag is None:
                    if c == "h":
                        raise HelpRequested(cmd)
                    raise cmd.usage_error(f"unknown shorthand flag: '{c}' in {arg}")
                if flag.kind == "bool":
                    if shorts.startswith("="):
                        _set(cmd, opts, flag, c, shorts[1:])
                        shorts = ""
                    else:
                        _set(cmd, opts, flag, c, "true")
                    continue
                if shorts:
                    raw, shorts = shorts[1:] if shorts.startswith("=") else shorts, ""
                elif i < len(argv):
                    raw = argv[i]
                    i += 1
                else:
                    raise cmd.usage_error(f"flag needs an argument: '{c}' in {arg}")
                _set(cmd, opts, flag, c, raw)
            continue
        args.append(arg)
        if not cmd.interspersed:
            args += argv[i:]
            break
    _check_arity(cmd, args)
    return opts, args


def _check_arity(cmd: Command, args: list[str]) -> None:
    n = len(args)
    full = f"berth {cmd.name}"
    # docker exits 1 (not 125) for a wrong argument count.
    if cmd.max_args == 0 and n:
        raise cmd.usage_error(f"'{full}' accepts no arguments", status=1)
    if n < cmd.min_args:
        if cmd.min_args == cmd.max_args:
            plural = "argument" if cmd.min_args == 1 else "arguments"
            msg = f"'{full}' requires exactly {cmd.min_args} {plural}"
        else:
            plural = "argument" if cmd.min_args == 1 else "arguments"
            msg = f"'{full}' requires at least {cmd.min_args} {plural}"
        raise cmd.usage_error(msg, status=1)
    if cmd.max_args is not None and n > cmd.max_args:
        if cmd.min_args == cmd.max_args:
            plural = "argument" if cmd.max_args == 1 else "arguments"
            msg = f"'{full}' requires exactly {cmd.max_args} {plural}"
        else:
            msg = f"'{full}' requires at most {cmd.max_args} arguments"
        raise cmd.usage_error(msg, status=1)
