"""The CLI's command tree, walked from main's command table and each command's flags.Command.

One source for `berth completion` (berth/cli/completion.py) and docs/cli.md
(scripts/gen-cli-docs), so neither can drift from what the parser accepts. Walking the
tree imports every command module: only those two callers do it, never a normal command.
"""

from __future__ import annotations

from dataclasses import dataclass

from berth.cli import main
from berth.cli.flags import Command, Flag

# main parses the global options by hand (they come before the command word); this is
# the same set as data, in the order `berth --help` lists them.
GLOBAL_FLAGS: list[Flag] = [
    Flag("config", "", "str", "~/.docker", help="Location of client config files"),
    Flag("context", "c", "str", help="Name of the context to use to connect to the daemon"),
    Flag("debug", "D", help="Enable debug mode"),
    Flag("host", "H", "list", help="Daemon socket to connect to"),
    Flag("log-level", "l", "str", "info", help="Set the logging level (accepted, ignored)"),
    Flag("tls", "", help="Use TLS; implied by --tlsverify"),
    Flag("tlscacert", "", "str", "~/.docker/ca.pem", help="Trust certs signed only by this CA"),
    Flag("tlscert", "", "str", "~/.docker/cert.pem", help="Path to TLS certificate file"),
    Flag("tlskey", "", "str", "~/.docker/key.pem", help="Path to TLS key file"),
    Flag("tlsverify", "", help="Use TLS and verify the remote"),
    Flag("version", "v", help="Print version information and quit"),
]

# What a positional placeholder in a usage line names, for completing it from the daemon.
_ARG_KINDS = (
    ("CONTAINER", "containers"),
    ("IMAGE", "images"),
    ("NETWORK", "networks"),
    ("VOLUME", "volumes"),
    ("NAME|ID", "containers"),
)
# Flags whose value is the name of an object.
FLAG_KINDS = {"network": "networks", "volumes-from": "containers"}


@dataclass(frozen=True)
class Entry:
    """One command: the words that run it, the other words that run it too, its flags."""

    path: tuple[str, ...]
    aliases: tuple[tuple[str, ...], ...]
    command: Command

    @property
    def words(self) -> str:
        return " ".join(self.path)

    def arg_kinds(self) -> tuple[list[str], bool]:
        """The object kind ("" for none) of each positional argument, and whether the last
        one repeats (`CONTAINER [CONTAINER...]`)."""
        if len(self.path) == 2 and self.path[1] == "create":
            return [], False  # network/volume create name a new object
        first = self.command.usage.splitlines()[0]
        tokens = first.split()[1 + len(self.command.name.split()) :]
        kinds: list[str] = []
        repeats = False
        for tok in tokens:
            if tok == "[OPTIONS]" or tok == "|":
                continue
            if tok.endswith("...]") and kinds:
                repeats = True
                break
            kind = next((k for word, k in _ARG_KINDS if word in tok), "")
            kinds.append(kind)
        return kinds, repeats


def _target_paths() -> dict[str, list[tuple[str, ...]]]:
    paths: dict[str, list[tuple[str, ...]]] = {}
    for word in sorted(main._COMMANDS):
        if "-" not in word:
            paths.setdefault(word, []).append((word,))
    for word, (_summary, table) in sorted(main._MANAGED.items()):
        for sub, target in sorted(table.items()):
            paths.setdefault(target, []).append((word, sub))
    return paths


def entries() -> list[Entry]:
    """Every command once, sorted by the words that name it."""
    out: list[Entry] = []
    for target, paths in _target_paths().items():
        cmd = main.command_object(target)
        if not isinstance(cmd, Command):
            raise LookupError(f"no flags.Command for {target!r}")
        own = tuple(cmd.name.split())
        primary = own if own in paths else paths[0]
        aliases = tuple(p for p in paths if p != primary)
        out.append(Entry(primary, aliases, cmd))
    return sorted(out, key=lambda e: e.path)


def all_paths(items: list[Entry]) -> list[tuple[tuple[str, ...], Entry]]:
    """Each path (primary and alias) with its entry, sorted."""
    pairs = [(p, e) for e in items for p in (e.path, *e.aliases)]
    return sorted(pairs, key=lambda pe: pe[0])


def management() -> dict[str, tuple[str, list[str]]]:
    """Management words -> (summary, their subcommand words, aliases included)."""
    return {w: (s.splitlines()[0], sorted(t)) for w, (s, t) in sorted(main._MANAGED.items())}


def top_level() -> list[str]:
    """The words that can follow `berth`."""
    words = {w for w in main._COMMANDS if "-" not in w} | set(main._MANAGED)
    return sorted(words)


_TYPES = {"bool": "", "str": "string", "int": "int", "float": "float", "list": "list"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _default(f: Flag) -> str:
    if f.kind == "bool":
        return "true" if f.default else "false"
    if f.default in (None, "", []):
        return ""
    return f"`{f.default}`"


def _flag_table(flags: list[Flag]) -> list[str]:
    rows = ["| Flag | Short | Type | Default | Description |", "|---|---|---|---|---|"]
    for f in sorted(flags, key=lambda f: f.long):
        kind = f.metavar or _TYPES.get(f.kind, f.kind)
        short = f"`-{f.short}`" if f.short else ""
        rows.append(
            f"| `--{f.long}` | {short} | {kind or 'bool'} | {_default(f)} | {_cell(f.help)} |"
        )
    return rows


def markdown() -> str:
    """docs/cli.md: every command's usage, summary, aliases and flags."""
    items = entries()
    out = [
        "# berth command-line reference",
        "",
        "<!-- Generated by scripts/gen-cli-docs from berth/cli's command tables; do not edit. -->",
        "",
        "## Global options",
        "",
        "Given before the command word: `berth [OPTIONS] COMMAND`.",
        "",
        *_flag_table(GLOBAL_FLAGS),
        "",
        "## Commands",
        "",
    ]
    out += [f"- [berth {e.words}](#berth-{'-'.join(e.path)})" for e in items]
    for e in items:
        out += ["", f"### berth {e.words}", ""]
        if e.command.summary:
            out += [_cell(e.command.summary), ""]
        out += ["```", *e.command.usage.splitlines(), "```"]
        if e.aliases:
            names = ", ".join(f"`berth {' '.join(a)}`" for a in e.aliases)
            out += ["", f"Aliases: {names}"]
        if e.command.flags:
            out += ["", *_flag_table(e.command.flags)]
    return "\n".join(out) + "\n"
