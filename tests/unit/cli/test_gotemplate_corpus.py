"""berth's Go template engine against the real docker CLI: each --format of
tests/data/gotemplate-corpus.json (recorded by record_gotemplate_corpus.py with docker 28 on
a berthd) is run through the same code the berth command runs (inspect's show_each, the
formatter's render) over the stored input, and must print what docker printed (stdout, the
error on stderr, the exit status)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from berth.cli.context import StatusError

CORPUS = Path(__file__).resolve().parents[2] / "data" / "gotemplate-corpus.json"
DATA: dict[str, Any] = json.loads(CORPUS.read_text())
CASES = [(t, c) for t in DATA["targets"] for c in t["cases"]]


def _inspect(target: dict[str, Any], fmt: str) -> tuple[str, str, int]:
    from berth.cli.commands import volume
    from berth.cli.commands.inspect import show_each

    out: list[str] = []
    ctx: Any = SimpleNamespace(out=out.append, err=lambda s: None)
    go_type = volume.INSPECT_GO_TYPE if target["argv"][0] == "volume" else ""
    try:
        rc = show_each(ctx, ["x"], fmt, lambda _name: json.loads(json.dumps(target["input"])),
                       go_type)  # fmt: skip
    except StatusError as exc:
        return "".join(out), str(exc), exc.status
    return "".join(out), "", rc


def _volume_ls(target: dict[str, Any], fmt: str) -> tuple[str, str, int]:
    from berth.cli.commands.volume import DEFAULT_TABLE, HEADERS, ls_rows
    from berth.cli.formatting import render

    rows = ls_rows(target["input"])
    try:
        return (
            render(
                fmt,
                rows,
                HEADERS,
                DEFAULT_TABLE,
                "*formatter.volumeContext",
                "template parsing error",
            ),
            "",
            0,
        )
    except StatusError as exc:
        return "", str(exc), exc.status


RUN = {"inspect": _inspect, "volume-ls": _volume_ls}


def test_the_corpus_is_wide() -> None:
    assert DATA["docker"].startswith("28.")
    assert len(CASES) >= 60
    assert sum(c["rc"] != 0 for _, c in CASES) >= 10


@pytest.mark.parametrize(("target", "case"), CASES, ids=[c["format"][:50] for _, c in CASES])
def test_format_prints_what_docker_printed(target: dict[str, Any], case: dict[str, Any]) -> None:
    out, err, rc = RUN[target["kind"]](target, case["format"])
    assert (out, rc) == (case["stdout"], case["rc"])
    if case["rc"]:
        assert err == case["stderr"].strip()
