"""The one place where engine errors become HTTP statuses."""

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
