#!/usr/bin/env python3
"""Cold pull of a ~200 MB multi-layer image from a local registry (not run in CI).

    sudo python3 bench/pull.py [--runs 3] [--random-mb 25] [--text-mb 25] [--layers 4]
                               [--docker unix:///var/run/docker.sock] [--zlib]

Builds the image offline (`--layers` layers of random bytes and as many of compressible
text, gzip-compressed), pushes it with an independent client to a docker-registry started
on loopback, then times, per run, a pull into an empty berth store: time until the pull's
stream ends (the image is then usable), MB/s (compressed bytes fetched, and uncompressed
bytes laid down), and the daemon's peak RSS above its idle RSS, sampled every 10 ms.

With --docker (default: the peers' dockerd if its socket answers) dockerd pulls the same
image from the same registry in the same run, alternating with berth, and the ratio of
the medians is printed. --zlib also times berth with BERTH_GZIP=zlib (no ISA-L), to show
what isal gains."""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.apiclient import UnixHTTPConnection  # noqa: E402
from tests.conftest import Daemon, cleanup_root, takes_back_default_bridge  # noqa: E402
from tests.integration.registry.fixtures import Registry  # noqa: E402

MB = 1 << 20
SCHEMA2 = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG = "application/vnd.docker.container.image.v1+json"
LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
WORDS = b"alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi".split()


def _tar_of(name: str, data: bytes) -> bytes:
    """A one-file layer tar, without building a second copy through tarfile."""
    import tarfile

    ti = tarfile.TarInfo(name)
    ti.size, ti.mode, ti.mtime = len(data), 0o644, 1700000000
    head = ti.tobuf(format=tarfile.PAX_FORMAT)
    pad = b"\0" * (-len(data) % 512)
    return head + data + pad + b"\0" * 1024


def _text(n: int, rng: random.Random) -> bytes:
    out = bytearray()
    while len(out) < n:
        line = b" ".join(rng.choice(WORDS) for _ in range(12)) + b" %d\n" % rng.randrange(1 << 30)
        out += line
    return bytes(out[:n])


