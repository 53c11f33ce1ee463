"""contrib/: the SysV init script starts and stops berthd; the systemd units are consistent."""

from __future__ import annotations

import configparser
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import IS_ROOT, REPO, cleanup_root

pytestmark = pytest.mark.integration


@pytest.mark.skipif(not IS_ROOT, reason="needs root: the script starts berthd")
def test_init_script_start_status_stop() -> None:
    root = Path(tempfile.mkdtemp(prefix="bt-", dir="/tmp"))
    try:
        berthd = root / "berthd"
        berthd.write_text(f'#!/bin/sh\nexec {sys.executable} -m berth.daemon.main "$@"\n')
        berthd.chmod(0o755)
        env = {
            **os.environ,
            "BERTHD": str(berthd),
            "BERTH_DEFAULTS": str(root / "none"),
            "PIDFILE": str(root / "berth.pid"),
            "SOCKET": str(root / "berth.sock"),
            "LOGFILE": str(root / "berth.log"),
            "BERTHD_OPTS": f"--data-root {root}/data --exec-root {root}/run --config-file {root}/d.json",
            "PYTHONPATH": str(REPO),
        }
        (root / "d.json").write_text("{}")
        script = str(REPO / "contrib/init.d/berth")

        def svc(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                ["sh", script, *args], env=env, capture_output=True, text=True, timeout=60
            )

        assert svc("status").returncode == 3
        r = svc("start")
        assert r.returncode == 0, (r.stdout, r.stderr, (root / "berth.log").read_text())
        assert (root / "berth.sock").exists()
        pid = int((root / "berth.pid").read_text())
        assert "running" in svc("status").stdout
        assert "already running" in svc("start").stdout
        r = subprocess.run(
            ["docker", "version", "--format", "{{.Server.APIVersion}}"],
            env={**env, "DOCKER_HOST": f"unix://{root}/berth.sock"},
            capture_output=True,
            text=True,
        )
        assert r.stdout.strip() == "1.50", r.stderr
        assert svc("stop").returncode == 0
        for _ in range(50):
            if not os.path.exists(f"/proc/{pid}"):
                break
            time.sleep(0.1)
        assert not (root / "berth.sock").exists() and not (root / "berth.pid").exists()
    finally:
        cleanup_root(root)


def test_systemd_units_agree() -> None:
    sock = configparser.ConfigParser(strict=False)
    sock.read(REPO / "contrib/systemd/berth.socket")
    assert sock["Socket"]["ListenStream"] == "/var/run/berth.sock"
    assert sock["Socket"]["SocketMode"] == "0660" and sock["Socket"]["SocketGroup"] == "berth"
    svc = configparser.ConfigParser(strict=False)
    svc.read(REPO / "contrib/systemd/berth.service")
    assert "-H fd://" in svc["Service"]["ExecStart"]
    assert "berth.socket" in svc["Unit"]["Requires"]
