"""The one place where engine errors become HTTP statuses."""

import errno
import os

from berth.engine import errors as e

_STATUS: list[tuple[type[e.EngineError], int]] = [
    (e.NotFound, 404),
    (e.Conflict, 409),
    (e.InvalidParameter, 400),
    (e.Unauthorized, 401),
    (e.Forbidden, 403),
    (e.NotModified, 304),
    (e.Unavailable, 503),
    (e.NotImplementedYet, 501),
    (e.SystemError_, 500),
]


def status_for(exc: BaseException) -> int:
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            return status
    return 500


# The host's own faults: a full disk, a read-only or unwritable data root, too many open
# files. Not bugs in berth, so no traceback; the message is Go's way of saying it (the
# path, then the error in lower case), as dockerd's would be.
_HOST_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.EIO,
     errno.EMFILE, errno.ENFILE, errno.ENOMEM}
)  # fmt: skip
_SQLITE = {
    "database or disk is full": "no space left on device",
    "attempt to write a readonly database": "read-only file system",
    "disk I/O error": "input/output error",
    "database disk image is malformed": "the database is corrupt",
    "file is not a database": "the database is corrupt",
    "unable to open database file": "cannot open the database",
}


def host_fault(exc: BaseException) -> e.SystemError_ | None:
    """EXC as an engine error when it is the host's fault, else None (a bug: the caller
    logs its traceback)."""
    if isinstance(exc, OSError) and exc.errno in _HOST_ERRNOS:
        text = os.strerror(exc.errno).lower() if exc.errno else str(exc)
        where = exc.filename if isinstance(exc.filename, str) else ""
        return e.SystemError_(f"{where}: {text}" if where else text)
    if type(exc).__module__ == "sqlite3" or type(exc).__name__ in (
        "OperationalError",
        "DatabaseError",
    ):
        raw = str(exc)
        for key, text in _SQLITE.items():
            if key in raw:
                return e.SystemError_(f"berth's state database: {text}")
    return None
