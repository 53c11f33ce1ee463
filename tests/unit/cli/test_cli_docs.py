"""docs/cli.md is what scripts/gen-cli-docs writes from the command tables now."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from berth.cli import reference

REPO = Path(__file__).resolve().parents[3]
DOCS = REPO / "docs" / "cli.md"


def test_committed_docs_are_current() -> None:
    assert DOCS.read_text() == reference.markdown(), (
        "docs/cli.md is stale: run scripts/gen-cli-docs"
    )


def test_script_check_mode_agrees() -> None:
    r = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gen-cli-docs"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr


def test_docs_list_every_command_usage_and_flag() -> None:
    text = reference.markdown()
    for entry in reference.entries():
        section = text.split(f"\n### berth {entry.words}\n", 1)[1].split("\n### ", 1)[0]
        assert entry.command.usage.splitlines()[0] in section
        assert entry.command.summary in section
        for f in entry.command.flags:
            row = next(line for line in section.splitlines() if line.startswith(f"| `--{f.long}`"))
            assert (f"`-{f.short}`" in row) == bool(f.short)
            assert f.help.replace("|", "\\|") in row


def test_a_flag_default_and_type_are_shown() -> None:
    text = reference.markdown()
    section = text.split("\n### berth network create\n", 1)[1].split("\n### ", 1)[0]
    assert "| `--driver` | `-d` | string | `bridge` | Driver to manage the Network |" in section
    assert "| `--ipv4` |  | bool | true |" in section
