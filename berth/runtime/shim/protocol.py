"""The shim's wire protocol: message encoding, the ops, and how a container's end is recorded.

Files in the bundle directory::

    config.json   OCI config (read)          shim.sock   control socket (removed at exit)
    shim.log      the shim's own stderr      exit.json   exit status, written atomically

Protocol on ``shim.sock``: each connection carries ONE request, a JSON object on one line, and gets
one JSON line back. A reply with an ``"error"`` key is a failure (``"error"`` is the message).

==========  ===============================================  =========================================
op          request fields                                   reply
==========  ===============================================  =========================================
start       --                                               {"pid": N} or {"error": msg,
                                                             "start_error": true} (the container
                                                             could not start; exit.json is written)
attach      stdin, stdout, stderr (bools)                    {"ok": true}, then the connection is the
                                                             raw stream (see below)
signal      signal (int)                                     {"ok": true}
resize      height, width (ints)                             {"ok": true}
wait        --                                               sent once the container has exited:
                                                             {"exit": {"exit_code", "oom_killed",
                                                             "finished_at", "error"}}
state       --                                               {"status": "created"|"running"|"exited",
                                                             "pid", "started_at", and once exited
                                                             "exit": {...as for wait}}
shutdown    --                                               {"ok": true}; only before start: the
                                                             shim exits without running anything
exec        id (str), process (OCI process fields over       {"pid": N}, then (unless detach) the
            config.json's), stdin, stdout, stderr, detach,   connection is the exec's raw stream; or
            raw (bools; raw: no stdcopy framing)             {"error": msg, "start_error": bool}
exec_wait   id                                               sent once that exec has exited:
                                                             {"exit_code": N}
==========  ===============================================  =========================================

``resize`` and ``signal`` take an optional ``exec`` (id) to act on an exec instead of the container.

Attach stream: the shim sends the container's output as stdcopy frames (8-byte header, stream 1
stdout / 2 stderr) unless the container has a tty, then raw bytes. Bytes the client sends go to the
container's stdin (only if it asked for stdin and the container has OpenStdin); the client's
half-close (EOF) closes the container's stdin when StdinOnce is set, unless the container has a
tty (as in dockerd, whose tty sessions end at the client's EOF or detach keys: berthd's side). The
shim closes the connection once the container has exited and its output is fully sent. A client
that falls more than `CLIENT_BUFFER_LIMIT` behind is dropped: the container never waits for a
client.

Exec stream: like attach, for one exec process and one client (stdcopy frames unless ``raw``). The
client's half-close closes the exec's stdin, unless it has a tty (its client ended or detached;
the terminal stays open, as in dockerd). The exec's output is not logged; when the client falls
behind, the shim stops reading the exec's output instead of dropping the client. The shim closes
the connection once the exec has exited and its output is sent. Execs still running when the
container ends are killed.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from berth.runtime.logfile import format_time

SOCKET_NAME = "shim.sock"
EXIT_FILE = "exit.json"
LOG_NAME = "shim.log"

MAX_REQUEST = 64 * 1024
EXIT_UNKNOWN = 128

# Every op of the table above; the server has one handler per op (Shim._op_<name>).
OPS = ("start", "attach", "signal", "resize", "wait", "state", "shutdown", "exec", "exec_wait")

# What a start error's message says (lower-cased) -> the exit code docker records. The
# first match wins: dockerd's translateContainerdStartErr checks these in the reverse
# order and a later rule there overrides an earlier one (a mount onto a file is ENOTDIR,
# whatever else the message says; EACCES beats "not found").
START_ERROR_EXIT_CODES: tuple[tuple[str, int], ...] = (
    ("not a directory", 127),
    ("permission denied", 126),
    ("executable file not found", 127),
    ("no such file or directory", 127),
)


def encode_message(obj: dict[str, Any]) -> bytes:
    """One protocol message: compact JSON and a newline."""
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


def decode_message(line: bytes) -> dict[str, Any]:
    """Parse one protocol line. Raises ValueError unless it is a JSON object."""
    obj = json.loads(line)
    if not isinstance(obj, dict):
        raise ValueError("message is not a JSON object")
    return obj


def start_error_exit_code(message: str) -> int | None:
    """The exit code a start error's MESSAGE names (the user's mistake: a command that is
    not there or cannot run), or None (the runtime's failure)."""
    low = message.lower()
    for needle, code in START_ERROR_EXIT_CODES:
        if needle in low:
            return code
    return None


def exit_code_for_start_error(message: str) -> int:
    """The exit code docker records for a process that failed to start with this message."""
    code = start_error_exit_code(message)
    return EXIT_UNKNOWN if code is None else code


def exit_code_from_status(status: int) -> int:
    """waitpid status -> docker exit code (a signal N gives 128+N)."""
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def exit_record(exit_code: int, *, oom_killed: bool = False, error: str = "") -> dict[str, Any]:
    """How a container ended, as ``wait``, ``state`` and exit.json carry it (finished now)."""
    return {
        "exit_code": exit_code,
        "oom_killed": oom_killed,
        "finished_at": format_time(time.time_ns()),
        "error": error,
    }


def start_failure(message: str) -> dict[str, Any]:
    """The exit record of a container that could not start."""
    return exit_record(exit_code_for_start_error(message), error=message)


def start_error_reply(message: str, start_error: bool = True) -> dict[str, Any]:
    """The reply to ``start`` or ``exec`` when the process could not be started."""
    return {"error": message, "start_error": start_error}
