"""run, create, start and attach: the commands that create containers or join their streams."""

from __future__ import annotations

import os
import sys
from types import SimpleNamespace
from typing import Any

from berth.cli.commands.containerspec import CREATE_FLAGS, build
from berth.cli.context import Context, StatusError
from berth.cli.flags import Command, Flag, parse
from berth.client.errors import APIError

RUN = Command(
    "run",
    "berth run [OPTIONS] IMAGE [COMMAND] [ARG...]",
    "Create and run a new container from an image",
    sorted(
        [
            *CREATE_FLAGS,
            Flag("detach", "d", help="Run container in background and print ID"),
            Flag("sig-proxy", "", default=True, help="Proxy received signals to the process"),
        ],
        key=lambda f: f.long,
    ),
    min_args=1,
    interspersed=False,
)
CREATE = Command(
    "create",
    "berth create [OPTIONS] IMAGE [COMMAND] [ARG...]",
    "Create a new container",
    CREATE_FLAGS,
    min_args=1,
    interspersed=False,
)
START = Command(
    "start",
    "berth start [OPTIONS] CONTAINER [CONTAINER...]",
    "Start one or more stopped containers",
    [
        Flag("attach", "a", help="Attach STDOUT/STDERR and forward signals"),
        Flag("detach-keys", "", "str", "", help="Override the key sequence for detaching"),
        Flag("interactive", "i", help="Attach container's STDIN"),
    ],
    min_args=1,
)
ATTACH = Command(
    "attach",
    "berth attach [OPTIONS] CONTAINER",
    "Attach local standard input, output, and error streams to a running container",
    [
        Flag("detach-keys", "", "str", "", help="Override the key sequence for detaching"),
        Flag("no-stdin", "", help="Do not attach STDIN"),
        Flag("sig-proxy", "", default=True, help="Proxy all received signals to the process"),
    ],
    min_args=1,
    max_args=1,
)


def start_error_status(message: str) -> int:
    """docker's exit status for a container that could not be started (126/127/125)."""
    if "executable file not found" in message or "no such file or directory" in message:
        return 127
    if "permission denied" in message or "is a directory" in message:
        return 126
    return 125


def _detach_keys(spec: str) -> bytes:
    """A detach key spec such as "ctrl-p,ctrl-q" as the bytes the terminal sends."""
    out = bytearray()
    for key in spec.split(","):
        key = key.strip()
        if key.startswith("ctrl-") and len(key) == 6:
            c = key[5]
            code = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}.get(c)
            out.append(code if code is not None else (ord(c.lower()) - ord("a") + 1) & 0x1F)
        elif len(key) == 1:
            out.append(ord(key))
        else:
            raise StatusError(125, f"invalid detach keys ({spec}) provided")
    return bytes(out)


def _create(ctx: Context, config: dict[str, Any], opts: SimpleNamespace) -> str:
    """docker's createContainer: the --cidfile claimed first (an existing one is refused),
    pulls as --pull says (quiet with -q), warnings to stderr, the id written last."""
    from berth.cli.commands.common import with_latest

    name, pull, quiet = opts.name, opts.pull, opts.quiet
    # as the docker CLI: the flag's default is DOCKER_DEFAULT_PLATFORM
    platform = opts.platform or os.environ.get("DOCKER_DEFAULT_PLATFORM", "")
    cidfile = _claim_cidfile(opts.cidfile)
    written = False
    try:
        image = config["Image"]
        if pull == "always":
            _pull(ctx, image, platform, quiet)
        try:
            resp = ctx.client.create_container(config, name or None, platform or None)
        except APIError as exc:
            if exc.status != 404 or "image" not in exc.message.lower() or pull == "never":
                raise
            if not quiet:
                ctx.err(f"Unable to find image '{with_latest(image)}' locally")
            _pull(ctx, image, platform, quiet)
            resp = ctx.client.create_container(config, name or None, platform or None)
        for warning in resp.get("Warnings") or []:
            ctx.err(f"WARNING: {warning}")
        cid = str(resp["Id"])
        if cidfile is not None:
            try:
                cidfile.write(cid)
            except OSError as exc:
                msg = f"failed to write the container ID ({cid}) to file: {exc.strerror}"
                raise StatusError(125, msg) from None
            written = True
        return cid
    finally:
        if cidfile is not None:
            cidfile.close()
            if not written:
                try:
                    os.unlink(opts.cidfile)
                except FileNotFoundError:
                    pass


