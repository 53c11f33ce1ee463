"""The house rules of berth/ hold (scripts/house: module and function size, import circles
under TYPE_CHECKING too, no API handler typed Any), and the checker sees each kind of
breach in a tree made to break them."""

from __future__ import annotations

import importlib.machinery
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "house"


def _house() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("berth_house", str(SCRIPT))
    spec = importlib.util.spec_from_loader("berth_house", loader)
    assert spec is not None
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def test_berth_keeps_the_house_rules() -> None:
    assert _house().report() == []


def _write(root: Path, rel: str, text: str) -> None:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)


@pytest.fixture
def broken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    house = _house()
    monkeypatch.setattr(house, "ROOT", tmp_path)
    body = "".join(f"    x{i} = {i}\n" for i in range(70))
    _write(tmp_path, "berth/__init__.py", "")
    _write(tmp_path, "berth/big.py", "X = 1\n" * 501)
    _write(tmp_path, "berth/fn.py", f"def long():\n{body}")
    _write(tmp_path, "berth/excused.py", f"# Long: one table\ndef table():\n{body}")
    _write(tmp_path, "berth/a.py", "from berth import b\n")
    _write(
        tmp_path,
        "berth/b.py",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from berth.a import X\n",
    )
    _write(tmp_path, "berth/api/__init__.py", "")
    _write(tmp_path, "berth/api/routes/__init__.py", "")
    _write(
        tmp_path,
        "berth/api/routes/things.py",
        "from typing import Any\nasync def get(req: Any, eng: Any) -> None: ...\n",
    )
    return house


def test_the_checker_sees_every_kind_of_breach(broken: ModuleType) -> None:
    found = broken.report()
    assert "berth/big.py: 501 lines (> 500)" in found
    assert any(f.startswith("berth/fn.py:1: long is 71 lines") for f in found)
    assert not any("excused" in f for f in found)
    assert "import circle: berth.a <-> berth.b" in found
    assert "berth/api/routes/things.py:2: handler get types its backend Any" in found
    assert len(found) == 4
