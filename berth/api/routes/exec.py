"""Exec routes: create an exec instance in a container, start it (hijacked unless detached),
resize its tty, inspect it."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from berth import stdcopy
from berth.api.backends import ExecBackend
from berth.api.http.request import Request
from berth.api.http.response import HijackResponse, Response, json_response
from berth.api.http.router import Route
from berth.api.streams import proxy
from berth.engine import wire
from berth.engine.containers.exec import ExecStartOptions
from berth.engine.errors import EngineError

RAW = "application/vnd.docker.raw-stream"
MULTIPLEXED = "application/vnd.docker.multiplexed-stream"


async def create(req: Request, eng: ExecBackend) -> Response:
    body = await req.json()
    ex = eng.execs.create(req.match_info["name"], body)
    return json_response({"Id": ex.id}, 201)


async def start(req: Request, eng: ExecBackend) -> Response | HijackResponse:
    opts = wire.decode_struct(ExecStartOptions, await req.json())
    eid = req.match_info["id"]
    detach, tty = opts.detach, opts.tty
    size = opts.console_size if tty and req.at_least("1.42") else None
    if size is not None and len(size) != 2:
        size = (list(size) + [0, 0])[:2]  # a Go [2]uint
    execs = eng.execs
    # not found / container stopped: a plain error, before the connection is taken over
    execs.startable(eid)
    if detach:
        await execs.start(eid, detach=True, raw=tty, console_size=size)
        return Response(200, b"", "text/plain")

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            st = await execs.start(eid, detach=False, raw=tty, console_size=size)
        except EngineError as exc:
            # the 101 is out: dockerd writes the error into the stream, as stdout
            msg = (exc.message + "\r\n").encode()
            writer.write(msg if tty else stdcopy.frame(1, msg))
            await writer.drain()
            return
        assert st is not None
        detached = await proxy(
            reader,
            writer,
            st.reader,
            st.writer,
            stdin=st.stdin,
            before_eof=lambda: execs.wait_exit(eid),
            # dockerd watches for the detach keys only on a tty (moby's CopyStreams)
            detach_keys=st.detach_keys if st.tty else None,
        )
        if detached:
            execs.detached(eid)

    ctype = MULTIPLEXED if not tty and req.at_least("1.42") else RAW
    return HijackResponse(session, content_type=ctype)


async def resize(req: Request, eng: ExecBackend) -> Response:
    h, w = req.qint("h", 0) or 0, req.qint("w", 0) or 0
    await eng.execs.resize(req.match_info["id"], h, w)
    return Response(200, b"", "text/plain")


async def inspect(req: Request, eng: ExecBackend) -> Response:
    ex = eng.execs.inspect(req.match_info["id"])
    process: dict[str, Any] = {
        "tty": ex.tty,
        "privileged": ex.privileged,
        "entrypoint": ex.entrypoint,
        "arguments": ex.args,
    }
    if ex.user:
        process["user"] = ex.user
    return json_response(
        {
            "ID": ex.id,
            "Running": ex.running,
            "ExitCode": ex.exit_code,
            "ProcessConfig": process,
            "OpenStdin": ex.open_stdin,
            "OpenStderr": ex.open_stderr,
            "OpenStdout": ex.open_stdout,
            "CanRemove": False,
            "ContainerID": ex.container_id,
            "DetachKeys": base64.b64encode(ex.detach_keys).decode(),
            "Pid": ex.pid,
        }
    )


ROUTES = [
    Route("POST", "/containers/{name}/exec", create),
    Route("POST", "/exec/{id}/start", start),
    Route("POST", "/exec/{id}/resize", resize),
    Route("GET", "/exec/{id}/json", inspect),
]
