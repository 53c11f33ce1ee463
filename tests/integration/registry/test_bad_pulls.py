"""Pulls that must fail cleanly: a truncated blob, a layer whose content does not match
the config's diff_id, and a hostile layer. Each gives an error in the stream and leaves
the store exactly as it was (the issue's "test each")."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from tests.conftest import Daemon
from tests.integration.registry.fixtures import Registry, layer_tar, put_oci_image
from tests.integration.registry.test_registry import errors, pull, store_state


def test_truncated_blob_is_rejected_and_store_unchanged(
    own_registry: Registry, fresh_daemon: Daemon
) -> None:
    layers = [(layer_tar({"big.bin": os.urandom(1 << 20)}), True)]
    put_oci_image(own_registry, "bad/trunc", "v1", layers)
    _, _, body = own_registry.manifest("bad/trunc", "v1")
    layer = json.loads(body)["layers"][0]["digest"]
    blob = own_registry.blob_file(layer)
    blob.write_bytes(blob.read_bytes()[: blob.stat().st_size // 2])
    before = store_state(fresh_daemon)
    st, msgs = pull(fresh_daemon, f"{own_registry.host}/bad/trunc", "v1")
    assert st in (200, 500)
    errs = errors(msgs) if isinstance(msgs, list) else [str(msgs)]
    assert errs and any(layer[:19] in e or "unexpected EOF" in e or "short" in e for e in errs), (
        errs
    )
    assert store_state(fresh_daemon) == before


def test_diff_id_mismatch_is_rejected_and_store_unchanged(
    own_registry: Registry, fresh_daemon: Daemon
) -> None:
    tar = layer_tar({"a.txt": b"what the config does not describe\n"})
    put_oci_image(own_registry, "bad/diffid", "v1", [(tar, True)])
    # Rewrite the config so that its diff_id names other content, and point a manifest at it.
    _, _, body = own_registry.manifest("bad/diffid", "v1")
    man = json.loads(body)
    cfg = json.loads(own_registry.blob_file(man["config"]["digest"]).read_bytes())
    cfg["rootfs"]["diff_ids"] = ["sha256:" + hashlib.sha256(b"other").hexdigest()]
    raw = json.dumps(cfg).encode()
    man["config"] = {
        **man["config"],
        "digest": own_registry.put_blob("bad/diffid", raw),
        "size": len(raw),
    }
    own_registry.put_manifest("bad/diffid", "v2", json.dumps(man).encode(), man["mediaType"])
    before = store_state(fresh_daemon)
    st, msgs = pull(fresh_daemon, f"{own_registry.host}/bad/diffid", "v2")
    assert st in (200, 400, 500)
    errs = errors(msgs) if isinstance(msgs, list) else [str(msgs)]
    assert len(errs) == 1 and errs[0].startswith("invalid diffID for layer 0"), errs
    assert store_state(fresh_daemon) == before


def test_hostile_layer_is_refused_and_nothing_escapes(
    own_registry: Registry, fresh_daemon: Daemon
) -> None:
    marker = f"bt-escape-{os.getpid()}.txt"
    tar = layer_tar({f"../../../../../../tmp/{marker}": b"escaped\n"})
    put_oci_image(own_registry, "bad/hostile", "v1", [(tar, True)])
    before = store_state(fresh_daemon)
    st, msgs = pull(fresh_daemon, f"{own_registry.host}/bad/hostile", "v1")
    assert st in (200, 400, 500)
    errs = errors(msgs) if isinstance(msgs, list) else [str(msgs)]
    assert len(errs) == 1 and "refusing path with '..'" in errs[0], errs
    assert not Path("/tmp", marker).exists()
    assert store_state(fresh_daemon) == before
