"""write_archive: one tar that is a docker-archive and an OCI layout, shared blobs written
once, padded to whole tar records."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import tarfile
from pathlib import Path

from berth.engine.images.save import SaveItem, write_archive


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _archive(items: list[SaveItem]) -> bytes:
    async def run() -> bytes:
        return b"".join([c async for c in write_archive(items)])

    return asyncio.run(run())


def test_two_images_sharing_a_layer(tmp_path: Path) -> None:
    layer = b"layer-bytes" * 100
    diff_id = _digest(layer)
    blob = tmp_path / "blob"
    blob.write_bytes(layer)
    cfg_a, cfg_b = b'{"a":1}', b'{"b":2}'
    items = [
        SaveItem(_digest(cfg_a), cfg_a, [(diff_id, blob, len(layer))], ["docker.io/library/a:1"]),
        SaveItem(_digest(cfg_b), cfg_b, [(diff_id, blob, len(layer))], []),
    ]
    data = _archive(items)
    assert len(data) % (20 * 512) == 0
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        names = tf.getnames()
        assert names.count(f"blobs/sha256/{diff_id[7:]}") == 1
        manifest = json.load(tf.extractfile("manifest.json"))  # type: ignore[arg-type]
        index = json.load(tf.extractfile("index.json"))  # type: ignore[arg-type]
        repos = json.load(tf.extractfile("repositories"))  # type: ignore[arg-type]
        layer_member = tf.extractfile(f"blobs/sha256/{diff_id[7:]}")
        assert layer_member is not None and layer_member.read() == layer
    assert manifest == [
        {
            "Config": f"blobs/sha256/{_digest(cfg_a)[7:]}",
            "RepoTags": ["a:1"],
            "Layers": [f"blobs/sha256/{diff_id[7:]}"],
        },
        {
            "Config": f"blobs/sha256/{_digest(cfg_b)[7:]}",
            "RepoTags": None,
            "Layers": [f"blobs/sha256/{diff_id[7:]}"],
        },
    ]
    assert [m.get("annotations") for m in index["manifests"]] == [
        {
            "io.containerd.image.name": "docker.io/library/a:1",
            "org.opencontainers.image.ref.name": "1",
        },
        None,
    ]
    assert repos == {"a": {"1": diff_id[7:]}}
