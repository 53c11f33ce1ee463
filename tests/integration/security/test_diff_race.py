"""`docker diff` and `docker commit` read the container's overlay upper dir, which the
container writes while they run: a directory exchanged with a symlink to / there
(c/swap.c) must never make them report or pack the host's files."""

from __future__ import annotations

import io
import json
import tarfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Daemon
from tests.integration.security.swaprace import docker_for, host_secret, swapper

pytestmark = pytest.mark.integration

RACE_SECONDS = 8.0


def _allowed(name: str) -> set[str]:
    """What the swapper's upper dir may show: its own files, under either name."""
    return {"w", "w/d", "w/l", f"w/d/{name}", f"w/l/{name}", name, "w/ready"}


def _escaped(paths: list[str], name: str, host_only: str) -> list[str]:
    """Paths that can only come from walking the host through the link."""
    bad = [p for p in paths if host_only in p]
    bad += [p for p in paths if p.startswith(("w/d/", "w/l/")) and p not in _allowed(name)]
    return bad


def test_diff_never_reports_host_files(
    daemon: Daemon, static_binary: Callable[[str], Path]
) -> None:
    docker = docker_for(daemon)
    seen: Counter[str] = Counter()
    escaped: list[str] = []
    errors: list[str] = []
    with (
        host_secret("bt-race-host") as (host_only, _),
        host_secret() as (name, _),
        swapper(daemon, static_binary("swap"), name) as sw,
    ):
        deadline = time.monotonic() + RACE_SECONDS
        while time.monotonic() < deadline:
            r = docker("diff", sw.cid, timeout=30)
            if r.returncode != 0:
                seen["errors"] += 1
                errors.append(r.stderr.decode()[-300:])
                continue
            paths = [ln.split(" ", 1)[1].lstrip("/") for ln in r.stdout.decode().splitlines()]
            escaped += _escaped(paths, name, host_only)
            seen.update(p for p in paths if p in (f"w/d/{name}", f"w/l/{name}"))
            seen["diffs"] += 1
    print(f"\ndocker diff during the swap: {dict(seen)}")
    assert escaped == [], f"host files reported as changes: {sorted(set(escaped))[:10]}"
    assert errors == [], errors[:3]
    # the walk met the directory under both names: the exchange raced it
    assert seen[f"w/d/{name}"] > 0 and seen[f"w/l/{name}"] > 0, dict(seen)


def _last_layer_names(daemon: Daemon, image: str) -> tuple[list[str], list[bytes]]:
    status, _, raw = daemon.api.raw("GET", f"/images/{image}/get")
    assert status == 200, raw[:200]
    with tarfile.open(fileobj=io.BytesIO(raw)) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))  # type: ignore[arg-type]
        layer = outer.extractfile(manifest[0]["Layers"][-1])
        assert layer is not None
        with tarfile.open(fileobj=io.BytesIO(layer.read())) as tf:
            names, contents = [], []
            for ti in tf:
                names.append(ti.name.rstrip("/"))
                f = tf.extractfile(ti) if ti.isreg() else None
                if f is not None:
                    contents.append(f.read())
    return names, contents


def test_commit_never_packs_host_files(
    daemon: Daemon, static_binary: Callable[[str], Path]
) -> None:
    docker = docker_for(daemon)
    seen: Counter[str] = Counter()
    escaped: list[str] = []
    leaked = 0
    with (
        host_secret("bt-race-host") as (host_only, host_content),
        host_secret() as (name, _),
        swapper(daemon, static_binary("swap"), name) as sw,
    ):
        deadline = time.monotonic() + RACE_SECONDS
        i = 0
        while time.monotonic() < deadline:
            image = f"bt-race-commit:{i}"
            # --pause=false: a paused container cannot swap, and this is about a live one
            r = docker("commit", "--pause=false", sw.cid, image, timeout=60)
            assert r.returncode == 0, r.stderr.decode()
            try:
                names, contents = _last_layer_names(daemon, image)
            finally:
                docker("rmi", "-f", image)
            escaped += _escaped(names, name, host_only)
            leaked += sum(1 for c in contents if c == host_content)
            seen.update(p for p in names if p in (f"w/d/{name}", f"w/l/{name}"))
            seen["commits"] += 1
            i += 1
    print(f"\ndocker commit during the swap: {dict(seen)}")
    assert escaped == [] and leaked == 0, f"host files packed: {sorted(set(escaped))[:10]}"
    assert seen["commits"] >= 3, dict(seen)
    assert seen[f"w/d/{name}"] + seen[f"w/l/{name}"] > 0, dict(seen)
