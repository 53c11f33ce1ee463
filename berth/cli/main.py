"""`berth` entry point: global options, then the one command module the user asked for.

Start-up time is a feature: only sys and os are imported here, and a command's module
(and through it the client) is imported only when that command runs.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # importing typing costs the CLI's start ~3 ms

if TYPE_CHECKING:
    from berth.cli.context import Context
    from berth.client.contexts import GlobalOptions

# command words -> (module under berth.cli.commands, function, exit status for daemon errors).
# docker exits 125 when run/create fail before the container runs, 1 for other commands.
_COMMANDS: dict[str, tuple[str, str, int]] = {
    "version": ("system", "version", 1),
    "info": ("system", "info", 1),
    "run": ("run", "run", 125),
    "create": ("run", "create", 125),
    "start": ("run", "start", 1),
    "attach": ("run", "attach", 1),
    "exec": ("exec", "exec_", 1),
    "ps": ("ps", "ps", 1),
    "logs": ("logs", "logs", 1),
    "stop": ("lifecycle", "stop", 1),
    "kill": ("lifecycle", "kill", 1),
    "rm": ("lifecycle", "rm", 1),
    "wait": ("lifecycle", "wait", 1),
    "rename": ("lifecycle", "rename", 1),
    "inspect": ("inspect", "inspect", 1),
    "images": ("images", "images", 1),
    "rmi": ("images", "rmi", 1),
    "tag": ("images", "tag", 1),
    "load": ("image_io", "load", 1),
    "save": ("image_io", "save", 1),
    "import": ("image_io", "import_", 1),
    "pull": ("image_io", "pull", 1),
    "push": ("registry", "push", 1),
    "login": ("registry", "login", 1),
    "logout": ("registry", "logout", 1),
    "cp": ("cp", "cp", 1),
    "diff": ("container_ops", "diff", 1),
    "export": ("container_ops", "export", 1),
    "commit": ("container_ops", "commit", 1),
    "top": ("container_ops", "top", 1),
    "stats": ("container_ops", "stats", 1),
    "pause": ("container_ops", "pause", 1),
    "unpause": ("container_ops", "unpause", 1),
    "update": ("container_ops", "update", 1),
    "restart": ("container_ops", "restart", 1),
    "build": ("build", "build", 1),
}

_CONTAINER = {
    "run": "run",
    "create": "create",
    "start": "start",
    "attach": "attach",
    "exec": "exec",
    "ps": "ps",
    "ls": "ps",
    "list": "ps",
    "logs": "logs",
    "stop": "stop",
    "kill": "kill",
    "rm": "rm",
    "remove": "rm",
    "wait": "wait",
    "rename": "rename",
    "inspect": "container-inspect",
    "cp": "cp",
    "diff": "diff",
    "export": "export",
    "commit": "commit",
    "top": "top",
    "stats": "stats",
    "pause": "pause",
    "unpause": "unpause",
    "update": "update",
    "restart": "restart",
}
_IMAGE = {
    "ls": "images",
    "list": "images",
    "inspect": "image-inspect",
    "tag": "tag",
    "rm": "rmi",
    "remove": "rmi",
    "load": "load",
    "save": "save",
    "import": "import",
    "pull": "pull",
    "push": "push",
    "build": "build",
}
_COMMANDS["container-inspect"] = ("inspect", "container_inspect", 1)
_COMMANDS["image-inspect"] = ("inspect", "image_inspect", 1)
# `berth volume ...` has no top-level aliases: its commands live under that word only
_VOLUME = {"create": "volume-create", "ls": "volume-ls", "list": "volume-ls",
           "inspect": "volume-inspect", "rm": "volume-rm", "remove": "volume-rm",
           "prune": "volume-prune"}  # fmt: skip
for _word, _cmd in _VOLUME.items():
    _COMMANDS[_cmd] = ("volume", _cmd.split("-", 1)[1], 1)
_NETWORK = {"create": "network-create", "ls": "network-ls", "list": "network-ls",
            "inspect": "network-inspect", "rm": "network-rm", "remove": "network-rm",
            "connect": "network-connect", "disconnect": "network-disconnect",
            "prune": "network-prune"}  # fmt: skip
for _word, _cmd in _NETWORK.items():
    _COMMANDS[_cmd] = ("network", _cmd.split("-", 1)[1], 1)
_COMMANDS["port"] = ("network", "port", 1)
# events, prunes and disk usage
_COMMANDS["events"] = ("system_ops", "events", 1)
_COMMANDS["system-df"] = ("system_ops", "system_df", 1)
_COMMANDS["system-prune"] = ("system_ops", "system_prune", 1)
_COMMANDS["container-prune"] = ("system_ops", "container_prune", 1)
_COMMANDS["image-prune"] = ("system_ops", "image_prune", 1)
_CONTAINER["prune"] = "container-prune"
_IMAGE["prune"] = "image-prune"
# certificates: `berth tls init`, `berth tls client NAME` (no daemon needed)
_TLS = {"init": "tls-init", "client": "tls-client"}
_COMMANDS["tls-init"] = ("tls", "init", 1)
_COMMANDS["tls-client"] = ("tls", "client", 1)
_SYSTEM = {"df": "system-df", "prune": "system-prune", "events": "events", "info": "info"}
# shell completion scripts: `berth completion bash` (no daemon needed, like tls)
_COMPLETION = {"bash": "completion-bash", "fish": "completion-fish", "zsh": "completion-zsh"}
for _word, _cmd in _COMPLETION.items():
    _COMMANDS[_cmd] = ("completion", _word, 1)

_USAGE = """
Usage:  berth [OPTIONS] COMMAND

