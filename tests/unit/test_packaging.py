"""Packaging: `pip install berth` is the client, `berth[daemon]` adds berthd's
dependencies, `berth[test]` pulls in both; the wheel carries the readme, the license and
contrib/'s service files; and the client never imports a daemon dependency."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
# distribution -> the module berthd imports from it
DAEMON_DEPS = {
    "zstandard": "zstandard",
    "isal": "isal",
    "pyroute2": "pyroute2",
    "httptools": "httptools",
    "pyyaml": "yaml",
    "prometheus-client": "prometheus_client",
}


def _names(reqs: list[str]) -> set[str]:
    return {re.split(r"[\s<>=!~\[;(]", r.strip(), maxsplit=1)[0].lower() for r in reqs}


def test_the_base_install_is_the_client() -> None:
    base = _names(PROJECT["project"]["dependencies"])
    assert base == {"rich", "cryptography"}
    assert not base & set(DAEMON_DEPS)


def test_the_daemon_extra_holds_berthds_dependencies() -> None:
    extras = PROJECT["project"]["optional-dependencies"]
    assert _names(extras["daemon"]) == set(DAEMON_DEPS)


def test_the_test_extra_pulls_in_the_daemon() -> None:
    test = PROJECT["project"]["optional-dependencies"]["test"]
    assert "berth[daemon]" in test
    assert {"pytest", "docker"} <= _names(test)


def test_metadata_has_readme_and_license() -> None:
    project = PROJECT["project"]
    assert project["readme"] == "README.md"
    assert project["license"] == {"text": "Apache-2.0"}
    text = (REPO / "LICENSE").read_text()
    assert text.lstrip().startswith("Apache License")
    assert "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_contrib_files_are_installed() -> None:
    data = PROJECT["tool"]["setuptools"]["data-files"]
    listed = {f for files in data.values() for f in files}
    on_disk = {str(p.relative_to(REPO)) for p in (REPO / "contrib").rglob("*") if p.is_file()}
    assert listed == on_disk


def test_entry_points() -> None:
    assert PROJECT["project"]["scripts"] == {
        "berth": "berth.cli.main:main",
        "berthd": "berth.daemon.main:main",
    }


def test_the_client_imports_no_daemon_dependency() -> None:
    """Every CLI command module and the client library, imported: none of berthd's
    dependencies (nor the daemon's own packages) is loaded."""
    code = """
import importlib, json, pkgutil, sys
import berth.cli.commands, berth.client
for pkg in (berth.cli.commands, berth.client):
    for m in pkgutil.iter_modules(pkg.__path__):
        importlib.import_module(pkg.__name__ + "." + m.name)
import berth.cli.main, berth.cli.formatting, berth.cli.gotemplate
print(json.dumps(sorted(sys.modules)))
"""
    p = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert p.returncode == 0, p.stderr
    loaded = set(json.loads(p.stdout))
    assert "berth.cli.commands.run" in loaded  # the walk did import the commands
    top = {m.split(".")[0] for m in loaded}
    assert not top & set(DAEMON_DEPS.values())
    daemon_side = ("berth.engine", "berth.api", "berth.daemon", "berth.runtime")
    assert not [m for m in loaded if m.startswith(daemon_side)]
