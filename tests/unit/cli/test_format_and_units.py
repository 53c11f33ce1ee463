"""Tables, sizes, durations and the ps/images row contexts."""

from __future__ import annotations

import pytest

from berth.cli.commands import images as images_cmd
from berth.cli.commands import ps as ps_cmd
from berth.cli.formatting import render
from berth.cli.table import tabwrite
from berth.cli.units import (
    human_duration,
    human_size,
    parse_go_duration,
    ram_in_bytes,
    since,
    timestamp_arg,
)


def test_tabwriter_matches_docker_padding() -> None:
    text = "CONTAINER ID\tIMAGE\tNAMES\nabc\tbusybox\tx\n"
    assert tabwrite(text) == "CONTAINER ID   IMAGE     NAMES\nabc            busybox   x\n"


def test_tabwriter_blocks_are_per_column() -> None:
    assert tabwrite("a\tb\nxx\nlongcell\tc\n") == "a         b\nxx\nlongcell   c\n"


@pytest.mark.parametrize(
    "n, prec, want",
    [
        (0, 3, "0B"),
        (999, 3, "999B"),
        (2_100_000, 4, "2.1MB"),
        (4_264_000, 3, "4.26MB"),
        (1000, 3, "1kB"),
        (1_500_000_000, 3, "1.5GB"),
    ],
)
def test_human_size(n: int, prec: int, want: str) -> None:
    assert human_size(n, prec) == want


@pytest.mark.parametrize(
    "secs, want",
    [
        (0.5, "Less than a second"),
        (1, "1 second"),
        (3, "3 seconds"),
        (61, "About a minute"),
        (150, "2 minutes"),
        (3600, "About an hour"),
        (7200, "2 hours"),
        (3 * 86400, "3 days"),
        (20 * 86400, "2 weeks"),
        (100 * 86400, "3 months"),
        (800 * 86400, "2 years"),
    ],
)
def test_human_duration(secs: float, want: str) -> None:
    assert human_duration(secs) == want


def test_since() -> None:
    assert since(100.0, now=220.0) == "2 minutes ago"


@pytest.mark.parametrize(
    "text, want",
    [
        ("512m", 512 << 20),
        ("1g", 1 << 30),
        ("100kb", 102400),
        ("1024", 1024),
        ("1.5g", int(1.5 * (1 << 30))),
        ("2MiB", 2 << 20),
    ],
)
def test_ram_in_bytes(text: str, want: int) -> None:
    assert ram_in_bytes(text) == want


def test_ram_in_bytes_rejects() -> None:
    with pytest.raises(ValueError):
        ram_in_bytes("lots")


def test_durations_and_timestamps() -> None:
    assert parse_go_duration("1h30m") == 5400
    assert parse_go_duration("1.5s") == 1.5
    assert parse_go_duration("10x") is None
    assert timestamp_arg("10m", now=1000.0) == "400.000000000"
    assert timestamp_arg("1700000000") == "1700000000"
    assert timestamp_arg("2023-11-14T22:13:20Z") == "1700000000.000000000"
    with pytest.raises(ValueError):
        timestamp_arg("yesterday")


CONTAINER = {
    "Id": "f" * 64,
    "Names": ["/web"],
    "Image": "busybox",
    "Command": "sh -c 'echo out; echo err >&2; exit 3'",
    "Created": 1000,
    "State": "exited",
    "Status": "Exited (3) 2 minutes ago",
    "Ports": [{"PrivatePort": 80, "PublicPort": 8080, "IP": "0.0.0.0", "Type": "tcp"}],
    "Labels": {"b": "2", "a": "1"},
}


def test_ps_row_fields() -> None:
    row = ps_cmd.row(CONTAINER, trunc=True, now=1125)
    assert row["ID"] == "f" * 12
    assert row["Command"] == '"sh -c \'echo out; ec…"'
    assert row["RunningFor"] == "2 minutes ago"
    assert row["Names"] == "web"
    assert row["Ports"] == "0.0.0.0:8080->80/tcp"
    assert row["Labels"] == "a=1,b=2"
    assert row["Label"]("b") == "2"
    assert row["Size"] == "0B"
    full = ps_cmd.row(CONTAINER, trunc=False, now=1125)
    assert full["ID"] == "f" * 64 and full["Command"].startswith('"sh -c')


def test_ps_default_table_and_custom_table() -> None:
    rows = [ps_cmd.row(CONTAINER, True, 1125)]
    out = render("", rows, ps_cmd.HEADERS, ps_cmd.DEFAULT_TABLE)
    head, line = out.splitlines()
    assert head.split("   ")[0] == "CONTAINER ID"
    for word in ("IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"):
        assert word in head
    assert line.startswith("ffffffffffff   busybox   ")
    custom = render('table {{.Names}}\\t{{.Label "a"}}', rows, ps_cmd.HEADERS, "")
    assert custom == "NAMES     LABEL\nweb       1\n"
    assert render("{{.Names}}:{{.State}}", rows, ps_cmd.HEADERS, "") == "web:exited\n"
    assert render("json", rows, ps_cmd.HEADERS, "").startswith('{"Command":')


def test_image_rows_one_per_tag() -> None:
    img = {
        "Id": "sha256:" + "a" * 64,
        "Created": 0,
        "Size": 1_980_000,
        "RepoTags": ["busybox:latest", "reg:5000/bb:1"],
        "RepoDigests": [],
    }
    rows = images_cmd._rows(img, True, now=120)
    assert [(r["Repository"], r["Tag"]) for r in rows] == [
        ("busybox", "latest"),
        ("reg:5000/bb", "1"),
    ]
    assert rows[0]["ID"] == "a" * 12 and rows[0]["Size"] == "1.98MB"
    dangling = images_cmd._rows({**img, "RepoTags": []}, True, now=120)
    assert [(r["Repository"], r["Tag"]) for r in dangling] == [("<none>", "<none>")]
