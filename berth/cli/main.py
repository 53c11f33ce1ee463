"""`berth` entry point: global options, then the one command module the user asked for.

Start-up time is a feature: only sys and os are imported here, and a command's module
(and through it the client) is imported only when that command runs.
"""

from __future__ import annotations

import os
import sys

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
    "cp": ("container_ops", "cp", 1),
    "diff": ("container_ops", "diff", 1),
    "export": ("container_ops", "export", 1),
    "commit": ("container_ops", "commit", 1),
    "top": ("container_ops", "top", 1),
    "stats": ("container_ops", "stats", 1),
    "pause": ("container_ops", "pause", 1),
    "unpause": ("container_ops", "unpause", 1),
    "update": ("container_ops", "update", 1),
    "restart": ("container_ops", "restart", 1),
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
_SYSTEM = {"df": "system-df", "prune": "system-prune", "events": "events", "info": "info"}

_USAGE = """
Usage:  berth [OPTIONS] COMMAND

A container engine that speaks the Docker Engine API

Common Commands:
  run         Create and run a new container from an image
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
  attach, create, start, stop, kill, rm, wait, rename, rmi, tag, load, save, import, pull,
  push, login, logout, cp, diff, export, commit, top, stats, pause, unpause, update, restart,
  events

Global Options:
  -D, --debug          Enable debug mode
  -H, --host string    Daemon socket to connect to
  -v, --version        Print version information and quit

Run 'berth COMMAND --help' for more information on a command.
"""

_IGNORED_GLOBAL_VALUES = {"-l", "--log-level", "--config", "-c", "--context"}


def _parse_globals(argv: list[str]) -> tuple[str | None, bool, list[str]]:
    host: str | None = None
    debug = bool(os.environ.get("BERTH_DEBUG"))
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-H", "--host"):
            if i + 1 >= len(argv):
                raise _GlobalUsage(f"flag needs an argument: {a}")
            host = argv[i + 1]
            i += 2
        elif a.startswith("--host="):
            host = a[len("--host=") :]
            i += 1
        elif a.startswith("-H") and len(a) > 2:
            host = a[2:].lstrip("=")
            i += 1
        elif a in ("-D", "--debug"):
            debug = True
            i += 1
        elif a in _IGNORED_GLOBAL_VALUES:
            i += 2
        elif a.split("=", 1)[0] in _IGNORED_GLOBAL_VALUES:
            i += 1
        elif a in ("-v", "--version"):
            return host, debug, ["--version"]
        elif a in ("-h", "--help"):
            return host, debug, []
        elif a.startswith("-") and a != "-":
            raise _GlobalUsage(f"unknown flag: {a.split('=', 1)[0]}")
        else:
            break
    return host, debug, argv[i:]


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


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit status."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        host, debug, words = _parse_globals(argv)
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
    resolved = _resolve(words)
    if resolved is None:
        if words[0] in ("container", "image", "volume", "network", "system") and len(words) == 1:
            sys.stdout.write(_USAGE)
            return 0
        managed = ("container", "image", "volume", "network", "system")
        name = " ".join(words[:2]) if words[0] in managed else words[0]
        sys.stderr.write(
            f"berth: unknown command: berth {name}\n\nRun 'berth --help' for more information\n"
        )
        return 1
    name, rest = resolved
    module, func, daemon_status = _COMMANDS[name]
    return _run(name, module, func, daemon_status, host, debug, rest)


def _run(
    name: str,
    module: str,
    func: str,
    daemon_status: int,
    host: str | None,
    debug: bool,
    rest: list[str],
) -> int:
    from importlib import import_module

    from berth.cli.context import Context, StatusError
    from berth.cli.flags import HelpRequested, UsageError
    from berth.client.errors import APIError, ClientError, DaemonUnreachable
    from berth.client.hosts import HostError, parse_host, pick_host

    try:
        spec = pick_host(host, os.environ)
        parse_host(spec)
        ctx = Context(spec, debug)
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
    except (APIError, DaemonUnreachable) as exc:
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


def _error(message: str, debug: bool) -> None:
    if debug and sys.exc_info()[0] is not None:
        import traceback

        traceback.print_exc()
    sys.stderr.write(f"berth: {message}\n")


if __name__ == "__main__":
    sys.exit(main())
