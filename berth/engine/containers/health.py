"""Healthchecks: the probe loop of each running container with a HEALTHCHECK.

dockerd's rules (daemon/health.go): the first probe runs one interval after the start (the
StartInterval instead while the container is still "starting" inside its StartPeriod), the next
one an interval after the previous one ended; a probe is an exec of the Test command; exit 0 is
healthy, anything else a failure, and Retries failures in a row make it unhealthy; failures
inside the StartPeriod do not count while the container has never been healthy. The state
(Status, FailingStreak and the last five results) lives in State.health and outlives the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from berth.engine.clock import parse_rfc3339, rfc3339nano
from berth.engine.containers.model import Container
from berth.engine.errors import EngineError
from berth.engine.ports import ShimError

log = logging.getLogger("berth.health")

SECOND = 1_000_000_000
DEFAULT_INTERVAL = 30 * SECOND
DEFAULT_TIMEOUT = 30 * SECOND
DEFAULT_START_INTERVAL = 5 * SECOND
DEFAULT_RETRIES = 3
MAX_LOG_ENTRIES = 5
MAX_OUTPUT = 4096
# starting the exec itself must not hang the loop forever (dockerd's separate start timeout)
START_TIMEOUT = 30.0
_KILL = 9


def probe_command(c: Container) -> list[str] | None:
    """The command a probe execs, or None when the container has no (or a NONE) healthcheck."""
    hc = c.config.healthcheck or {}
    test = hc.get("Test") or []
    if not test or not isinstance(test, list):
        return None
    kind, rest = test[0], [str(a) for a in test[1:]]
    if kind == "CMD":
        return rest or None
    if kind == "CMD-SHELL":
        return [*(c.config.shell or ["/bin/sh", "-c"]), *rest]
    return None  # "NONE" or an unknown kind: dockerd runs no monitor


def _ns(hc: dict[str, Any], key: str, default: int) -> int:
    val = hc.get(key)
    return int(val) if isinstance(val, int) and val > 0 else default


def go_duration(ns: int) -> str:
    """A duration as Go's time.Duration.String() spells it ("30s", "1m30s", "500ms")."""
    if ns == 0:
        return "0s"
    if ns < SECOND:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size:
                return f"{ns / size:g}{unit}"
    h, rem = divmod(ns, 3600 * SECOND)
    m, rem = divmod(rem, 60 * SECOND)
    s = f"{rem / SECOND:.9f}".rstrip("0").rstrip(".") + "s"
    if h:
        return f"{h}h{m}m{s}"
    if m:
        return f"{m}m{s}"
    return s


def _demux(data: bytes) -> bytes:
    """The payload of stdcopy frames (8-byte header: stream, 0, 0, 0, big-endian size)."""
    out = bytearray()
    pos = 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos + 4 : pos + 8], "big")
        out += data[pos + 8 : pos + 8 + size]
        pos += 8 + size
    return bytes(out)


def status_suffix(c: Container) -> str:
    """What `docker ps` appends to "Up ...": " (healthy)", " (health: starting)"..."""
    h = c.state.health
    if not h or c.state.status != "running":
        return ""
    st = h.get("Status", "")
    return " (health: starting)" if st == "starting" else f" ({st})" if st else ""


