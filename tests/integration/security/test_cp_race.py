"""CVE-2018-15664: a container that keeps exchanging a directory with a symlink to /
must not get `docker cp` (PUT/GET /containers/{id}/archive) to write or read host files.

The container (c/swap.c) exchanges /w/d (a directory holding <name>) and /w/l (a
symlink to /) in a loop; the host has a file /<name> of its own, which the container's
/<name> shadows. A path resolved as a string and opened later by name lands on the host
when the exchange falls in between; opened relative to directory fds it cannot.
"""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Daemon
from tests.integration.security import swaprace
from tests.integration.security.swaprace import (
    docker_for,
    host_secret,
    remove_host_markers,
    swapper,
)

racing_daemon = swaprace.racing_daemon  # the fixture, by the name the test asks for

pytestmark = pytest.mark.integration

RACE_SECONDS = 20.0
INSIDE_DIR = b"inside-dir\n"
INSIDE_ROOT = b"inside-root\n"


def one_member_tar(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        ti = tarfile.TarInfo(name)
        ti.size = len(data)
        ti.mode = 0o644
        tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def read_member(raw: bytes, name: str) -> bytes | None:
    try:
        with tarfile.open(fileobj=io.BytesIO(raw)) as tf:
            f = tf.extractfile(name)
            return None if f is None else f.read()
    except (tarfile.TarError, KeyError):
        return None


def classify(content: bytes | None, secret: bytes) -> str:
    if content == secret:
        return "host"
    if content == INSIDE_DIR:
        return "in_dir"
    if content == INSIDE_ROOT:
        return "in_root"
    return "other"


def landed(upper: Path, prefix: str) -> Counter[str]:
    """Where in the container the PUT markers ended up: /w/d (now /w/d or /w/l, the
    exchange goes on), or / when the request resolved /w/d while it was the link."""
    where: Counter[str] = Counter()
    for sub, key in (("", "in_root"), ("w/d", "in_dir"), ("w/l", "in_dir")):
        d = upper / sub
        if d.is_symlink() or not d.is_dir():
            continue
        where[key] += sum(1 for n in os.listdir(d) if n.startswith(prefix))
    return where


def hammer(stop: threading.Event, step: Callable[[int], None]) -> threading.Thread:
    def loop() -> None:
        i = 0
        while not stop.is_set():
            step(i)
            i += 1

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    return t


def test_archive_never_follows_the_swap_out_of_the_root(
    racing_daemon: Daemon, static_binary: Callable[[str], Path]
) -> None:
    d = racing_daemon
    docker = docker_for(d)
    tag = uuid.uuid4().hex[:10]
    put_prefix, cp_prefix = f"bt-race-put-{tag}-", f"bt-race-cp-{tag}-"
    gets: Counter[str] = Counter()
    puts: Counter[int] = Counter()
    cps: Counter[str] = Counter()
    src_dir = tempfile.mkdtemp(prefix="bt-race-src-", dir="/tmp")
    try:
        with host_secret() as (name, secret), swapper(d, static_binary("swap"), name) as sw:
            stop = threading.Event()
            base = f"/containers/{sw.cid}/archive"

            def put(i: int) -> None:
                # a lone file, or a new directory with a file in it
                member = f"{put_prefix}{i}" if i % 2 == 0 else f"{put_prefix}{i}/f"
                status = d.api.raw("PUT", f"{base}?path=/w/d", one_member_tar(member, b"x"))[0]
                puts[status] += 1

            def get(i: int) -> None:
                status, _, raw = d.api.raw("GET", f"{base}?path=/w/d/{name}")
                gets[
                    "not_found" if status == 404 else classify(read_member(raw, name), secret)
                ] += 1

            workers = [hammer(stop, put), hammer(stop, get)]
            deadline = time.monotonic() + RACE_SECONDS
            i = 0
            while time.monotonic() < deadline:
                # the real CLI both ways: it stats, then GETs or PUTs
                r = docker("cp", f"{sw.cid}:/w/d/{name}", "-")
                cps["out_" + classify(read_member(r.stdout, name), secret)] += 1
                src = os.path.join(src_dir, f"{cp_prefix}{i}")
                with open(src, "wb") as f:
                    f.write(b"cp\n")
                cps[
                    "in_ok" if docker("cp", src, f"{sw.cid}:/w/d/").returncode == 0 else "in_err"
                ] += 1
                i += 1
            stop.set()
            for t in workers:
                t.join(30)
            docker("kill", sw.cid)
            where = landed(sw.upper, put_prefix)
        host_reads = gets["host"] + cps["out_host"]
        print(f"\nGET {dict(gets)}; PUT {dict(puts)} landed {dict(where)}; docker cp {dict(cps)}")
    finally:
        host_writes = remove_host_markers(f"bt-race-*-{tag}-*")
        shutil.rmtree(src_dir, ignore_errors=True)
    assert host_writes == [], f"{len(host_writes)} files written on the host: {host_writes[:5]}"
    assert host_reads == 0, f"{host_reads} reads served from the host: {dict(gets)} {dict(cps)}"
    # the exchange really raced the requests: both sides of it were seen
    assert gets["in_dir"] > 0 and gets["in_root"] > 0, dict(gets)
    assert where["in_dir"] > 0 and where["in_root"] > 0, dict(where)
    assert cps["out_in_dir"] + cps["out_in_root"] > 0 and cps["in_ok"] > 0, dict(cps)
