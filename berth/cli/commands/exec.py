"""berth exec: run a command in a running container (docker exec's flow and exit statuses)."""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import quote

from berth.cli.context import Context, StatusError
from berth.cli.flags import Command, Flag, parse

EXEC = Command(
    "exec",
    "berth exec [OPTIONS] CONTAINER COMMAND [ARG...]",
    "Execute a command in a running container",
    [
        Flag("detach", "d", help="Detached mode: run command in the background"),
        Flag("detach-keys", "", "str", "", help="Override the key sequence for detaching"),
        Flag("env", "e", "list", help="Set environment variables"),
        Flag("env-file", "", "list", help="Read in a file of environment variables"),
        Flag("interactive", "i", help="Keep STDIN open even if not attached"),
        Flag("privileged", "", help="Give extended privileges to the command"),
        Flag("tty", "t", help="Allocate a pseudo-TTY"),
        Flag("user", "u", "str", "", help="Username or UID (format: <name|uid>[:<group|gid>])"),
        Flag("workdir", "w", "str", "", help="Working directory inside the container"),
    ],
    min_args=2,
    interspersed=False,
)


def _exec_path(eid: str, what: str) -> str:
    return f"/exec/{quote(eid, safe='')}/{what}"


def exec_(ctx: Context, argv: list[str]) -> int:
    from berth.cli.commands.containerspec import env_value, read_kv_file

    opts, args = parse(EXEC, argv)
    ref, cmd = args[0], args[1:]
    client = ctx.client
    client.inspect_container(ref)  # as docker: "No such container" before anything else
    tty, stdin, detach = bool(opts.tty), bool(opts.interactive), bool(opts.detach)
    if not detach and tty and stdin and not ctx.stdin_is_tty():
        raise StatusError(1, "the input device is not a TTY")
    env = [env_value(e) for f in opts.env_file or [] for e in read_kv_file(f)]
    env += [env_value(e) for e in opts.env or []]
    body: dict[str, Any] = {
        "User": opts.user,
        "Privileged": bool(opts.privileged),
        "Tty": tty,
        "AttachStdin": stdin and not detach,
        "AttachStdout": not detach,
        "AttachStderr": not detach,
        "DetachKeys": opts.detach_keys,
        "Env": env,
        "WorkingDir": opts.workdir,
        "Cmd": cmd,
    }
    size = None
    if tty and ctx.stdout_is_tty():
        from berth.client.streams import terminal_size

        size = terminal_size(1)
        if size:
            body["ConsoleSize"] = list(size)
    created = client._json("POST", f"/containers/{quote(ref, safe='')}/exec", body=body)
    eid = str((created or {}).get("Id") or "")
    if not eid:
        raise StatusError(1, "exec ID empty")
    start: dict[str, Any] = {"Detach": detach, "Tty": tty}
    if size:
        start["ConsoleSize"] = list(size)
    if detach:
        client._json("POST", _exec_path(eid, "start"), body=start)
        return 0
    _interactive(ctx, eid, start, tty, stdin and not detach, opts.detach_keys)
    info = client._json("GET", _exec_path(eid, "json")) or {}
    return int(info.get("ExitCode") or 0)


def _interactive(
    ctx: Context, eid: str, start: dict[str, Any], tty: bool, stdin: bool, detach_keys: str
) -> None:
    from berth.cli.commands.run import _detach_keys
    from berth.client.errors import ProtocolError
    from berth.client.streams import (
        DEFAULT_DETACH_KEYS,
        AttachSession,
        RawTerminal,
        watch_resize,
    )

    client = ctx.client
    keys = _detach_keys(detach_keys) if detach_keys else DEFAULT_DETACH_KEYS
    resp = client.transport.request(
        "POST",
        _exec_path(eid, "start"),
        body=json.dumps(start).encode(),
        headers={"Content-Type": "application/json", "Connection": "Upgrade", "Upgrade": "tcp"},
    )
    if resp.status not in (101, 200):
        resp.close()
        raise ProtocolError(f"unexpected status {resp.status} for a hijacked connection")
    session = AttachSession(
        resp.sock, resp.reader.buf, tty, stdin_fd=0 if stdin else None, detach_keys=keys
    )
    resp.reader.buf = b""
    undo: list[Any] = []
    try:
        if tty and stdin and ctx.stdin_is_tty():
            rt = RawTerminal(0)
            rt.__enter__()
            undo.append(lambda: rt.__exit__(None, None, None))
        if tty and os.isatty(1):
            path = _exec_path(eid, "resize")

            def resize(h: int, w: int) -> None:
                client._call("POST", path, {"h": h, "w": w})

            undo.append(watch_resize(1, resize))
        session.start()
        session.wait()
    finally:
        while undo:
            undo.pop()()
        session.close()
    if session.error is not None:
        raise StatusError(1, f"error: {session.error}")
