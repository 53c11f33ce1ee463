"""Fixtures for the escape battery: small static C programs that play the hostile
container (built here from the sources in c/, so the tests need no image of their own)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

C_DIR = Path(__file__).resolve().parent / "c"


@pytest.fixture(scope="session")
def static_binary() -> Iterator[Callable[[str], Path]]:
    """static_binary("swap") compiles c/swap.c with `cc -static` once per session and
    returns the binary's path, to bind-mount read-only into a busybox container."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler: .ci/run installs gcc and libc6-dev")
    out = Path(tempfile.mkdtemp(prefix="bt-cbin-", dir="/tmp"))
    built: dict[str, Path] = {}

    def build(name: str) -> Path:
        if name not in built:
            exe = out / name
            r = subprocess.run(
                [cc, "-static", "-O2", "-Wall", "-o", str(exe), str(C_DIR / f"{name}.c")],
                capture_output=True,
                text=True,
            )
            assert r.returncode == 0, f"building {name}.c failed:\n{r.stderr}"
            built[name] = exe
        return built[name]

    yield build
    shutil.rmtree(out, ignore_errors=True)
