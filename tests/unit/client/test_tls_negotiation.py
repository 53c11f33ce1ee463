"""API version negotiation (part of issue 9's client work with TLS): /_ping's API-Version
header, DOCKER_API_VERSION, and what an older daemon is sent."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from berth.client.api import Client
from berth.client.transport import pick_version
from tests.unit.client.httpfake import FakeDaemon, Received, json_reply

REPO = Path(__file__).resolve().parents[3]


def daemon_speaking(
    version: str | None, ping_status: int = 200
) -> Callable[[Received, socket.socket], None]:
    def handler(req: Received, c: socket.socket) -> None:
        if req.target == "/_ping":
            hdr = f"Api-Version: {version}\r\n".encode() if version else b""
            reason = b"OK" if ping_status == 200 else b"Not Found"
            c.sendall(
                b"HTTP/1.1 %d %s\r\n%sContent-Length: 2\r\n\r\nOK" % (ping_status, reason, hdr)
            )
        else:
            json_reply(c, 200, b"[]")

    return handler


@pytest.fixture
def fake() -> Iterator[Callable[..., FakeDaemon]]:
    made: list[FakeDaemon] = []

    def make(version: str | None, ping_status: int = 200) -> FakeDaemon:
        srv = FakeDaemon(daemon_speaking(version, ping_status))
        made.append(srv)
        return srv

    yield make
    for srv in made:
        srv.close()
        assert not srv.errors


@pytest.mark.parametrize(
    "server, want",
    [
        ("1.41", "1.41"),
        ("1.50", "1.50"),
        ("1.51", "1.50"),
        ("1.9", "1.9"),
        ("", "1.24"),
        ("junk", "1.50"),
    ],
)
def test_pick_version(server: str, want: str) -> None:
    assert pick_version(server) == want


@pytest.mark.parametrize(
    "version, status, want",
    [
        ("1.41", 200, "/v1.41/containers/json"),  # an older daemon gets its own version
        ("1.52", 200, "/v1.50/containers/json"),  # a newer one gets ours
        (None, 200, "/v1.24/containers/json"),  # no header: the last version before headers
        (None, 404, "/v1.50/containers/json"),  # the ping failed: docker keeps its own
    ],
)
def test_auto_pings_once_then_uses_the_version(
    fake: Callable[..., FakeDaemon], version: str | None, status: int, want: str
) -> None:
    srv = fake(version, status)
    c = Client(srv.url, api_version="auto")
    c.containers()
    c.containers()
    assert [r.target for r in srv.requests] == ["/_ping", want, want]


def test_pinned_version_sends_no_ping(fake: Callable[..., FakeDaemon]) -> None:
    srv = fake("1.41")
    Client(srv.url, api_version="1.43").containers()
    assert [r.target for r in srv.requests] == ["/v1.43/containers/json"]


def _berth(srv: FakeDaemon, *args: str, **env: str) -> subprocess.CompletedProcess[bytes]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "BERTH_"))}
    base.update(PYTHONPATH=str(REPO), BERTH_HOST=srv.url, HOME="/nonexistent", **env)
    return subprocess.run(
        [sys.executable, "-m", "berth.cli.main", *args],
        env=base,
        capture_output=True,
        cwd=REPO,
        timeout=30,
    )


def test_cli_negotiates_with_an_older_daemon(fake: Callable[..., FakeDaemon]) -> None:
    srv = fake("1.41")
    p = _berth(srv, "ps")
    assert p.returncode == 0, p.stderr
    assert [r.target.split("?")[0] for r in srv.requests] == ["/_ping", "/v1.41/containers/json"]


def test_cli_docker_api_version_pins(fake: Callable[..., FakeDaemon]) -> None:
    srv = fake("1.41")
    p = _berth(srv, "ps", DOCKER_API_VERSION="1.44")
    assert p.returncode == 0, p.stderr
    assert [r.target.split("?")[0] for r in srv.requests] == ["/v1.44/containers/json"]
