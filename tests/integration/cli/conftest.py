"""Drive the shared berthd (tests/conftest.py) through the `berth` CLI in a subprocess."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest

from tests.conftest import REPO, Daemon

BerthRun = Callable[..., subprocess.CompletedProcess]


def berth_argv(*args: str) -> list[str]:
    """The command line that runs the berth CLI from this checkout."""
    return [sys.executable, "-m", "berth.cli.main", *args]


@pytest.fixture
def berth(daemon: Daemon) -> Iterator[BerthRun]:
    """Run `berth ARGS...` against the shared daemon; containers are removed afterwards."""

    def run(
        *args: str, input: bytes | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess:
        env = {**daemon.env, "PYTHONPATH": str(REPO)}
        env.pop("DOCKER_HOST", None)  # BERTH_HOST must be enough
        return subprocess.run(
            berth_argv(*args),
            env=env,
            input=input,
            capture_output=True,
            timeout=timeout,
            cwd=REPO,
        )

    try:
        yield run
    finally:
        daemon.remove_all_containers()
