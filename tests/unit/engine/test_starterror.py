"""A process that could not start, for a container's start and an exec alike: the exit
code recorded and the error kind, as dockerd's translateContainerdStartErr gives them."""

from __future__ import annotations

import pytest

from berth.engine.containers import starterror
from berth.engine.errors import InvalidParameter, SystemError_


@pytest.mark.parametrize(
    ("message", "code", "kind"),
    [
        ('exec: "nosuch": executable file not found in $PATH', 127, InvalidParameter),
        ('exec: "/etc": permission denied', 126, InvalidParameter),
        ("mount /data: not a directory", 127, InvalidParameter),
        ("cgroup: cannot create", None, SystemError_),
    ],
)
@pytest.mark.parametrize("default", [starterror.CONTAINER_UNKNOWN, starterror.EXEC_UNKNOWN])
def test_translate(message: str, code: int | None, kind: type, default: int) -> None:
    got, err = starterror.translate(message, default)
    assert got == (default if code is None else code)
    assert type(err) is kind and err.message.startswith(message)


def test_a_mount_onto_a_file_says_so() -> None:
    _, err = starterror.translate("mount /data: not a directory", 128)
    assert err.message == (
        "mount /data: not a directory: Are you trying to mount a directory onto a file (or "
        "vice-versa)? Check if the specified host path exists and is the expected type"
    )
