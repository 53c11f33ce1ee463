"""berthd's signals besides SIGTERM: SIGHUP reloads the configuration, SIGUSR1 dumps the
stacks of the daemon's tasks (dockerd's goroutine dump), both into the log."""

from __future__ import annotations

import asyncio
import io
import logging
from typing import Any

from berth.daemon.config import (
    FILE_KEYS,
    RELOADABLE,
    ConfigError,
    DaemonConfig,
    file_key,
    load,
    registry_options,
)

log = logging.getLogger("berthd")


def apply_logging(cfg: DaemonConfig) -> None:
    """The root logger's level from debug / log-level (also at start)."""
    level = "debug" if cfg.debug else cfg.log_level
    logging.getLogger().setLevel(
        {"warn": logging.WARNING, "fatal": logging.CRITICAL}.get(
            level, getattr(logging, level.upper(), logging.INFO)
        )
    )


def reload(cfg: DaemonConfig, argv: list[str] | None, engine: Any) -> list[str]:
    """Read the flags and daemon.json again and apply what can change live; CFG is updated
    in place. Returns the daemon.json keys that changed (for the log and the tests). A
    configuration that does not load leaves everything as it was."""
    try:
        new, _ = load(argv)
    except ConfigError as exc:
        log.error("reload: the configuration was not applied: %s", exc)
        return []
    changed = [a for a in FILE_KEYS.values() if getattr(new, a) != getattr(cfg, a)]
    live = [a for a in changed if a in RELOADABLE]
    later = [a for a in changed if a not in RELOADABLE]
    for attr in live:
        log.info("reload: %s: %r -> %r", file_key(attr), getattr(cfg, attr), getattr(new, attr))
        setattr(cfg, attr, getattr(new, attr))
    for attr in later:
        log.warning("reload: %s changed: restart berthd to apply it", file_key(attr))
    if live:
        apply_logging(cfg)
        engine.reload(
            debug=bool(cfg.debug),
            labels=tuple(cfg.labels),
            registry=registry_options(cfg),
            live_restore=bool(cfg.live_restore),
        )
    else:
        log.info("reload: nothing to apply")
    return [file_key(a) for a in changed]


def dump_tasks() -> None:
    """Every task's stack, into the log at INFO."""
    out = io.StringIO()
    tasks = asyncio.all_tasks()
    out.write(f"=== {len(tasks)} tasks ===\n")
    for t in tasks:
        out.write(f"--- {t.get_name()}: {t.get_coro()!r}\n")
        t.print_stack(file=out)
    log.info("task dump (SIGUSR1):\n%s", out.getvalue())
