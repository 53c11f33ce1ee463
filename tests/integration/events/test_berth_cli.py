"""`berth events`, `berth system df`, `berth system prune`, `berth container prune`."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.conftest import REPO, Daemon
from tests.integration.cli.conftest import berth_argv

pytestmark = pytest.mark.integration


@pytest.fixture
def berth(daemon: Daemon):  # type: ignore[no-untyped-def]
    def run(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        env = {**daemon.env, "PYTHONPATH": str(REPO)}
        env.pop("DOCKER_HOST", None)
        return subprocess.run(
            berth_argv(*args), env=env, input=input, capture_output=True, timeout=60, cwd=REPO
        )

    yield run
    daemon.remove_all_containers()


def _create(d: Daemon, name: str, **extra: object) -> str:
    st, body = d.api.call(
        "POST", f"/containers/create?name={name}", {"Image": "busybox", "Cmd": ["true"], **extra}
    )
    assert st == 201, body
    return body["Id"]  # type: ignore[no-any-return]


def test_berth_events_prints_docker_lines_and_json(berth, daemon: Daemon) -> None:  # type: ignore[no-untyped-def]
    since = f"{time.time():.9f}"
    cid = _create(daemon, "bc-ev", Labels={"k": "v"})
    until = f"{time.time():.9f}"
    p = berth("events", "--since", since, "--until", until, "-f", "container=bc-ev")
    assert p.returncode == 0, p.stderr
    line = p.stdout.decode().strip()
    stamp, rest = line.split(" ", 1)
    assert rest == f"container create {cid} (image=busybox, k=v, name=bc-ev)"
    assert len(stamp) == len("2024-01-01T00:00:00.000000000Z") or "+" in stamp or "-" in stamp[20:]
    p = berth("system", "events", "--since", since, "--until", until,
              "--filter", "container=bc-ev", "--format", "{{json .}}")  # fmt: skip
    assert json.loads(p.stdout)["Actor"]["ID"] == cid
    p = berth("events", "--since", "nonsense")
    assert p.returncode != 0 and b"nonsense" in p.stderr


def test_berth_system_df_and_prunes(berth, daemon: Daemon) -> None:  # type: ignore[no-untyped-def]
    gone = _create(daemon, "bc-gone")
    keep = _create(daemon, "bc-keep", Labels={"keep": "1"})
    p = berth("system", "df")
    assert p.returncode == 0, p.stderr
    rows = [ln.split() for ln in p.stdout.decode().splitlines()]
    assert rows[0] == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    assert rows[2][:3] == ["Containers", "2", "0"]
    # without -f it asks, and "n" keeps everything
    p = berth("container", "prune", input=b"n\n")
    assert p.returncode == 0 and b"Are you sure you want to continue? [y/N]" in p.stdout
    assert daemon.api.call("GET", "/containers/bc-gone/json")[0] == 200
    p = berth("container", "prune", "--filter", "label!=keep", input=b"y\n")
    assert p.returncode == 0, p.stderr
    assert p.stdout.decode().endswith(f"Deleted Containers:\n{gone}\n\nTotal reclaimed space: 0B\n")
    p = berth("system", "prune", "-f")
    assert p.returncode == 0, p.stderr
    out = p.stdout.decode()
    assert f"Deleted Containers:\n{keep}\n" in out and "Total reclaimed space:" in out
    assert daemon.api.call("GET", "/containers/bc-keep/json")[0] == 404
    assert b"busybox" in berth("images").stdout
