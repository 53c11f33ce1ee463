"""docker-compose 1.29 (Debian's) builds a two-service project against berthd with
`build` and `up --build`, and the services run what was built and find each other."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Daemon

pytestmark = pytest.mark.compat

Ctx = Callable[..., Path]

COMPOSE = """\
version: "3.7"
services:
  web:
    build:
      context: ./web
      args:
        GREETING: hello-from-compose
    image: bt-compose-web:test
  client:
    build: ./client
    image: bt-compose-client:test
    depends_on: [web]
"""


def _compose(daemon: Daemon, project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.skip("docker-compose is not installed (apt-get install docker-compose)")
    env = {**daemon.env, "COMPOSE_PROJECT_NAME": "btcompose", "DOCKER_BUILDKIT": "0",
           "COMPOSE_DOCKER_CLI_BUILD": "0"}  # fmt: skip
    return subprocess.run(
        [exe, *args], cwd=project, env=env, capture_output=True, text=True, timeout=240
    )


def test_compose_build_and_up_build(daemon: Daemon, ctx: Ctx) -> None:
    project = ctx(
        {
            "docker-compose.yml": COMPOSE,
            "web/index.html": "placeholder\n",
            "web/Dockerfile": (
                "FROM busybox\nARG GREETING\nRUN mkdir /www && echo $GREETING >/www/index.html\n"
                'CMD ["httpd", "-f", "-p", "80", "-h", "/www"]\n'
            ),
            "client/Dockerfile": (
                "FROM busybox\n"
                'CMD ["sh", "-c", "while :; do wget -qO- http://web/ && sleep 1000; sleep 0.2; done"]\n'
            ),
        }
    )
    try:
        b = _compose(daemon, project, "build")
        assert b.returncode == 0, b.stdout + b.stderr
        assert "Successfully tagged bt-compose-web:test" in b.stdout + b.stderr
        for name in ("bt-compose-web:test", "bt-compose-client:test"):
            assert daemon.api.call("GET", f"/images/{name}/json")[0] == 200
        # a change, then up --build: rebuilt and run
        (project / "web/Dockerfile").write_text(
            "FROM busybox\nARG GREETING\nRUN mkdir /www && echo $GREETING again >/www/index.html\n"
            'CMD ["httpd", "-f", "-p", "80", "-h", "/www"]\n'
        )
        up = _compose(daemon, project, "up", "--build", "-d")
        assert up.returncode == 0, up.stdout + up.stderr
        deadline = time.monotonic() + 30
        logs = ""
        while time.monotonic() < deadline:
            logs = _compose(daemon, project, "logs", "client").stdout
            if "hello-from-compose again" in logs:
                break
            time.sleep(0.2)
        assert "hello-from-compose again" in logs, logs
    finally:
        _compose(daemon, project, "down", "--rmi", "all", "-v", "--remove-orphans")
        daemon.api.call("POST", "/build/prune")
    assert daemon.api.call("GET", "/images/bt-compose-web:test/json")[0] == 404
