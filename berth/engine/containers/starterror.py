"""What a process that could not start means to the client, as dockerd's
translateContainerdStartErr says it, for a container's start and an exec's alike: the exit
code recorded and the error kind. The message's words decide (the runtime's table,
`start_error_exit_code`): a command that is not there or cannot run is the caller's
mistake (400, exit 127 or 126); anything else is the daemon's (500, DEFAULT's exit code:
128 for a container, 126 for an exec)."""

from __future__ import annotations

from berth.engine.errors import EngineError, InvalidParameter, SystemError_
from berth.engine.ports import start_error_exit_code

# the exit code of a process that could not start for the runtime's own reasons
CONTAINER_UNKNOWN = 128
EXEC_UNKNOWN = 126

_ENOTDIR_HINT = (
    ": Are you trying to mount a directory onto a file (or vice-versa)? Check if the "
    "specified host path exists and is the expected type"
)


def translate(message: str, default: int) -> tuple[int, EngineError]:
    code = start_error_exit_code(message)
    if code is None:
        return default, SystemError_(message)
    if "not a directory" in message.lower():
        message += _ENOTDIR_HINT
    return code, InvalidParameter(message)
