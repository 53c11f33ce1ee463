"""berth cp/diff/export/commit/top/stats/pause/unpause/update/restart against a real berthd."""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import tempfile

import pytest

from tests.integration.cli.conftest import BerthRun

pytestmark = pytest.mark.integration


def ok(p: object) -> str:
    assert p.returncode == 0, p.stderr  # type: ignore[attr-defined]
    return p.stdout.decode()  # type: ignore[attr-defined, no-any-return]


def test_cp_diff_export_commit(berth: BerthRun) -> None:
    d = tempfile.mkdtemp(prefix="bt-", dir="/tmp")
    try:
        ok(berth("run", "-d", "--name", "c-ops", "busybox", "sleep", "60"))
        src = os.path.join(d, "in.txt")
        with open(src, "w") as f:
            f.write("payload\n")
        ok(berth("cp", src, "c-ops:/in.txt"))
        ok(berth("cp", "c-ops:/in.txt", os.path.join(d, "out.txt")))
        with open(os.path.join(d, "out.txt")) as f:
            assert f.read() == "payload\n"
        ok(berth("cp", "c-ops:/etc", os.path.join(d, "etc")))
        assert os.path.isfile(os.path.join(d, "etc", "passwd"))
        p = berth("cp", "c-ops:/missing", d)
        assert p.returncode == 1
        assert b"Could not find the file /missing in container c-ops" in p.stderr
        assert "A /in.txt" in ok(berth("diff", "c-ops")).splitlines()
        p = berth("export", "c-ops")
        assert p.returncode == 0
        with tarfile.open(fileobj=io.BytesIO(p.stdout)) as tf:
            assert "in.txt" in tf.getnames()
        img = ok(berth("commit", "-c", "CMD cat /in.txt", "c-ops", "c-ops-img")).strip()
        try:
            assert img.startswith("sha256:")
            assert ok(berth("run", "--rm", "c-ops-img")) == "payload\n"
        finally:
            berth("rm", "-f", "c-ops")
            berth("rmi", "c-ops-img")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_top_stats_pause_update_restart(berth: BerthRun) -> None:
    cid = ok(berth("run", "-d", "--name", "c-life", "busybox", "sleep", "60")).strip()
    lines = ok(berth("top", "c-life")).splitlines()
    assert lines[0].split()[:2] == ["UID", "PID"] and lines[1].endswith("sleep 60")
    lines = ok(berth("stats", "--no-stream", "c-life")).splitlines()
    assert lines[0].startswith("CONTAINER ID") and lines[1].startswith(cid[:12])
    assert lines[1].split()[-1] == "1"
    assert ok(berth("pause", "c-life")) == "c-life\n"
    p = berth("pause", "c-life")
    assert p.returncode == 1 and b"is already paused" in p.stderr
    assert ok(berth("unpause", "c-life")) == "c-life\n"
    assert ok(berth("update", "--cpu-shares", "256", "--pids-limit", "9", "c-life")) == "c-life\n"
    got = ok(
        berth("inspect", "-f", "{{.HostConfig.CpuShares}} {{.HostConfig.PidsLimit}}", "c-life")
    )
    assert got == "256 9\n"
    p = berth("update", "c-life")
    assert p.returncode == 125
    pid = ok(berth("inspect", "-f", "{{.State.Pid}}", "c-life"))
    assert ok(berth("restart", "-t", "0", "c-life")) == "c-life\n"
    assert ok(berth("inspect", "-f", "{{.State.Pid}}", "c-life")) != pid