A container engine that speaks the Docker Engine API

Common Commands:
  run         Create and run a new container from an image
  build       Build an image from a Dockerfile
  exec        Execute a command in a running container
  ps          List containers
  images      List images
  logs        Fetch the logs of a container
  inspect     Return low-level information on berth objects
  version     Show the berth version information
  info        Display system-wide information

Management Commands:
  container   Manage containers
  image       Manage images
  volume      Manage volumes
  network     Manage networks
  system      Manage berth (df, prune, events, info)

Commands:
  completion  Generate the autocompletion script for the specified shell
  tls         Make TLS certificates for berthd and its clients (init, client)
  attach, create, start, stop, kill, rm, wait, rename, rmi, tag, load, save, import, pull,
  push, login, logout, cp, diff, export, commit, top, stats, pause, unpause, update, restart,
  events

Global Options:
      --config string      Location of client config files (default "~/.docker")
  -c, --context string     Name of the context to use to connect to the daemon (overrides
                           DOCKER_HOST env var and default context set with "docker context use")
  -D, --debug              Enable debug mode
  -H, --host string        Daemon socket to connect to
      --tls                Use TLS; implied by --tlsverify
      --tlscacert string   Trust certs signed only by this CA (default "~/.docker/ca.pem")
      --tlscert string     Path to TLS certificate file (default "~/.docker/cert.pem")
      --tlskey string      Path to TLS key file (default "~/.docker/key.pem")
      --tlsverify          Use TLS and verify the remote
  -v, --version            Print version information and quit

