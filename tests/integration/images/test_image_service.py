"""ImageService on a real temp root: load, get, save, import, tag, remove."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from berth.engine.db import Database
from berth.engine.errors import Conflict, InvalidParameter, NotFound
from berth.engine.images.service import ImageService

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: layer ownership")


@pytest.fixture
def root() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="bt-", dir="/tmp"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def svc(root: Path) -> Iterator[ImageService]:
    db = Database(root / "berth.db")
    try:
        yield ImageService(db, root / "image")
    finally:
        db.close()


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(data), 65536):
        yield data[i : i + 65536]


def load(svc: ImageService, data: bytes, quiet: bool = True) -> list[dict]:
    async def run() -> list[dict]:
        return [m async for m in svc.load(_chunks(data), quiet=quiet)]

    return asyncio.run(run())


def save(svc: ImageService, refs: list[str]) -> bytes:
    async def run() -> bytes:
        return b"".join([c async for c in svc.save(refs)])

    return asyncio.run(run())


def import_(svc: ImageService, data: bytes, **kw: object) -> object:
    args: dict = {"repo": None, "tag": None, "changes": [], "message": "", "platform": None}
    args.update(kw)
    return asyncio.run(svc.import_rootfs(_chunks(data), **args))


def tar_bytes(files: dict[str, bytes | tarfile.TarInfo]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, v in files.items():
            if isinstance(v, tarfile.TarInfo):
                tf.addfile(v)
            else:
                ti = tarfile.TarInfo(name)
                ti.size = len(v)
                ti.mode = 0o755
                tf.addfile(ti, io.BytesIO(v))
    return buf.getvalue()


def archive(
    layers: list[bytes], tags: list[str], *, diff_ids: list[str] | None = None, tag: str = ""
) -> bytes:
    """A legacy docker-archive; layers may be compressed, diff_ids are of the raw tars."""
    if diff_ids is None:
        diff_ids = ["sha256:" + hashlib.sha256(x).hexdigest() for x in layers]
    cfg = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "created": "2024-02-02T00:00:00Z",
            "config": {"Cmd": ["sh"], "Labels": {"t": tag}},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
    ).encode()
    cfg_hex = hashlib.sha256(cfg).hexdigest()
    files: dict[str, bytes | tarfile.TarInfo] = {f"{cfg_hex}.json": cfg}
    names = []
    for i, layer in enumerate(layers):
        files[f"l{i}/layer.tar"] = layer
        names.append(f"l{i}/layer.tar")
    files["manifest.json"] = json.dumps(
        [{"Config": f"{cfg_hex}.json", "RepoTags": tags, "Layers": names}]
    ).encode()
    return tar_bytes(files)


def snapshot(root: Path) -> tuple[list[str], list[tuple]]:
    files = sorted(str(p.relative_to(root)) for p in (root / "image").rglob("*"))
    con = sqlite3.connect(root / "berth.db")
    try:
        rows = []
        for t in ("images", "image_refs", "image_layers", "image_layer_store"):
            rows += [(t, *r) for r in con.execute(f"SELECT * FROM {t}")]
    finally:
        con.close()
    return [f for f in files if not f.startswith("image/tmp/")], sorted(rows, key=repr)


# ---- load / get -------------------------------------------------------------
def test_load_busybox_and_get(svc: ImageService, busybox_tar: Path) -> None:
    msgs = load(svc, busybox_tar.read_bytes(), quiet=False)
    assert msgs[-1] == {"stream": "Loaded image: busybox:latest\n"}
    assert any(m.get("status") == "Loading layer" for m in msgs)
    img = svc.get("busybox")
    assert img.repo_tags == ["busybox:latest"]
    assert img.config.cmd == ["sh"] and img.config.env[0].startswith("PATH=")
    hx = img.id.split(":")[1]
    for ref in (
        "busybox:latest",
        "docker.io/library/busybox:latest",
        img.id,
        hx,
        hx[:12],
        hx[:4],
        "sha256:" + hx[:10],
    ):
        assert svc.get(ref).id == img.id, ref
    with pytest.raises(NotFound, match=r"^No such image: nosuch:latest$"):
        svc.get("nosuch")
    with pytest.raises(NotFound, match="No such image: busybox:other"):
        svc.get("busybox:other")
    with pytest.raises(InvalidParameter, match="invalid reference format"):
        svc.get("bad name")
    [layer] = svc.layer_dirs(img)
    bb = Path(layer) / "bin/busybox"
    assert bb.is_file() and os.access(bb, os.X_OK)
    assert os.readlink(Path(layer) / "bin/sh") == "busybox"
    assert (Path(layer) / "tmp").stat().st_mode & 0o7777 == 0o1777
    assert img.size > 1_000_000


def test_loading_twice_is_idempotent_and_moves_tags(svc: ImageService, busybox_tar: Path) -> None:
    load(svc, busybox_tar.read_bytes())
    load(svc, busybox_tar.read_bytes())
    assert len(svc.list()) == 1
    layer = tar_bytes({"x": b"1"})
    msgs = load(svc, archive([layer], ["busybox:latest"]))
    assert "renaming the old one" in msgs[0]["stream"]
    assert len(svc.list(filters={"dangling": ["true"]})) == 1


def test_save_load_round_trip_keeps_id(svc: ImageService, busybox_tar: Path, root: Path) -> None:
    load(svc, busybox_tar.read_bytes())
    svc.tag("busybox", "127.0.0.1:5000/bb", "v1")
    img = svc.get("busybox")
    data = save(svc, ["busybox", "127.0.0.1:5000/bb:v1"])
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        names = tf.getnames()
        manifest = json.load(tf.extractfile("manifest.json"))  # type: ignore[arg-type]
        index = json.load(tf.extractfile("index.json"))  # type: ignore[arg-type]
        layer_blob = tf.extractfile(manifest[0]["Layers"][0]).read()  # type: ignore[union-attr]
    assert {"index.json", "manifest.json", "oci-layout", "repositories"} <= set(names)
    assert sorted(manifest[0]["RepoTags"]) == ["127.0.0.1:5000/bb:v1", "busybox:latest"]
    assert {m["annotations"]["io.containerd.image.name"] for m in index["manifests"]} == {
        "docker.io/library/busybox:latest",
        "127.0.0.1:5000/bb:v1",
    }
    with tarfile.open(busybox_tar) as tf:
        orig = json.load(tf.extractfile("manifest.json"))  # type: ignore[arg-type]
        original_layer = tf.extractfile(orig[0]["Layers"][0]).read()  # type: ignore[union-attr]
    assert layer_blob == original_layer, "the saved layer is the loaded blob, byte for byte"
    assert save(svc, ["busybox"]) == save(svc, ["busybox"]), "save is deterministic"

    other = root / "other"
    db2 = Database(other / "berth.db")
    try:
        svc2 = ImageService(db2, other / "image")
        load(svc2, data)
        assert svc2.get("busybox").id == img.id
        assert svc2.get("127.0.0.1:5000/bb:v1").id == img.id
        # The same archive without manifest.json is a pure OCI layout: still loads.
        oci = tar_bytes(
            {n: v for n, v in _members(data).items() if n not in ("manifest.json", "repositories")}
        )
        svc2.remove(img.id, force=True, prune=True)
        assert svc2.list() == []
        msgs = load(svc2, oci)
        assert {m["stream"] for m in msgs} == {
            "Loaded image: busybox:latest\n",
            "Loaded image: 127.0.0.1:5000/bb:v1\n",
        }
        assert svc2.get("busybox").id == img.id
    finally:
        db2.close()


def _members(data: bytes) -> dict[str, bytes | tarfile.TarInfo]:
    out: dict[str, bytes | tarfile.TarInfo] = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        for ti in tf.getmembers():
            f = tf.extractfile(ti)
            out[ti.name] = f.read() if f else ti
    return out


def test_save_by_id_is_untagged_and_unknown_fails_first(
    svc: ImageService, busybox_tar: Path
) -> None:
    load(svc, busybox_tar.read_bytes())
    img = svc.get("busybox")
    data = save(svc, [img.id[7:19]])
    manifest = json.loads(_members(data)["manifest.json"])  # type: ignore[arg-type]
    assert manifest[0]["RepoTags"] is None
    with pytest.raises(NotFound, match="No such image: nosuch:latest"):
        save(svc, ["busybox", "nosuch"])


def test_compressed_archive_and_layers(svc: ImageService) -> None:
    raw = tar_bytes({"hello": b"world"})
    diff_id = "sha256:" + hashlib.sha256(raw).hexdigest()
    data = archive([gzip.compress(raw)], ["gz:1"], diff_ids=[diff_id])
    load(svc, gzip.compress(data))
    img = svc.get("gz:1")
    assert (Path(svc.layer_dirs(img)[0]) / "hello").read_bytes() == b"world"
    assert img.diff_ids == [diff_id]


def test_shared_layer_is_stored_once(svc: ImageService, root: Path) -> None:
    base = tar_bytes({"base": b"b"})
    top = tar_bytes({"top": b"t"})
    load(svc, archive([base], ["one:1"], tag="1"))
    load(svc, archive([base, top], ["two:1"], tag="2"))
    assert len(list((root / "image/layers").iterdir())) == 2
    one, two = svc.get("one:1"), svc.get("two:1")
    assert svc.layer_dirs(one)[0] == svc.layer_dirs(two)[0]
    svc.remove("one:1", force=False, prune=True)
    assert Path(svc.layer_dirs(two)[0]).is_dir(), "still used by two:1"
    recs = svc.remove("two:1", force=False, prune=True)
    assert recs[0] == {"Untagged": "two:1"} and recs[1] == {"Deleted": two.id}
    assert len(recs) == 4  # both layers went with the last image
    assert list((root / "image/layers").iterdir()) == []
    assert [p for p in (root / "image/blobs/sha256").iterdir()] == []


# ---- failures leave the store unchanged ---------------------------------------
def _hostile_layer() -> bytes:
    ti = tarfile.TarInfo("../../escape")
    ti.size = 1
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        tf.addfile(tarfile.TarInfo("fine"), io.BytesIO(b""))
        tf.addfile(ti, io.BytesIO(b"x"))
    return buf.getvalue()


@pytest.mark.parametrize(
    "case", ["hostile-layer", "diff-id-mismatch", "not-a-tar", "no-manifest", "missing-layer"]
)
def test_bad_archive_leaves_store_unchanged(
    svc: ImageService, busybox_tar: Path, root: Path, case: str
) -> None:
    load(svc, busybox_tar.read_bytes())
    before = snapshot(root)
    good = tar_bytes({"ok": b"1"})
    data = {
        "hostile-layer": archive([good, _hostile_layer()], ["evil:1"]),
        "diff-id-mismatch": archive([good], ["evil:1"], diff_ids=["sha256:" + "0" * 64]),
        "not-a-tar": os.urandom(4096),
        "no-manifest": tar_bytes({"hello": b"x"}),
        "missing-layer": archive([good], ["evil:1"]).replace(b"l0/layer.tar", b"zz/layer.tar"),
    }[case]
    with pytest.raises(InvalidParameter):
        load(svc, data)
    assert snapshot(root) == before
    assert list((root / "image/tmp").iterdir()) == []
    assert not (root / "escape").exists() and not (root / "image/escape").exists()


def test_error_after_progress_is_streamed(svc: ImageService) -> None:
    good = tar_bytes({"ok": b"1"})
    msgs = load(svc, archive([good, _hostile_layer()], ["evil:1"]), quiet=False)
    assert msgs[0]["status"] == "Loading layer"
    assert "refusing" in msgs[-1]["error"] and msgs[-1]["errorDetail"]["message"]
    assert svc.list() == []


def test_repair_drops_crash_leftovers(svc: ImageService, busybox_tar: Path, root: Path) -> None:
    load(svc, busybox_tar.read_bytes())
    (root / "image/layers" / ("f" * 64)).mkdir()
    (root / "image/blobs/sha256" / ("e" * 64)).write_bytes(b"x")
    (root / "image/tmp/load-x").mkdir()
    before = snapshot(root)
    db = Database(root / "berth.db")
    try:
        svc2 = ImageService(db, root / "image")
        after = snapshot(root)
        assert ("image/layers/" + "f" * 64) not in after[0]
        assert ("image/blobs/sha256/" + "e" * 64) not in after[0]
        assert not (root / "image/tmp/load-x").exists()
        assert len(after[0]) == len(before[0]) - 2
        assert svc2.get("busybox").id
    finally:
        db.close()


# ---- import -------------------------------------------------------------------
def test_import_rootfs(svc: ImageService) -> None:
    d = tarfile.TarInfo("etc")
    d.type = tarfile.DIRTYPE
    d.mode = 0o755
    rootfs = gzip.compress(tar_bytes({"etc": d, "etc/hostname": b"imported\n"}))
    img = import_(
        svc,
        rootfs,
        repo="imp",
        tag="v1",
        changes=['CMD ["/bin/sh"]', "ENV A=1", "EXPOSE 80", "WORKDIR /srv"],
        message="hello",
    )
    got = svc.get("imp:v1")
    assert got.id == img.id  # type: ignore[attr-defined]
    assert got.config.cmd == ["/bin/sh"] and got.config.env == ["A=1"]
    assert got.config.exposed_ports == {"80/tcp": {}} and got.config.working_dir == "/srv"
    assert got.raw_config["comment"] == "hello" and got.os == "linux"
    assert (Path(svc.layer_dirs(got)[0]) / "etc/hostname").read_bytes() == b"imported\n"
    with pytest.raises(InvalidParameter, match="RUN is not a valid change command"):
        import_(svc, rootfs, changes=["RUN true"])
    untagged = import_(svc, rootfs)
    assert untagged.repo_tags == []  # type: ignore[attr-defined]
    assert untagged.raw_config["comment"] == "Imported from -"  # type: ignore[attr-defined]


# ---- tag / remove ---------------------------------------------------------------
def test_tag_and_remove_rules(svc: ImageService, busybox_tar: Path) -> None:
    load(svc, busybox_tar.read_bytes())
    img = svc.get("busybox")
    short = img.id[7:19]
    svc.tag("busybox", "127.0.0.1:5000/busybox", None)
    svc.tag(short, "mine", "1")
    assert svc.get("busybox").repo_tags == [
        "127.0.0.1:5000/busybox:latest",
        "busybox:latest",
        "mine:1",
    ]
    assert svc.get("mine:1").last_tag_time
    with pytest.raises(InvalidParameter, match="refusing to create a tag with a digest"):
        svc.tag("busybox", "x@sha256:" + "a" * 64, None)
    with pytest.raises(Conflict) as ei:
        svc.remove(short, force=False, prune=True)
    assert ei.value.message == (
        f"conflict: unable to delete {short} (must be forced) - "
        "image is referenced in multiple repositories"
    )
    assert svc.remove("mine:1", force=False, prune=True) == [{"Untagged": "mine:1"}]

    users: list[str] = ["c" * 64]
    running: list[str] = []
    # the same store, as the engine makes the service: with the containers using an image
    svc = ImageService(
        svc.store.db, svc.store.root, usage=lambda _id: users, running=lambda _id: running
    )
    svc.remove("127.0.0.1:5000/busybox", force=False, prune=True)
    with pytest.raises(Conflict) as ei:
        svc.remove("busybox", force=False, prune=True)
    assert ei.value.message == (
        f'conflict: unable to remove repository reference "busybox" (must force) - '
        f"container {'c' * 12} is using its referenced image {short}"
    )
    with pytest.raises(Conflict) as ei:
        svc.remove(img.id, force=False, prune=True)
    assert "(must be forced) - image is being used by stopped container cccccccccccc" in str(
        ei.value
    )
    running.append("c" * 64)
    with pytest.raises(Conflict) as ei:
        svc.remove(img.id, force=True, prune=True)
    assert "(cannot be forced) - image is being used by running container cccccccccccc" in str(
        ei.value
    )
    # Forced untag of the last name while a running container uses it: only untagged.
    assert svc.remove("busybox", force=True, prune=True) == [{"Untagged": "busybox:latest"}]
    assert svc.get(short).repo_tags == []
    running.clear()
    recs = svc.remove(short, force=True, prune=True)
    assert recs[0] == {"Deleted": img.id}
    with pytest.raises(NotFound):
        svc.get(short)