def _claim_cidfile(path: str) -> Any:
    if not path:
        return None
    if os.path.lexists(path):
        raise StatusError(
            125,
            "container ID file found, make sure the other container isn't running or delete "
            + path,
        )
    try:
        return open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed by _create
    except OSError as exc:
        msg = f"failed to create the container ID file: open {path}: {(exc.strerror or '').lower()}"
        raise StatusError(125, msg) from None


def _pull(ctx: Context, image: str, platform: str, quiet: bool = False) -> None:
    from berth.cli import progress
    from berth.cli.commands.common import pull_params
    from berth.cli.commands.registry import auth_header, domain_of

    repo, tag = pull_params(image)
    with ctx.client.pull(repo, tag, platform or None, auth_header(domain_of(repo))) as resp:
        if quiet:
            # the progress is still read to its end: an error in it fails the create
            import io

            progress.show(resp.iter_json_lines(), io.StringIO(), tty=False)
        else:
            progress.show(resp.iter_json_lines(), sys.stderr, tty=os.isatty(2))


def create(ctx: Context, argv: list[str]) -> int:
    """berth create: create a container and print its id."""
    opts, args = parse(CREATE, argv)
    # docker create attaches stdout and stderr in the config (a later start -a uses them)
    config = build(CREATE, opts, args, detach=False)
    ctx.out(_create(ctx, config, opts) + "\n")
    return 0


def run(ctx: Context, argv: list[str]) -> int:
    """berth run: create, attach, wait, start, copy streams, exit with the container's status."""
    opts, args = parse(RUN, argv)
    config = build(RUN, opts, args, detach=opts.detach)
    if opts.tty and config["AttachStdin"] and not ctx.stdin_is_tty():
        raise StatusError(1, "the input device is not a TTY")
    cid = _create(ctx, config, opts)
    if opts.detach:
        _start(ctx, cid)
        ctx.out(cid + "\n")
        return 0
    return _attached_start(
        ctx,
        cid,
        tty=bool(config["Tty"]),
        stdin=bool(config["AttachStdin"]),
        stdout=bool(config["AttachStdout"]),
        stderr=bool(config["AttachStderr"]),
        auto_remove=bool(config["HostConfig"].get("AutoRemove")),
        detach_keys=opts.detach_keys,
        sig_proxy=opts.sig_proxy,
    )


def _start(ctx: Context, cid: str) -> None:
    try:
        ctx.client.start(cid)
    except APIError as exc:
        raise StatusError(start_error_status(exc.message), str(exc)) from None


def _attached_start(
    ctx: Context,
    cid: str,
    tty: bool,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    auto_remove: bool,
    detach_keys: str,
    sig_proxy: bool,
    already_running: bool = False,
) -> int:
    """docker's attached flow: attach, register the wait, start, copy, then the exit status."""
    from berth.client.streams import DEFAULT_DETACH_KEYS, AttachSession

    keys = _detach_keys(detach_keys) if detach_keys else DEFAULT_DETACH_KEYS
    session = None
    if stdin or stdout or stderr:
        sock, reader = ctx.client.attach(
            cid, stdin=stdin, stdout=stdout, stderr=stderr, detach_keys=detach_keys or None
        )
        session = AttachSession(
            sock, reader.buf, tty, stdin_fd=0 if stdin else None, detach_keys=keys
        )
        reader.buf = b""
    condition = "removed" if auto_remove else ("not-running" if already_running else "next-exit")
    waiter = ctx.client.wait_request(cid, condition)
    raw_tty = tty and stdin and ctx.stdin_is_tty()
    try:
        if session is not None:
            session.start()
        if not already_running:
            try:
                ctx.client.start(cid)
            except APIError as exc:
                if session is not None:
                    session.close()
                raise StatusError(start_error_status(exc.message), str(exc)) from None
        with _terminal(ctx, cid, raw_tty, tty, sig_proxy and not tty):
            if session is not None:
                session.wait()
                if session.detached:
                    return 0
            result = waiter.json() or {}
    finally:
        waiter.close()
        if session is not None:
            session.close()
    err = result.get("Error")
    if isinstance(err, dict) and err.get("Message"):
        raise StatusError(125, str(err["Message"]))
    return int(result.get("StatusCode", 0))


