"""berth images/tag/rmi/inspect/save/load/import against a real berthd."""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.cli.conftest import BerthRun

pytestmark = pytest.mark.integration


@pytest.fixture
def tmpdir_short() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="bt-", dir="/tmp"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_images_table_and_quiet(berth: BerthRun, docker) -> None:  # type: ignore[no-untyped-def]
    p = berth("images")
    lines = p.stdout.decode().splitlines()
    assert lines[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert any(line.startswith("busybox ") and " latest " in line for line in lines)
    assert berth("images", "-q", "busybox").stdout == docker("images", "-q", "busybox").stdout
    fmt = "{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}"
    assert berth("images", "--format", fmt).stdout == docker("images", "--format", fmt).stdout


def test_tag_inspect_rmi(berth: BerthRun) -> None:
    assert berth("tag", "busybox", "bt/test:v1").returncode == 0
    try:
        ids = berth("image", "inspect", "-f", "{{.Id}}", "busybox", "bt/test:v1").stdout.split()
        assert len(ids) == 2 and ids[0] == ids[1] and ids[0].startswith(b"sha256:")
        tags = json.loads(berth("image", "inspect", "bt/test:v1").stdout)[0]["RepoTags"]
        assert "bt/test:v1" in tags
    finally:
        p = berth("rmi", "bt/test:v1")
    assert p.stdout == b"Untagged: bt/test:v1\n"
    p = berth("rmi", "bt/test:v1")
    assert p.returncode == 1 and b"No such image" in p.stderr


def test_save_load_round_trip(berth: BerthRun, tmpdir_short: Path) -> None:
    tar = tmpdir_short / "bb.tar"
    assert berth("save", "-o", str(tar), "busybox").returncode == 0
    with tarfile.open(tar) as tf:
        assert "manifest.json" in tf.getnames()
    p = berth("load", "-i", str(tar))
    assert p.returncode == 0, p.stderr
    assert b"Loaded image: busybox:latest" in p.stdout
    p = berth("load", "-q", input=tar.read_bytes())
    assert p.returncode == 0 and b"Loaded image: busybox:latest" in p.stdout
    streamed = berth("save", "busybox")
    assert streamed.returncode == 0 and streamed.stdout[:512] != b""
    assert not list(tmpdir_short.glob(".*tmp"))


def test_import_with_changes(berth: BerthRun, tmpdir_short: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("hello.txt")
        data = b"imported\n"
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    src = tmpdir_short / "rootfs.tar"
    src.write_bytes(buf.getvalue())
    p = berth("import", "-c", "ENV FOO=bar", "-m", "hi", str(src), "bt/imported:1")
    try:
        assert p.returncode == 0, p.stderr
        assert p.stdout.startswith(b"sha256:")
        env = berth("image", "inspect", "-f", "{{json .Config.Env}}", "bt/imported:1").stdout
        assert b"FOO=bar" in env
        p2 = berth("import", "-", "bt/imported:2", input=buf.getvalue())
        assert p2.returncode == 0, p2.stderr
    finally:
        berth("rmi", "bt/imported:1", "bt/imported:2")


def test_missing_image_tries_pull(berth: BerthRun) -> None:
    # A loopback registry that is not there: no test may reach past this machine.
    p = berth("run", "--rm", "127.0.0.1:9/bt-no-such-image")
    assert p.returncode == 125
    err = p.stderr.decode()
    assert "Unable to find image '127.0.0.1:9/bt-no-such-image:latest' locally" in err
    assert err.strip().splitlines()[-1].startswith("berth: ")
    assert "Traceback" not in err


def test_load_from_empty_file(berth: BerthRun, tmpdir_short: Path) -> None:
    empty = tmpdir_short / "empty.tar"
    empty.write_bytes(b"")
    p = berth("load", "-i", str(empty))
    assert p.returncode != 0 and "Traceback" not in p.stderr.decode()
    assert os.path.exists(empty)
