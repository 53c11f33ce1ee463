"""Byte pumps for hijacked connections (attach): client <-> shim."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

_CHUNK = 1 << 16


async def _pump_out(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    while True:
        data = await src.read(_CHUNK)
        if not data:
            return
        dst.write(data)
        await dst.drain()


async def _pump_in(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    while True:
        data = await src.read(_CHUNK)
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
) -> None:
    """Copy container output to the client until the shim closes it (the container
    ended); copy the client's input to the shim when stdin is attached. `before_eof`
    runs before the client's stream is closed (exec: the exit code must be known first)."""
    inbound = asyncio.create_task(_pump_in(client_r, shim_w)) if stdin else None
    try:
        with contextlib.suppress(ConnectionError):
            await _pump_out(shim_r, client_w)
    finally:
        if inbound is not None:
            inbound.cancel()
            with contextlib.suppress(BaseException):
                await inbound
        shim_w.close()
        if before_eof is not None:
            await before_eof()
        with contextlib.suppress(OSError, RuntimeError):
            if client_w.can_write_eof():
                client_w.write_eof()
            await client_w.drain()
