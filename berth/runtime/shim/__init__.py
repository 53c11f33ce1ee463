"""The per-container shim: holds the container's stdio, reaps it, records how it ended.

protocol.py   the wire: messages, ops, exit codes          stdio.py    ProcessIO: pipes or a pty
process.py    InitProcess, ExecProcess (pid, pidfd, reap)  server.py   the loop and the ops
clients.py    client connections                           poller.py   the selector
warmup.py     what the zygote runs before forking shims

The zygote (berth/runtime/zygote.py) calls `preload` and `rehearse` once, then `run` in each shim
it forks; the engine talks to a shim through berth/runtime/shim_client.py."""

from berth.runtime.shim.clients import CLIENT_BUFFER_LIMIT, READ_SIZE
from berth.runtime.shim.process import DRAIN_TIMEOUT, ExecProcess, InitProcess
from berth.runtime.shim.protocol import (
    EXIT_FILE,
    EXIT_UNKNOWN,
    LOG_NAME,
    MAX_REQUEST,
    SOCKET_NAME,
    decode_message,
    encode_message,
    exit_code_for_start_error,
    exit_code_from_status,
)
from berth.runtime.shim.server import FLUSH_TIMEOUT, Shim, run
from berth.runtime.shim.stdio import EXEC_OUTPUT_PAUSE, STDIN_BUFFER_LIMIT, ProcessIO
from berth.runtime.shim.warmup import preload, rehearse

__all__ = [
    "CLIENT_BUFFER_LIMIT",
    "DRAIN_TIMEOUT",
    "EXEC_OUTPUT_PAUSE",
    "EXIT_FILE",
    "EXIT_UNKNOWN",
    "FLUSH_TIMEOUT",
    "LOG_NAME",
    "MAX_REQUEST",
    "READ_SIZE",
    "SOCKET_NAME",
    "STDIN_BUFFER_LIMIT",
    "ExecProcess",
    "InitProcess",
    "ProcessIO",
    "Shim",
    "decode_message",
    "encode_message",
    "exit_code_for_start_error",
    "exit_code_from_status",
    "preload",
    "rehearse",
    "run",
]
