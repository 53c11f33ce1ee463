"""`berth events` lines and `berth system df` rows, from the API's JSON."""

from __future__ import annotations

import time

import pytest

from berth.cli import main as cli_main
from berth.cli.commands import system_ops


def test_pretty_event_is_dockers_layout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        ev = {
            "Type": "container",
            "Action": "die",
            "Actor": {"ID": "abc", "Attributes": {"name": "x", "exitCode": "3"}},
            "time": 1,
            "timeNano": 1_000_000_005,
        }
        assert system_ops.pretty_event(ev) == (
            "1970-01-01T00:00:01.000000005Z container die abc (exitCode=3, name=x)\n"
        )
        ev = {"Type": "image", "Action": "prune", "Actor": {"ID": ""}, "time": 2}
        assert system_ops.pretty_event(ev) == "1970-01-01T00:00:02.000000000Z image prune \n"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_df_rows_follow_the_docker_cli_arithmetic() -> None:
    du = {
        "LayersSize": 2000,
        "Images": [
            {"Containers": 1, "Size": 1500, "SharedSize": 500},
            {"Containers": 0, "Size": 1000, "SharedSize": 500},
        ],
        "Containers": [
            {"State": "running", "SizeRw": 100},
            {"State": "exited", "SizeRw": 300},
        ],
        "Volumes": [
            {"UsageData": {"Size": 50, "RefCount": 0}},
            {"UsageData": {"Size": 70, "RefCount": 2}},
            {"UsageData": {"Size": -1, "RefCount": 0}},
        ],
        "BuildCache": [],
    }
    rows = system_ops.df_rows(du)
    assert rows[0] == {
        "Type": "Images", "TotalCount": "2", "Active": "1", "Size": "2kB",
        "Reclaimable": "1kB (50%)",
    }  # fmt: skip
    assert rows[1]["Active"] == "1" and rows[1]["Reclaimable"] == "300B (75%)"
    assert rows[2]["TotalCount"] == "3" and rows[2]["Active"] == "1"
    assert rows[2]["Size"] == "120B" and rows[2]["Reclaimable"] == "50B (41%)"
    assert rows[3]["Reclaimable"] == "0B"
    empty = system_ops.df_rows({"Images": None, "Containers": None, "Volumes": None})
    assert [r["Size"] for r in empty] == ["0B"] * 4 and empty[0]["Reclaimable"] == "0B"


@pytest.mark.parametrize(
    ("words", "want"),
    [
        (["events"], ("events", [])),
        (["system", "events", "-f", "x=y"], ("events", ["-f", "x=y"])),
        (["system", "df"], ("system-df", [])),
        (["system", "prune", "-a"], ("system-prune", ["-a"])),
        (["container", "prune"], ("container-prune", [])),
        (["image", "prune", "-f"], ("image-prune", ["-f"])),
        (["system", "nope"], None),
        (["system-df"], None),
    ],
)
def test_commands_resolve(words: list[str], want: tuple | None) -> None:
    assert cli_main._resolve(words) == want
