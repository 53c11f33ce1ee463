"""berthd's own log: --debug has a line per request (method, path, status, duration);
--log-format json writes one JSON object per line, as dockerd does."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.compat.daemon._util import ok, wait_for
from tests.conftest import docker_for, needs_root, own_daemon

pytestmark = [pytest.mark.compat, needs_root]

_REQUEST = re.compile(r"GET /v[\d.]+/info 200 [\d.]+ms")


def test_debug_logs_every_request(busybox_tar: Path) -> None:
    with own_daemon(None, ["--debug"]) as d:
        ok(docker_for(d)("info"))
        wait_for(lambda: _REQUEST.search(d.log.read_text()), "the request's log line")
        r = docker_for(d)("inspect", "nothing-here")
        assert r.returncode != 0
        wait_for(
            lambda: re.search(r"GET /v[\d.]+/containers/nothing-here/json 404 ", d.log.read_text()),
            "the 404's log line",
        )


def test_no_request_lines_without_debug(busybox_tar: Path) -> None:
    with own_daemon(None) as d:
        ok(docker_for(d)("info"))
        ok(docker_for(d)("version"))
        assert not _REQUEST.search(d.log.read_text())


def test_json_log_format(busybox_tar: Path) -> None:
    with own_daemon(None, ["--log-format", "json", "--debug"]) as d:
        ok(docker_for(d)("info"))
        wait_for(lambda: "/info 200" in d.log.read_text(), "the request's log line")
        records = [json.loads(ln) for ln in d.log.read_text().splitlines() if ln.strip()]
        assert records
        for rec in records:
            assert rec["level"] in ("debug", "info", "warning", "error", "fatal")
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", rec["time"])
            assert isinstance(rec["msg"], str)
        assert any(rec["msg"].startswith("berthd ") and "started" in rec["msg"] for rec in records)


def test_log_format_in_daemon_json(busybox_tar: Path) -> None:
    with own_daemon(None, daemon_json={"log-format": "json"}) as d:
        lines = [ln for ln in d.log.read_text().splitlines() if ln.strip()]
        assert lines and all(json.loads(ln)["msg"] for ln in lines)
