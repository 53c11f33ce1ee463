"""--metrics-addr: Prometheus text at /metrics, read over HTTP while the docker CLI
drives the daemon."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

import pytest

from tests.compat.daemon._util import free_port, log_has, ok, wait_for
from tests.conftest import docker_for, needs_root, own_daemon

pytestmark = [pytest.mark.compat, needs_root]


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain")
        return str(r.read().decode())


def value(text: str, series: str) -> float | None:
    """The sample of SERIES (name{labels} as exposed), None when it is not there."""
    m = re.search(rf"^{re.escape(series)} (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def test_metrics_follow_what_the_daemon_does(busybox_tar: Path) -> None:
    port = free_port()
    with own_daemon(busybox_tar, ["--metrics-addr", f"127.0.0.1:{port}"]) as d:
        docker = docker_for(d)
        before = scrape(port)
        assert value(before, 'engine_daemon_container_states_containers{state="running"}') == 0
        cid = ok(docker("run", "-d", "busybox", "sleep", "300")).strip()
        ok(docker("create", "busybox", "true"))
        text = scrape(port)
        assert value(text, 'engine_daemon_container_states_containers{state="running"}') == 1
        assert value(text, 'engine_daemon_container_states_containers{state="stopped"}') == 1
        started = (
            'berth_api_requests_total{method="POST",route="/containers/{name}/start",status="204"}'
        )
        assert value(text, started) == 1
        assert value(text, 'engine_daemon_container_actions_seconds_count{action="start"}') == 1
        # routes are their patterns, never the raw path with an id in it
        assert cid not in text and cid[:12] not in text
        # a start by the restart machinery counts as much as one by the API
        ok(docker("restart", "-t", "0", cid))
        assert wait_for(
            lambda: (value(scrape(port), "berth_container_starts_total") or 0) >= 2,
            "the second start counted",
        )
        ok(docker("ps", "-a"))
        listed = 'berth_api_requests_total{method="GET",route="/containers/json",status="200"}'
        assert (value(scrape(port), listed) or 0) >= 1
        # a missing container is a 404, labelled by its route
        assert docker("inspect", "no-such-thing").returncode != 0
        missing = (
            'berth_api_requests_total{method="GET",route="/containers/{name}/json",status="404"}'
        )
        assert (value(scrape(port), missing) or 0) >= 1
        assert value(scrape(port), "berth_image_pulls_total") == 0
        # the lag probe runs on its own
        assert wait_for(
            lambda: (value(scrape(port), "berth_event_loop_lag_seconds_count") or 0) >= 1,
            "an event-loop lag sample",
        )
        assert 'engine_daemon_engine_info{architecture="' in text


def test_metrics_addr_from_daemon_json_beyond_loopback_warns(busybox_tar: Path) -> None:
    port = free_port()
    with own_daemon(None, daemon_json={"metrics-addr": f"0.0.0.0:{port}"}) as d:
        assert "engine_daemon_container_states_containers" in scrape(port)
        assert log_has(d.log, "beyond loopback: /metrics has no authentication")()


def test_no_metrics_without_the_option(busybox_tar: Path) -> None:
    with own_daemon(None) as d:
        assert d.api.call("GET", "/_ping")[0] == 200
        assert "metrics served" not in d.log.read_text()
