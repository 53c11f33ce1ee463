"""berthd: parse options, take the pid file, fork the shim zygote, serve the API."""

from __future__ import annotations

import logging
import os
import signal
import sys

from berth import __version__
from berth.daemon.config import ConfigError, DaemonConfig, load
from berth.daemon.pidfile import Pidfile, PidfileError

log = logging.getLogger("berthd")


def _setup_logging(cfg: DaemonConfig) -> None:
    level = "debug" if cfg.debug else cfg.log_level
    logging.basicConfig(
        level={"warn": logging.WARNING, "fatal": logging.CRITICAL}.get(
            level, getattr(logging, level.upper(), logging.INFO)
        ),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


async def _serve(cfg: DaemonConfig, zygote: object) -> None:
    import asyncio
    from pathlib import Path

    from berth.api.app import build_router
    from berth.api.http.server import HTTPServer
    from berth.daemon.config import registry_options, seccomp_profile
    from berth.daemon.listeners import Listeners
    from berth.engine.engine import Engine, EngineConfig

    engine = Engine(
        EngineConfig(
            Path(cfg.data_root),
            Path(cfg.exec_root),
            cfg.debug,
            tuple(cfg.labels),
            cfg.cgroup_parent,
            registry_options(cfg),
            cfg.bridge,
            seccomp_profile(cfg),
        ),
        zygote,
    )
    await engine.start()
    server = HTTPServer(build_router(), engine)
    listeners = Listeners(cfg)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await listeners.start(server.handle_connection)
        log.info("berthd %s started (pid %d)", __version__, os.getpid())
        await stop.wait()
        log.info("shutting down")
    finally:
        await listeners.close()  # stop accepting first
        await engine.shutdown()
        for task in list(server.connections):
            task.cancel()


def main(argv: list[str] | None = None) -> int:
    try:
        cfg, args = load(argv)
    except ConfigError as exc:
        print(f"berthd: {exc}", file=sys.stderr)
        return 1
    if args.version:
        print(f"berthd version {__version__}")
        return 0
    _setup_logging(cfg)
    if os.geteuid() != 0:
        print("berthd: needs to be started as root", file=sys.stderr)
        return 1
    try:
        from berth.daemon.listeners import check

        check(cfg)
    except ConfigError as exc:
        print(f"berthd: {exc}", file=sys.stderr)
        return 1
    pidfile = Pidfile(cfg.pidfile)
    try:
        pidfile.acquire()
    except PidfileError as exc:
        print(f"berthd: {exc}", file=sys.stderr)
        return 1
    # The zygote is forked now, while this process is small and single-threaded:
    # every shim is forked from it (no interpreter start per container).
    from berth.runtime.zygote import Zygote

    zygote = Zygote.fork()
    from berth.engine.errors import EngineError

    try:
        import asyncio

        asyncio.run(_serve(cfg, zygote))
    except ConfigError as exc:
        print(f"berthd: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"berthd: {exc}", file=sys.stderr)
        return 1
    except EngineError as exc:  # e.g. a --bridge that names a link that is no bridge
        print(f"berthd: {exc.message}", file=sys.stderr)
        return 1
    finally:
        zygote.close()
        pidfile.release()
    return 0


if __name__ == "__main__":
    sys.exit(main())
