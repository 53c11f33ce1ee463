"""The volume service on a real SQLite file and data directory (no daemon)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from berth.engine.db import Database
from berth.engine.errors import Conflict, InvalidParameter, NotFound
from berth.engine.volumes import local
from berth.engine.volumes.model import ANONYMOUS_LABEL
from berth.engine.volumes.service import VolumeService


@pytest.fixture
def svc(tmp_path: Path) -> VolumeService:
    return VolumeService(Database(tmp_path / "berth.db"), tmp_path / "volumes")


def test_create_is_idempotent_and_persists(tmp_path: Path, svc: VolumeService) -> None:
    v, new = svc.create("data", "", None, {"a": "b"})
    assert new and os.path.isdir(v.mountpoint) and v.mountpoint.endswith("/volumes/data/_data")
    again, new2 = svc.create("data", "local", None, {"other": "x"})
    assert not new2 and again.labels == {"a": "b"}
    reopened = VolumeService(Database(tmp_path / "berth.db"), tmp_path / "volumes")
    assert reopened.get("data").to_api() == v.to_api()


@pytest.mark.parametrize("name", ["x/y", "..", "-lead", "a b"])
def test_bad_names_change_nothing(name: str, svc: VolumeService) -> None:
    with pytest.raises(InvalidParameter) as ei:
        svc.create(name)
    assert f'"{name}" includes invalid characters for a local volume name' in ei.value.message
    assert svc.list() == [] and os.listdir(svc.driver.root) == []


def test_options_and_driver_checked(svc: VolumeService) -> None:
    with pytest.raises(InvalidParameter, match='invalid option: "foo"'):
        svc.create("v1", opts={"foo": "bar"})
    with pytest.raises(InvalidParameter, match='missing required option: "device"'):
        svc.create("v1", opts={"type": "tmpfs"})
    with pytest.raises(NotFound, match='plugin "nfsplug" not found'):
        svc.create("v1", driver="nfsplug")
    assert svc.list() == []


def test_anonymous_in_use_remove_and_prune(tmp_path: Path) -> None:
    users: dict[str, list[str]] = {}
    svc = VolumeService(
        Database(tmp_path / "berth.db"), tmp_path / "volumes", users=lambda n: users.get(n, [])
    )
    anon, _ = svc.create()
    assert len(anon.name) == 64 and anon.labels == {ANONYMOUS_LABEL: ""}
    named, _ = svc.create("named")
    users["named"] = ["c1"]
    with pytest.raises(Conflict, match=r"remove named: volume is in use - \[c1\]"):
        svc.remove("named")
    with pytest.raises(NotFound, match="get nope: no such volume"):
        svc.remove("nope")
    svc.remove("nope", force=True)
    assert [v.name for v in svc.list({"dangling": ["true"]})] == [anon.name]
    assert [v.name for v in svc.list({"dangling": ["0"]})] == ["named"]
    assert [v.name for v in svc.list({"name": ["^nam"]})] == ["named"]
    with pytest.raises(InvalidParameter, match="invalid filter 'bogus'"):
        svc.list({"bogus": ["1"]})
    rep = svc.prune()
    assert rep.deleted == [anon.name]
    assert svc.prune({"all": ["true"]}).deleted == []  # named is in use
    users.clear()
    assert svc.prune({"all": ["true"], "label!": ["keep"]}).deleted == ["named"]
    assert svc.list() == []


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: chown")
def test_copy_tree_keeps_owners_modes_links(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "f").write_text("x")
    os.chown(src / "sub" / "f", 65534, 65534)
    os.chmod(src / "sub" / "f", 0o640)
    os.link(src / "sub" / "f", src / "hard")
    os.symlink("sub/f", src / "link")
    os.mkfifo(src / "fifo")
    os.chown(src, 65534, 65534)
    os.chmod(src, 0o750)
    dst.mkdir()
    local.copy_tree(str(src), str(dst))
    st = os.stat(dst / "sub" / "f")
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (65534, 0o640)
    assert os.readlink(dst / "link") == "sub/f"
    assert os.stat(dst / "hard").st_ino == st.st_ino
    assert stat.S_ISFIFO(os.lstat(dst / "fifo").st_mode)
    dst_st = os.stat(dst)
    assert (dst_st.st_uid, stat.S_IMODE(dst_st.st_mode)) == (65534, 0o750)
