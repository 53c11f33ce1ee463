"""docker-py's log follows: a stream opened right after the start gets every line, and a
follow the client closes ends in berthd at once (no task left, nothing in its log)."""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Iterator

import pytest

from tests.conftest import Daemon

docker_sdk = pytest.importorskip("docker")
pytestmark = pytest.mark.compat


@pytest.fixture
def client(daemon: Daemon) -> Iterator:  # type: ignore[type-arg]
    c = docker_sdk.DockerClient(base_url=daemon.host, version="auto", timeout=60)
    yield c
    c.close()
    daemon.remove_all_containers()


def wait_for(cond, timeout: float = 20.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_follow_from_start_gets_every_line(client) -> None:  # type: ignore[no-untyped-def]
    ctr = client.containers.run(
        "busybox", ["sh", "-c", "for i in $(seq 1 200); do echo line $i; done"], detach=True
    )
    data = b"".join(ctr.logs(stream=True, follow=True))
    assert data.decode().splitlines() == [f"line {i}" for i in range(1, 201)]


def _tasks(daemon: Daemon) -> tuple[int, int]:
    """(all tasks, tasks awaiting a follow's next chunk) of berthd, from its SIGUSR1 dump."""
    start = daemon.log.stat().st_size
    assert daemon.proc is not None
    daemon.proc.send_signal(signal.SIGUSR1)

    def dump() -> str | None:
        text = daemon.log.read_bytes()[start:].decode(errors="replace")
        return text if "task dump (SIGUSR1)" in text and text.endswith("\n\n") else None

    text = wait_for(dump)
    m = re.search(r"=== (\d+) tasks ===", text)
    assert m is not None
    return int(m.group(1)), text.count("async_generator_asend")


def test_closed_follow_ends_at_once(client, daemon: Daemon) -> None:  # type: ignore[no-untyped-def]
    ctr = client.containers.run("busybox", ["sh", "-c", "echo hello; sleep 300"], detach=True)
    wait_for(lambda: ctr.logs() == b"hello\n")
    baseline, _ = _tasks(daemon)
    stream = ctr.logs(stream=True, follow=True)
    assert next(stream).strip() == b"hello"
    assert _tasks(daemon)[1] > 0  # the follow waits for the next line
    log_start = daemon.log.stat().st_size
    stream.close()
    # its connection's task, and the follow's, end although the container says nothing
    wait_for(lambda: (t := _tasks(daemon))[0] <= baseline and t[1] == 0)
    tail = daemon.log.read_bytes()[log_start:].decode(errors="replace")
    assert "Traceback" not in tail and " ERROR " not in tail
    ctr.reload()
    assert ctr.status == "running"  # only the stream ended
