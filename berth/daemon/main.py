"""berthd: parse options, take the pid file, fork the shim zygote, serve the API."""

from __future__ import annotations

import logging
import os
import signal
import sys
from typing import TYPE_CHECKING, Any

from berth import __version__
from berth.daemon.config import ConfigError, DaemonConfig, load
from berth.daemon.pidfile import Pidfile, PidfileError

if TYPE_CHECKING:
    import asyncio

    from berth.api.policy import Policy
    from berth.engine.engine import Engine, Listener
    from berth.runtime.zygote import Supervised

log = logging.getLogger("berthd")


class JSONFormatter(logging.Formatter):
    """--log-format json: one object per line with logrus's keys (level, msg, time), as
    dockerd writes them."""

    _LEVELS = {"WARNING": "warning", "CRITICAL": "fatal"}

    def format(self, record: logging.LogRecord) -> str:
        import json
        import time

        t = time.gmtime(record.created)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", t) + f".{int(record.msecs * 1e6):09d}Z"
        out: dict[str, object] = {
            "level": self._LEVELS.get(record.levelname, record.levelname.lower()),
            "msg": record.getMessage(),
            "time": stamp,
            "module": record.name,
        }
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info)
        return json.dumps(out)


def _setup_logging(cfg: DaemonConfig) -> None:
    from berth.daemon.reload import apply_logging

    handler = logging.StreamHandler(sys.stderr)
    if cfg.log_format == "json":
        handler.setFormatter(JSONFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(handlers=[handler])
    apply_logging(cfg)
    for note in cfg.unsupported:
        log.warning("%s", note)


async def _bounded_shutdown(engine: Any, cfg: DaemonConfig) -> None:
    """The engine's shutdown (containers stopped with their own timeouts), given as long as
    dockerd would give it; then whatever still runs is killed."""
    import asyncio
    import contextlib

    bound = engine.shutdown_timeout(cfg.shutdown_timeout)
    try:
        await asyncio.wait_for(engine.shutdown(), None if bound < 0 else bound)
    except TimeoutError:
        log.error("shutdown did not finish within %d s: killing the containers left", bound)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(engine.force_shutdown(), 10)


def _served(cfg: DaemonConfig, policies: dict[str, Policy]) -> tuple[Listener, ...]:
    """The listeners as the engine reports them (GET /info, the log)."""
    from berth.engine.engine import Listener

    tls = bool(cfg.tls or cfg.tlsverify)
    return tuple(
        Listener(
            h,
            tls=tls and not h.startswith("unix://"),
            policy=policies[h].name,
            tlsverify=bool(cfg.tlsverify) and not h.startswith("unix://"),
        )
        for h in cfg.hosts
    )


def _engine(cfg: DaemonConfig, zygote: Supervised, served: tuple[Listener, ...]) -> Engine:
    """The engine berthd serves."""
    from pathlib import Path

    from berth.daemon.config import container_defaults, registry_options, seccomp_profile
    from berth.engine.engine import Engine, EngineConfig

    return Engine(
        EngineConfig(
            Path(cfg.data_root),
            Path(cfg.exec_root),
            cfg.debug,
            tuple(cfg.labels),
            cfg.cgroup_parent,
            registry_options(cfg),
            cfg.bridge,
            seccomp_profile(cfg),
            listeners=served,
            live_restore=bool(cfg.live_restore),
            network_options=dict(cfg.network_options),
            container_defaults=container_defaults(cfg),
        ),
        zygote,
    )


def _signals(cfg: DaemonConfig, argv: list[str] | None, engine: Engine) -> asyncio.Event:
    """SIGTERM/SIGINT set the returned event; SIGHUP reloads; SIGUSR1 dumps the tasks."""
    import asyncio

    from berth.daemon import reload

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # systemd's ExecReload sends SIGHUP: a reload, never an outage
    loop.add_signal_handler(signal.SIGHUP, reload.reload, cfg, argv, engine)
    loop.add_signal_handler(signal.SIGUSR1, reload.dump_tasks)
    return stop


async def _serve(cfg: DaemonConfig, zygote: Supervised, argv: list[str] | None = None) -> None:
    from berth.api.app import build_router
    from berth.api.http.server import HTTPServer
    from berth.daemon.config import policies as load_policies
    from berth.daemon.listeners import Listeners

    # loaded before anything is served: no socket is ever open without its policy
    policies = load_policies(cfg)
    served = _served(cfg, policies)
    engine = _engine(cfg, zygote, served)
    await engine.start()
    metrics = None
    if cfg.metrics_addr:
        from berth.daemon.metrics import Metrics

        metrics = Metrics(engine)
    zygote.watch()  # a zygote that dies from now on is replaced
    server = HTTPServer(build_router(), engine)
    if metrics is not None:
        server.observer = metrics.observe_request
    for ln in served:
        log.info("API policy of %s: %s", ln.host, ln.policy)
    listeners = Listeners(cfg, policies)
    stop = _signals(cfg, argv, engine)
    try:
        if metrics is not None:
            await metrics.start(cfg.metrics_addr)
        await listeners.start(server)
        log.info("berthd %s started (pid %d)", __version__, os.getpid())
        await stop.wait()
        log.info("shutting down")
    finally:
        await listeners.close()  # stop accepting first
        if metrics is not None:
            await metrics.close()
        await _bounded_shutdown(engine, cfg)
        for task in list(server.connections):
            task.cancel()


def _start_zygote(memory_merge: bool) -> Supervised:
    """Fork the zygote now, while this process is small and single-threaded: every shim is
    forked from it (no interpreter start per container)."""
    from berth.runtime.zygote import Supervised, Zygote

    zygote = Supervised(Zygote.fork(memory_merge=memory_merge), memory_merge=memory_merge)
    if memory_merge:
        from berth.runtime.memmerge import KSM_RUN, ksm_running

        if not ksm_running():
            log.warning(
                "--shim-memory-merge: ksmd is not running (%s is not 1): shims keep their "
                "own pages until the host enables it",
                KSM_RUN,
            )
    return zygote


def main(argv: list[str] | None = None) -> int:
    try:
        cfg, args = load(argv)
    except ConfigError as exc:
        print(f"berthd: {exc}", file=sys.stderr)
        return 1
    if args.version:
        print(f"berthd version {__version__}")
        return 0
    if args.validate:
        # dockerd's --validate: had the configuration not loaded, we would not be here
        for note in cfg.unsupported:
            print(f"berthd: warning: {note}", file=sys.stderr)
        print("configuration OK", file=sys.stderr)
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
    zygote = _start_zygote(bool(cfg.shim_memory_merge))
    # until the loop's handler is there, a SIGHUP (systemctl reload) must not kill berthd;
    # set after the fork, so that no shim (and no container) inherits the ignored signal
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    from berth.engine.errors import EngineError

    try:
        import asyncio

        asyncio.run(_serve(cfg, zygote, argv))
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
