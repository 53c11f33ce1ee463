"""What `berth version` and `berth ps` import before they reach the daemon: start-up is
most of their time (the targets are 30 and 35 ms), and typing, platform, urllib.parse,
threading, json (with re) and socket (with enum, functools and collections) each cost
milliseconds that these commands do not need."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
_NOT_NEEDED = {"typing", "platform", "urllib", "urllib.parse", "threading", "ipaddress"}
# what only encoding a request body needs (ps --filter encodes its filters)
_NOT_NEEDED_TO_DECODE = {"json", "json.decoder", "re", "socket", "enum", "functools", "collections"}


@pytest.mark.parametrize(
    ("argv", "not_needed"),
    [
        (["version"], _NOT_NEEDED | _NOT_NEEDED_TO_DECODE),
        (["ps"], _NOT_NEEDED | _NOT_NEEDED_TO_DECODE),
        (["ps", "-a", "--filter", "name=x y"], _NOT_NEEDED | {"socket"}),
    ],
)
def test_a_quick_command_imports_nothing_it_does_not_use(
    argv: list[str], not_needed: set[str]
) -> None:
    code = f"""
import sys
before = set(sys.modules)
sys.argv = ["berth", "-H", "unix:///nonexistent/berth.sock", *{argv!r}]
from berth.cli.main import main
try:
    main()
except SystemExit:
    pass
print()
print(" ".join(sorted(set(sys.modules) - before)))
"""
    # -S: no site, whose .pth files (an editable install's finder) load typing and more
    # into every interpreter here; berth comes from the checkout (the cwd)
    p = subprocess.run(
        [sys.executable, "-S", "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    loaded = set(p.stdout.splitlines()[-1].split())  # what the command added
    assert "berth.client.transport" in loaded  # it did get as far as the connection
    assert "Cannot connect" in p.stderr
    assert not loaded & not_needed