class HealthMonitor:
    """One probe loop per running container that has a healthcheck. `svc` is the
    ContainerService; `execs` its ExecService, which the probes run through."""

    def __init__(self, svc: Any, execs: Any) -> None:
        self.svc = svc
        self.execs = execs
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, c: Container) -> None:
        """Reset the health to "starting" (keeping the log) and run the loop, for a container
        that has just started or been picked up after a daemon restart."""
        self.stop(c.id)
        if probe_command(c) is None:
            return
        old = c.state.health or {}
        c.state.health = {"Status": "starting", "FailingStreak": 0, "Log": old.get("Log") or []}
        self._tasks[c.id] = asyncio.create_task(self._loop(c.id, c.state.started_at))

    def resume(self, c: Container) -> None:
        """Run the loop again for a container whose health survived a daemon restart."""
        if probe_command(c) is None or c.id in self._tasks:
            return
        if c.state.health is None:
            c.state.health = {"Status": "starting", "FailingStreak": 0, "Log": []}
        self._tasks[c.id] = asyncio.create_task(self._loop(c.id, c.state.started_at))

    def stop(self, cid: str) -> None:
        task = self._tasks.pop(cid, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t

    def _current(self, cid: str, started_at: str) -> Container | None:
        """The container, while it is still in the run this loop was started for."""
        c = self.svc.store.maybe(cid)
        if c is None or not c.state.running or c.state.started_at != started_at:
            return None
        return c

    async def _loop(self, cid: str, started_at: str) -> None:
        try:
            while True:
                c = self._current(cid, started_at)
                if c is None or c.state.health is None:
                    return
                hc = c.config.healthcheck or {}
                interval = _ns(hc, "Interval", DEFAULT_INTERVAL)
                start_period = _ns(hc, "StartPeriod", 0)
                if (
                    time.time() - parse_rfc3339(started_at) < start_period / SECOND
                    and c.state.health.get("Status") == "starting"
                ):
                    interval = _ns(hc, "StartInterval", DEFAULT_START_INTERVAL)
                await asyncio.sleep(interval / SECOND)
                c = self._current(cid, started_at)
                if c is None:
                    return
                if c.state.status == "paused":
                    continue  # dockerd runs no probes while the container is frozen
                result = await self._probe(c)
                c = self._current(cid, started_at)
                if c is None:
                    return
                self._record(c, result)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a broken loop must not take the daemon down
            log.exception("healthcheck loop of container %s", cid)
        finally:
            if self._tasks.get(cid) is asyncio.current_task():
                del self._tasks[cid]

    async def _probe(self, c: Container) -> dict[str, Any]:
        hc = c.config.healthcheck or {}
        timeout_ns = _ns(hc, "Timeout", DEFAULT_TIMEOUT)
        start = rfc3339nano()
        cmd = probe_command(c) or []
        try:
            ex = self.execs.create(
                c.id, {"Cmd": cmd, "AttachStdout": True, "AttachStderr": True}, internal=True
            )
            stream = await asyncio.wait_for(
                self.execs.start(ex.id, detach=False, raw=False), START_TIMEOUT
            )
        except (EngineError, ShimError, OSError, TimeoutError) as exc:
            msg = exc.message if isinstance(exc, (EngineError, ShimError)) else str(exc)
            if isinstance(exc, TimeoutError):
                msg = f"timed out starting health check for container {c.id}"
            return {"Start": start, "End": rfc3339nano(), "ExitCode": -1, "Output": msg}
        output = bytearray()

        async def collect() -> None:
            assert stream is not None
            while chunk := await stream.reader.read(65536):
                if len(output) <= MAX_OUTPUT + 8:
                    output.extend(chunk)

        try:
            if stream is not None:
                await asyncio.wait_for(collect(), timeout_ns / SECOND)
            await self.execs.wait_exit(ex.id)
        except TimeoutError:
            with contextlib.suppress(ShimError, OSError):
                await self.svc.runtime.shim(self.svc.bundle(c.id)).signal(_KILL, exec_id=ex.id)
            await self.execs.wait_exit(ex.id)
            return {
                "Start": start,
                "End": rfc3339nano(),
                "ExitCode": -1,
                "Output": f"Health check exceeded timeout ({go_duration(timeout_ns)})",
            }
        finally:
            if stream is not None:
                stream.writer.close()
        text = _demux(bytes(output))
        out = text[:MAX_OUTPUT].decode("utf-8", "replace")
        if len(text) > MAX_OUTPUT:
            out += "..."
        code = ex.exit_code if ex.exit_code is not None else -1
        return {"Start": start, "End": rfc3339nano(), "ExitCode": code, "Output": out}

    def _record(self, c: Container, result: dict[str, Any]) -> None:
        h = c.state.health
        if h is None:
            return
        hc = c.config.healthcheck or {}
        retries = hc.get("Retries") if isinstance(hc.get("Retries"), int) else 0
        retries = retries if retries and retries > 0 else DEFAULT_RETRIES
        old = h.get("Status")
        h["Log"] = [*(h.get("Log") or []), result][-MAX_LOG_ENTRIES:]
        if result["ExitCode"] == 0:
            h["FailingStreak"] = 0
            h["Status"] = "healthy"
        else:
            counts = True
            if old == "starting":
                start_period = _ns(hc, "StartPeriod", 0) / SECOND
                ran = parse_rfc3339(result["Start"]) - parse_rfc3339(c.state.started_at)
                counts = ran >= start_period
            if counts:
                h["FailingStreak"] = int(h.get("FailingStreak") or 0) + 1
                if h["FailingStreak"] >= retries:
                    h["Status"] = "unhealthy"
        self.svc.store.save(c)
        if h["Status"] != old:
            self.svc.events.container(c, "health_status: " + h["Status"])