def build_and_push(reg: Registry, repo: str, layers: int, random_mb: int, text_mb: int) -> dict:
    """Push the image; returns sizes for the report."""
    rng = random.Random(os.getpid() ^ int(time.time()))
    diff_ids, descs = [], []
    raw = comp = biggest = 0
    for i in range(layers * 2):
        if i % 2 == 0:
            data = os.urandom(random_mb * MB)
        else:
            data = _text(text_mb * MB, rng)
        tar = _tar_of(f"data/layer{i}.bin", data)
        del data
        diff_ids.append("sha256:" + hashlib.sha256(tar).hexdigest())
        blob = gzip.compress(tar, compresslevel=6, mtime=0)
        raw += len(tar)
        comp += len(blob)
        biggest = max(biggest, len(tar))
        descs.append({"mediaType": LAYER, "size": len(blob), "digest": reg.put_blob(repo, blob)})
        del tar, blob
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
    cfg = json.dumps(
        {
            "architecture": arch,
            "os": "linux",
            "config": {"Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "created": "2024-01-01T00:00:00Z",
        }
    ).encode()
    cdig = reg.put_blob(repo, cfg)
    man = {
        "schemaVersion": 2,
        "mediaType": SCHEMA2,
        "config": {"mediaType": CONFIG, "size": len(cfg), "digest": cdig},
        "layers": descs,
    }
    reg.put_manifest(repo, "v1", json.dumps(man).encode(), SCHEMA2)
    return {"raw": raw, "compressed": comp, "layers": len(descs), "biggest": biggest}


def rss(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def pull_timed(sock: str, image: str, pid: int) -> tuple[float, int, int]:
    """(seconds, peak RSS above idle, idle RSS) of one API pull; fails on an error message."""
    idle = rss(pid)
    peak = [idle]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            try:
                peak[0] = max(peak[0], rss(pid))
            except OSError:
                return
            time.sleep(0.01)

    t = threading.Thread(target=sample, daemon=True)
    name, tag = image.rsplit(":", 1)
    q = urllib.parse.urlencode({"fromImage": name, "tag": tag})
    conn = UnixHTTPConnection(sock, timeout=600)
    t.start()
    t0 = time.perf_counter()
    try:
        conn.request("POST", f"/images/create?{q}", b"", {"Content-Type": "text/plain"})
        r = conn.getresponse()
        body = r.read()
    finally:
        elapsed = time.perf_counter() - t0
        stop.set()
        t.join()
        conn.close()
    if r.status != 200 or b'"error"' in body:
        raise RuntimeError(f"pull of {image} failed: {r.status} {body[-400:]!r}")
    return elapsed, peak[0] - idle, idle


def remove_image(sock: str, image: str) -> None:
    conn = UnixHTTPConnection(sock, timeout=120)
    try:
        conn.request("DELETE", f"/images/{image}?force=1")
        conn.getresponse().read()
    finally:
        conn.close()


def docker_pid(sock: str) -> int | None:
    pidfile = Path("/run/peers/dockerd.pid")
    if not Path(sock).exists() or not pidfile.exists():
        return None
    try:
        conn = UnixHTTPConnection(sock, timeout=5)
        conn.request("GET", "/_ping")
        ok = conn.getresponse().status == 200
        conn.close()
    except OSError:
        return None
    return int(pidfile.read_text().strip()) if ok else None


def fmt(xs: list[float]) -> str:
    return f"{statistics.median(xs):.2f} s ({min(xs):.2f}-{max(xs):.2f})"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--layers", type=int, default=4, help="random layers (as many text ones)")
    ap.add_argument("--random-mb", type=int, default=25)
    ap.add_argument("--text-mb", type=int, default=25)
    ap.add_argument("--docker", default="/var/run/docker.sock", help="dockerd socket ('' = none)")
    ap.add_argument("--zlib", action="store_true", help="also time berth without isal")
    args = ap.parse_args()

    reg = Registry(with_auth=False)
    root = Path(tempfile.mkdtemp(prefix="bt-bench-", dir="/tmp"))
    daemons: list[Daemon] = []
    try:
        t0 = time.perf_counter()
        sizes = build_and_push(reg, "bench/big", args.layers, args.random_mb, args.text_mb)
        image = f"{reg.host}/bench/big:v1"
        print(
            f"image {image}: {sizes['layers']} layers, {sizes['raw'] / MB:.0f} MB raw, "
            f"{sizes['compressed'] / MB:.0f} MB gzip, largest layer {sizes['biggest'] / MB:.0f} MB "
            f"(built and pushed in {time.perf_counter() - t0:.1f} s)"
        )
        dpid = docker_pid(args.docker) if args.docker else None
        if args.docker and dpid is None:
            print(f"dockerd: not reachable at {args.docker}; berth alone")

        variants: dict[str, Callable[[], tuple[float, int, int]]] = {}

        def berth_variant(label: str, env: dict[str, str]) -> None:
            def run() -> tuple[float, int, int]:
                # A new daemon and data root each run: a cold pull into an empty store.
                sub = root / f"d{len(daemons)}"
                sub.mkdir()
                d = Daemon(sub)
                daemons.append(d)
                saved = {k: os.environ.get(k) for k in env}
                os.environ.update(env)
                try:
                    d.start()
                finally:
                    for k, v in saved.items():
                        if v is None:
                            os.environ.pop(k, None)
                        else:
                            os.environ[k] = v
                assert d.proc is not None
                try:
                    return pull_timed(d.sock, image, d.proc.pid)
                finally:
                    d.stop()
                    cleanup_root(sub)

            variants[label] = run

        berth_variant("berth", {})
        if args.zlib:
            berth_variant("berth (zlib)", {"BERTH_GZIP": "zlib"})
        if dpid is not None:
            pid = dpid

            def docker_run() -> tuple[float, int, int]:
                remove_image(args.docker, image)
                try:
                    return pull_timed(args.docker, image, pid)
                finally:
                    remove_image(args.docker, image)

            variants["dockerd"] = docker_run

        times: dict[str, list[float]] = {k: [] for k in variants}
        peaks: dict[str, list[int]] = {k: [] for k in variants}
        idles: dict[str, list[int]] = {k: [] for k in variants}
        labels = list(variants)
        for i in range(args.runs):
            # Rotate who goes first, and write back what the one before left dirty before
            # each pull (untimed): otherwise a pull pays for the previous one's write-back.
            for label in labels[i % len(labels) :] + labels[: i % len(labels)]:
                os.sync()
                s, peak, idle = variants[label]()
                times[label].append(s)
                peaks[label].append(peak)
                idles[label].append(idle)
                print(f"  run {i + 1} {label}: {s:.2f} s, RSS +{peak / MB:.1f} MiB")
        print()
        print(f"{'engine':14} {'time to ready':24} {'MB/s gz':>8} {'MB/s raw':>9} {'peak RSS':>22}")
        for label in variants:
            med = statistics.median(times[label])
            print(
                f"{label:14} {fmt(times[label]):24} {sizes['compressed'] / MB / med:8.0f} "
                f"{sizes['raw'] / MB / med:9.0f} "
                f"{'+' + format(max(peaks[label]) / MB, '.1f'):>8} MiB over "
                f"{statistics.median(idles[label]) / MB:.0f} MiB"
            )
        if "dockerd" in times:
            ratio = statistics.median(times["dockerd"]) / statistics.median(times["berth"])
            print(f"\nberth is {ratio:.2f}x dockerd's speed (dockerd time / berth time)")
        if "berth (zlib)" in times:
            gain = statistics.median(times["berth (zlib)"]) / statistics.median(times["berth"])
            print(f"isal vs zlib gzip: berth pull {gain:.2f}x as fast with isal")
        return 0
    finally:
        for d in daemons:
            d.kill()
        cleanup_root(root)
        reg.stop()


if __name__ == "__main__":
    with takes_back_default_bridge():
        raise SystemExit(main())