Run 'berth COMMAND --help' for more information on a command.
"""

# Global flags that take a value -> GlobalOptions attribute ("" for ignored ones).
_GLOBAL_VALUES = {
    "-H": "host", "--host": "host",
    "-c": "context", "--context": "context",
    "--config": "config",
    "--tlscacert": "tlscacert", "--tlscert": "tlscert", "--tlskey": "tlskey",
    "-l": "", "--log-level": "",
}  # fmt: skip
_GLOBAL_BOOLS = {"-D": "debug", "--debug": "debug", "--tls": "tls", "--tlsverify": "tlsverify"}
_TRUE = ("1", "t", "T", "true", "TRUE", "True")
_FALSE = ("0", "f", "F", "false", "FALSE", "False")


def _parse_globals(argv: list[str]) -> tuple[dict[str, object], list[str]]:
    """The global options before the command word (pflag syntax), and the rest of argv.

    Returns a dict of what was given: host (a list: docker refuses more than one -H),
    context, config, tls, tlsverify, tlscacert, tlscert, tlskey, debug.
    """
    given: dict[str, object] = {"debug": bool(os.environ.get("BERTH_DEBUG"))}
    i = 0
    while i < len(argv):
        a = argv[i]
        name, eq, raw = a.partition("=")
        if a.startswith("-") and not a.startswith("--") and len(a) > 2 and not eq:
            # -Hunix:///x, -cNAME (a value glued to its shorthand)
            if a[:2] in ("-H", "-c", "-l"):
                name, eq, raw = a[:2], "=", a[2:].removeprefix("=")
        elif a.startswith("-") and not a.startswith("--") and eq and len(name) > 2:
            name, raw = a[:2], a[2:].removeprefix("=")
        if name in _GLOBAL_VALUES:
            if not eq:
                if i + 1 >= len(argv):
                    raise _GlobalUsage(f"flag needs an argument: {a}")
                raw = argv[i + 1]
                i += 1
            i += 1
            dest = _GLOBAL_VALUES[name]
            if dest == "host":
                hosts = given.setdefault("host", [])
                assert isinstance(hosts, list)
                hosts.append(raw)
            elif dest:
                given[dest] = raw
        elif name in _GLOBAL_BOOLS:
            if eq and raw not in _TRUE + _FALSE:
                raise _GlobalUsage(
                    f'invalid argument "{raw}" for "{name}" flag: '
                    f'strconv.ParseBool: parsing "{raw}": invalid syntax'
                )
            given[_GLOBAL_BOOLS[name]] = not eq or raw in _TRUE
            i += 1
        elif a in ("-v", "--version"):
            return given, ["--version"]
        elif a in ("-h", "--help"):
            return given, []
        elif a.startswith("-") and a != "-":
            raise _GlobalUsage(f"unknown flag: {name}")
        else:
            break
    return given, argv[i:]


def _global_options(given: dict[str, object]) -> GlobalOptions:
    from berth.client.contexts import EndpointError, GlobalOptions

    hosts = given.get("host") or []
    assert isinstance(hosts, list)
    if len(hosts) > 1:
        raise EndpointError("unable to resolve docker endpoint: Specify only one -H")

    def opt(key: str) -> str | None:
        v = given.get(key)
        return v if isinstance(v, str) else None

    def flag(key: str) -> bool | None:
        v = given.get(key)
        return v if isinstance(v, bool) else None

    return GlobalOptions(
        host=hosts[0] if hosts else None,
        context=opt("context"),
        tls=flag("tls"),
        tlsverify=flag("tlsverify"),
        tlscacert=opt("tlscacert"),
        tlscert=opt("tlscert"),
        tlskey=opt("tlskey"),
        config=opt("config"),
    )


class _GlobalUsage(Exception):
    pass


def _resolve(words: list[str]) -> tuple[str, list[str]] | None:
    head, rest = words[0], words[1:]
    if head == "volume":
        if not rest or rest[0] not in _VOLUME:
            return None
        return _VOLUME[rest[0]], rest[1:]
    if head == "network":
        if not rest or rest[0] not in _NETWORK:
            return None
        return _NETWORK[rest[0]], rest[1:]
    if head == "tls":
        if not rest or rest[0] not in _TLS:
            return None
        return _TLS[rest[0]], rest[1:]
    if head == "completion":
        if not rest or rest[0] not in _COMPLETION:
            return None
        return _COMPLETION[rest[0]], rest[1:]
    if head == "system":
        if not rest or rest[0] not in _SYSTEM:
            return None
        return _SYSTEM[rest[0]], rest[1:]
    if head in ("container", "image"):
        table = _CONTAINER if head == "container" else _IMAGE
        if not rest or rest[0] not in table:
            return None
        return table[rest[0]], rest[1:]
    if head in _COMMANDS and "-" not in head:
        return head, rest
    return None


# management words -> (summary, their subcommand table)
_MANAGED: dict[str, tuple[str, dict[str, str]]] = {
    "completion": (
        "Generate the autocompletion script for berth for the specified shell.\n"
        "See each sub-command's help for details on how to use the generated script.",
        _COMPLETION,
    ),
    "container": ("Manage containers", _CONTAINER),
    "image": ("Manage images", _IMAGE),
    "network": ("Manage networks", _NETWORK),
    "system": ("Manage berth", _SYSTEM),
    "tls": ("Make TLS certificates for berthd and its clients", _TLS),
    "volume": ("Manage volumes", _VOLUME),
}


def command_object(name: str) -> object | None:
    """The flags.Command behind a _COMMANDS entry (its module imported now: help only)."""
    from importlib import import_module

    from berth.cli.flags import Command

    module, func, _ = _COMMANDS[name]
    mod = import_module("berth.cli.commands." + module)
    sub = name.split("-", 1)[1] if "-" in name else name
    wanted = {name.replace("-", " "), sub, func.rstrip("_")}
    for obj in vars(mod).values():
        if isinstance(obj, Command) and obj.name in wanted:
            return obj
    return None


def management_help(word: str) -> str:
    """`berth WORD --help`: its subcommands (aliases left out, as docker lists them)."""
    summary, table = _MANAGED[word]
    rows: dict[str, str] = {}
    seen: set[str] = set()
    for sub, target in sorted(table.items()):
        if target in seen or sub in ("list", "remove"):
            continue
        seen.add(target)
        cmd = command_object(target)
        rows[sub] = str(getattr(cmd, "summary", "") or "")
    body = "".join(f"  {sub.ljust(10)}  {text}".rstrip() + "\n" for sub, text in rows.items())
    return (
        f"\nUsage:  berth {word} COMMAND\n\n{summary}\n\nCommands:\n{body}\n"
        f"Run 'berth {word} COMMAND --help' for more information on a command.\n"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit status."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        given, words = _parse_globals(argv)
    except _GlobalUsage as exc:
        sys.stderr.write(f"berth: {exc}\n{_USAGE}")
        return 125
    if words == ["--version"]:
        from berth import __version__

        sys.stdout.write(f"berth version {__version__}\n")
        return 0
    if not words or words[0] == "help":
        sys.stdout.write(_USAGE)
        return 0
    # docker answers `docker completion nope` with the help too (cobra: no Run), status 0
    if words[0] in _MANAGED and (
        len(words) == 1
        or words[1] in ("--help", "-h", "help")
        or (words[0] == "completion" and words[1] not in _COMPLETION)
    ):
        sys.stdout.write(management_help(words[0]))
        return 0
    resolved = _resolve(words)
    if resolved is None:
        managed = ("container", "image", "volume", "network", "system", "tls")
        name = " ".join(words[:2]) if words[0] in managed else words[0]
        sys.stderr.write(
            f"berth: unknown command: berth {name}\n\nRun 'berth --help' for more information\n"
        )
        return 1
    name, rest = resolved
    module, func, daemon_status = _COMMANDS[name]
    return _run(name, module, func, daemon_status, given, rest)


def _run(
    name: str,
    module: str,
    func: str,
    daemon_status: int,
    given: dict[str, object],
    rest: list[str],
) -> int:
    from importlib import import_module

    from berth.cli.context import StatusError
    from berth.cli.flags import HelpRequested, UsageError
    from berth.client.contexts import EndpointError
    from berth.client.errors import APIError, ClientError, DaemonUnreachable, TLSError
    from berth.client.hosts import HostError

    debug = bool(given.get("debug"))
    try:
        ctx = _context(name, given, debug)
        fn = getattr(import_module("berth.cli.commands." + module), func)
        return int(fn(ctx, rest) or 0)
    except HelpRequested as exc:
        sys.stdout.write(exc.command.help_text())
        return 0
    except UsageError as exc:
        cmd = f"berth {exc.command}"
        sys.stderr.write(
            f"berth: {exc.message}\n\nUsage:  {exc.usage}\n\n"
            f"Run '{cmd} --help' for more information\n"
        )
        return exc.status
    except StatusError as exc:
        if exc.message:
            _error(exc.message, debug)
        return exc.status
    except EndpointError as exc:
        _error(str(exc), debug)  # docker fails these at start-up, before any command: 1
        return 1
    except (APIError, DaemonUnreachable, TLSError) as exc:
        _error(str(exc), debug)
        return daemon_status
    except (ClientError, HostError) as exc:
        _error(str(exc), debug)
        return 125 if daemon_status == 125 else 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # A closed pager or `| head`: not an error worth a message.
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the exit-time flush
        except OSError:
            pass
        return 141
    except Exception as exc:  # noqa: BLE001 - the CLI never shows a traceback unless --debug
        _error(f"{type(exc).__name__}: {exc}" if debug else str(exc) or type(exc).__name__, debug)
        return 125


def _context(name: str, given: dict[str, object], debug: bool) -> Context:
    """The command's Context: the endpoint the global options and environment select."""
    from berth.cli.context import Context
    from berth.client.contexts import resolve_endpoint
    from berth.client.hosts import parse_host

    if name.startswith(("tls-", "completion-")):
        return Context(None, debug)  # needs no daemon: a bad context must not stop it
    endpoint = resolve_endpoint(_global_options(given), os.environ)
    parse_host(endpoint.host)
    return Context(endpoint, debug)


def _error(message: str, debug: bool) -> None:
    if debug and sys.exc_info()[0] is not None:
        import traceback

        traceback.print_exc()
    sys.stderr.write(f"berth: {message}\n")


if __name__ == "__main__":
    sys.exit(main())
