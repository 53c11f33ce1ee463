"""berth's own client: the --health-* flags become the create body's Healthcheck, and the
daemon runs the probe."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from tests.conftest import Daemon


def _berth(daemon: Daemon, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "berth.cli.main", *args],
        env=daemon.env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_berth_health_flags(daemon: Daemon) -> None:
    try:
        p = _berth(
            daemon, "run", "-d", "--name", "bh-1", "--health-cmd", "exit 0",
            "--health-interval", "200ms", "--health-retries", "4", "--health-timeout", "2s",
            "busybox", "sleep", "30",
        )  # fmt: skip
        assert p.returncode == 0, p.stderr
        st, body = daemon.api.call("GET", "/containers/bh-1/json")
        assert st == 200
        hc = body["Config"]["Healthcheck"]
        assert hc["Test"] == ["CMD-SHELL", "exit 0"]
        assert hc["Interval"] == 200_000_000 and hc["Timeout"] == 2_000_000_000
        assert hc["Retries"] == 4
        end = time.monotonic() + 10
        while time.monotonic() < end and body["State"]["Health"]["Status"] != "healthy":
            time.sleep(0.1)
            _, body = daemon.api.call("GET", "/containers/bh-1/json")
        assert body["State"]["Health"]["Status"] == "healthy", json.dumps(body["State"])
        p = _berth(daemon, "run", "--no-healthcheck", "--health-cmd", "true", "busybox", "true")
        assert p.returncode == 125
        assert "--no-healthcheck conflicts with --health-* options" in p.stderr
        p = _berth(daemon, "run", "--health-interval", "-1s", "busybox", "true")
        assert p.returncode == 125 and "--health-interval cannot be negative" in p.stderr
        p = _berth(daemon, "create", "--name", "bh-2", "--no-healthcheck", "busybox")
        assert p.returncode == 0, p.stderr
        _, body = daemon.api.call("GET", "/containers/bh-2/json")
        assert body["Config"]["Healthcheck"] == {"Test": ["NONE"]}
        assert "Health" not in body["State"]
    finally:
        daemon.remove_all_containers()
