"""A container's streams: attach (now, or at its next start), the tty's size, and logs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from berth.engine.containers import hostopts
from berth.engine.containers.core import AttachRequest, ServiceCore, Streams
from berth.engine.containers.logs import LogOptions, read_log_stream, read_logs
from berth.engine.containers.model import Container
from berth.engine.errors import Conflict, InvalidParameter
from berth.engine.ports import ShimError


class StreamsPart(ServiceCore):
    """attach, resize, logs."""

    def attach_request(
        self, c: Container, stdin: bool, stdout: bool, stderr: bool
    ) -> AttachRequest:
        """Register an attach; its future resolves to the shim streams as soon as the
        container runs (now, or at its next start)."""
        req = AttachRequest(stdin and c.config.open_stdin, stdout, stderr)
        self.events.container(c, "attach")
        live = self._live.get(c.id)
        if live is not None:
            # The request holds the task: the event loop keeps only a weak reference.
            req.task = asyncio.ensure_future(live.shim.attach(req.stdin, stdout, stderr))
            req.task.add_done_callback(lambda t: _chain(t, req.streams))
        else:
            self._w(c.id).pending_attach.append(req)
        return req

    def cancel_attach(self, c: Container, req: AttachRequest) -> None:
        w = self._watch.get(c.id)
        if w is not None and req in w.pending_attach:
            w.pending_attach.remove(req)

    async def resize(self, ref: str, height: int, width: int) -> None:
        c = self.get(ref)
        live = self._live.get(c.id)
        if live is None:
            raise Conflict(f"Container {c.id} is not running")
        try:
            await live.shim.resize(height, width)
        except (ConnectionError, FileNotFoundError, ShimError):
            raise Conflict(f"Container {c.id} is not running") from None
        self.events.container(c, "resize", {"height": str(height), "width": str(width)})

    def logs(self, c: Container, opts: LogOptions) -> AsyncIterator[tuple[int, bytes]]:
        if c.host_config.log_config.type == "none":
            raise InvalidParameter("configured logging driver does not support reading")
        path = hostopts.log_file(c, self.containers_dir / c.id)
        return read_logs(path, opts, lambda: self._producing_logs(c))

    def log_stream(self, c: Container, opts: LogOptions) -> AsyncIterator[bytes]:
        """`docker logs`' body: raw bytes for a tty container, else stdcopy frames."""
        if c.host_config.log_config.type == "none":
            raise InvalidParameter("configured logging driver does not support reading")
        path = hostopts.log_file(c, self.containers_dir / c.id)
        return read_log_stream(path, opts, lambda: self._producing_logs(c), raw=c.config.tty)

    def _producing_logs(self, c: Container) -> bool:
        """A follower keeps following while the container runs or waits for its restart
        policy to start it again: `docker logs -f` goes on across restarts."""
        return c.id in self._live or c.state.status == "restarting"


def _chain(task: asyncio.Future[Streams], fut: asyncio.Future[Streams]) -> None:
    if fut.done():
        return
    if task.cancelled():
        fut.cancel()
    elif task.exception() is not None:
        fut.set_exception(task.exception())  # type: ignore[arg-type]
    else:
        fut.set_result(task.result())
