"""Fault points for the tests: the faults a test cannot cause for real (a daemon killed
between two given lines, a step that fails after another succeeded), caused at a named
place instead of mocked.

`BERTH_TEST_FAULT=NAME` makes `point(NAME)` raise, `BERTH_TEST_FAULT=NAME:crash` makes it
end berthd on the spot (`os._exit`, no cleanup: what a SIGKILL leaves). Unset, a point
costs one dictionary lookup.

The points (the tests arming them: `grep -r BERTH_TEST_FAULT tests`, and the crash
table of tests/integration/daemon/test_crash_points.py):
  create:before-store   a container prepared, not yet in the store
  start:after-spawn     the shim spawned, nothing attached to it yet
  start:after-process   the process runs, its running state not yet saved
  exit:before-save      the process exited and was cleaned up, its exit not yet saved
  remove:midway         a removal with the run released, files and record still there
  network:connect       a connect with the container joined, the endpoint not yet saved
  pull:commit           a pulled image's layers and config placed in the image store,
                        its rows and tags not yet written"""

from __future__ import annotations

import os

_SPEC = os.environ.get("BERTH_TEST_FAULT", "")
_CRASH = _SPEC.endswith(":crash")
_NAME = _SPEC.removesuffix(":crash")


class InjectedFault(RuntimeError):
    """The failure a test asked for."""


def point(name: str) -> None:
    if not _NAME or name != _NAME:
        return
    if _CRASH:
        os._exit(86)
    raise InjectedFault(f"injected fault at {name}")
