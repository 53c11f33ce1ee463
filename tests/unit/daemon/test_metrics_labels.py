"""The request counter's labels are bounded whatever a client sends: an unknown method
or path is not a series of its own."""

from __future__ import annotations

import pytest

pytest.importorskip("prometheus_client", reason="prometheus-client is berthd's (berth[daemon])")

from berth.daemon.metrics import Metrics  # noqa: E402


class _Engine:
    class containers:  # noqa: N801 - a stand-in for the engine's service
        @staticmethod
        def all() -> list[object]:
            return []


def test_hostile_methods_and_paths_share_one_series() -> None:
    m = Metrics(_Engine())
    for i in range(50):
        m.observe_request(f"M{i}", f"/x{i}", "", 404, 0.001)
    m.observe_request("GET", "/v1.50/info", "/info", 200, 0.001)
    samples = [
        s for metric in m.registry.collect() if metric.name == "berth_api_requests"
        for s in metric.samples if s.name.endswith("_total")
    ]  # fmt: skip
    labels = {(s.labels["method"], s.labels["route"]) for s in samples}
    assert labels == {("other", "unmatched"), ("GET", "/info")}, labels
