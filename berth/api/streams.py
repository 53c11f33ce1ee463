"""Byte pumps for hijacked connections (attach, exec): client <-> shim.

With a tty, the client's input goes through the detach-key watch (moby's
container/stream copyEscapable over moby/term's escapeProxy): when the sequence arrives the
session ends, the container keeps running with its stdin open, and the keys never reach it.
Without a tty, dockerd applies no detach keys and the client's EOF is passed on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

_CHUNK = 1 << 16
DEFAULT_DETACH_KEYS = b"\x10\x11"  # ctrl-p,ctrl-q


class EscapeWatch:
    """moby/term's escapeProxy as a filter over chunks: the bytes of a partial sequence
    are held back; if the next byte does not continue it they are passed on (followed by
    that byte, which is not looked at again, as in moby); the whole sequence ends it.

    moby compares only reads that return one byte; here every byte counts, so that keys
    that arrive in one segment detach too."""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys or DEFAULT_DETACH_KEYS
        self.pos = 0  # how many bytes of the sequence are held back
        self.detached = False

    def feed(self, data: bytes) -> bytes:
        """What of `data` goes on to the container; sets `detached` at the sequence (what
        follows it is dropped: the session ends there)."""
        out = bytearray()
        keys = self.keys
        for b in data:
            if b == keys[self.pos]:
                self.pos += 1
                if self.pos == len(keys):
                    self.pos = 0
                    self.detached = True
                    return bytes(out)
                continue
            if self.pos:
                out += keys[: self.pos]
                self.pos = 0
            out.append(b)
        return bytes(out)


async def _pump_out(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    while True:
        data = await src.read(_CHUNK)
        if not data:
            return
        dst.write(data)
        await dst.drain()


async def _pump_in(
    src: asyncio.StreamReader, dst: asyncio.StreamWriter, watch: EscapeWatch | None = None
) -> None:
    """Client -> shim until the client's EOF (passed on without a tty; with one it ends
    the session, as dockerd ends it) or the detach keys."""
    while True:
        data = await src.read(_CHUNK)
        if watch is not None:
            if not data:
                return  # dockerd closes a tty session's output, not the container's stdin
            data = watch.feed(data)
            if data:
                dst.write(data)
                await dst.drain()
            if watch.detached:
                return
            continue
        if not data:
            # The client half-closed: pass the EOF on (closes the container's stdin).
            with contextlib.suppress(OSError, RuntimeError):
                if dst.can_write_eof():
                    dst.write_eof()
            return
        dst.write(data)
        await dst.drain()


async def proxy(
    client_r: asyncio.StreamReader,
    client_w: asyncio.StreamWriter,
    shim_r: asyncio.StreamReader,
    shim_w: asyncio.StreamWriter,
    *,
    stdin: bool,
    before_eof: Callable[[], Awaitable[None]] | None = None,
    detach_keys: bytes | None = None,
) -> bool:
    """Copy container output to the client until the shim closes it (the container
    ended); copy the client's input to the shim when stdin is attached. `before_eof`
    runs before the client's stream is closed (exec: the exit code must be known first).
    `detach_keys` (a tty's session; b"" for the default ctrl-p,ctrl-q): that sequence, or
    the client's EOF, ends the session early. Returns True if the client detached with
    the keys."""
    watch = EscapeWatch(detach_keys) if stdin and detach_keys is not None else None
    inbound = asyncio.create_task(_pump_in(client_r, shim_w, watch)) if stdin else None
    outbound = asyncio.create_task(_pump_out(shim_r, client_w))
    ended_early = False
    try:
        with contextlib.suppress(ConnectionError):
            if watch is None or inbound is None:
                await outbound
            else:
                await asyncio.wait({inbound, outbound}, return_when=asyncio.FIRST_COMPLETED)
                ended_early = not outbound.done()
                if not ended_early:
                    await outbound
    finally:
        for task in (inbound, outbound):
            if task is not None and not task.done():
                task.cancel()
            if task is not None:
                with contextlib.suppress(BaseException):
                    await task
        shim_w.close()
        if before_eof is not None and not ended_early:
            await before_eof()
        with contextlib.suppress(OSError, RuntimeError):
            if client_w.can_write_eof():
                client_w.write_eof()
            await client_w.drain()
    return watch is not None and watch.detached
