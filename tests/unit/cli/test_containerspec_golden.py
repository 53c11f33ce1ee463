"""The create body for a wide set of run/create flags is byte for byte what containerspec.py
encoded before its split by flag group (recorded in data/containerspec-golden.json), and
every bad value fails with the same message, the first bad flag winning as before."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.unit.cli.containerspec_cases import CASES, ENV
from tests.unit.cli.record_containerspec import GOLDEN, make_files, outcome

RECORDS: list[dict[str, Any]] = json.loads(GOLDEN.read_text())


def test_golden_covers_every_case() -> None:
    assert [r["argv"] for r in RECORDS] == CASES
    assert sum("body" in r for r in RECORDS) >= 50
    assert sum("body" not in r for r in RECORDS) >= 50


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: " ".join(r["argv"])[:60])
def test_body_matches_recording(
    record: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    make_files(str(tmp_path))
    want = {k: v for k, v in record.items() if k != "argv"}
    assert outcome(record["argv"], str(tmp_path)) == want