class _terminal:
    """Raw mode + resize watching with a tty; signal forwarding (sig-proxy) without."""

    def __init__(self, ctx: Context, cid: str, raw: bool, tty: bool, proxy: bool) -> None:
        self.ctx, self.cid, self.raw, self.tty, self.proxy = ctx, cid, raw, tty, proxy
        self._stack: list[Any] = []

    def __enter__(self) -> None:
        from berth.client.streams import RawTerminal, watch_resize

        if self.raw:
            rt = RawTerminal(0)
            rt.__enter__()
            self._stack.append(lambda: rt.__exit__(None, None, None))
        if self.tty and os.isatty(1):
            client = self.ctx.client
            stop = watch_resize(1, lambda h, w: client.resize(self.cid, h, w))
            self._stack.append(stop)
        if self.proxy:
            self._stack.append(_proxy_signals(self.ctx, self.cid))

    def __exit__(self, *exc: object) -> None:
        while self._stack:
            self._stack.pop()()


def _proxy_signals(ctx: Context, cid: str) -> Any:
    import signal
    import threading

    client = ctx.client

    def handler(signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name

        def send() -> None:
            try:
                client.kill(cid, name)
            except Exception:  # noqa: BLE001 - the container may be gone already
                pass

        threading.Thread(target=send, daemon=True).start()

    sigs = [
        signal.SIGINT,
        signal.SIGTERM,
        signal.SIGHUP,
        signal.SIGQUIT,
        signal.SIGUSR1,
        signal.SIGUSR2,
    ]
    old = {s: signal.signal(s, handler) for s in sigs}

    def restore() -> None:
        for s, h in old.items():
            signal.signal(s, h)

    return restore


def start(ctx: Context, argv: list[str]) -> int:
    """berth start: start containers, or start one attached (-a / -i)."""
    opts, args = parse(START, argv)
    if opts.attach or opts.interactive:
        if len(args) > 1:
            raise StatusError(1, "you cannot start and attach multiple containers at once")
        info = ctx.client.inspect_container(args[0])
        cfg = info.get("Config") or {}
        tty = bool(cfg.get("Tty"))
        stdin = bool(opts.interactive and cfg.get("OpenStdin"))
        if tty and stdin and not ctx.stdin_is_tty():
            raise StatusError(1, "the input device is not a TTY")
        running = bool((info.get("State") or {}).get("Running"))
        return _attached_start(
            ctx,
            info["Id"],
            tty=tty,
            stdin=stdin,
            stdout=True,
            stderr=True,
            auto_remove=bool((info.get("HostConfig") or {}).get("AutoRemove")),
            detach_keys=opts.detach_keys,
            sig_proxy=not tty,
            already_running=running,
        )
    from berth.cli.commands.common import each

    return each(ctx, args, ctx.client.start)


def attach(ctx: Context, argv: list[str]) -> int:
    """berth attach: join a running container's streams until it exits (or detach keys)."""
    opts, args = parse(ATTACH, argv)
    info = ctx.client.inspect_container(args[0])
    state = info.get("State") or {}
    if not state.get("Running"):
        raise StatusError(1, "You cannot attach to a stopped container, start it first")
    if state.get("Paused"):
        raise StatusError(1, "You cannot attach to a paused container, unpause it first")
    cfg = info.get("Config") or {}
    tty = bool(cfg.get("Tty"))
    stdin = bool(cfg.get("OpenStdin")) and not opts.no_stdin
    if tty and stdin and not ctx.stdin_is_tty():
        raise StatusError(1, "the input device is not a TTY")
    return _attached_start(
        ctx,
        info["Id"],
        tty=tty,
        stdin=stdin,
        stdout=True,
        stderr=True,
        auto_remove=False,
        detach_keys=opts.detach_keys,
        sig_proxy=opts.sig_proxy and not tty,
        already_running=True,
    )
