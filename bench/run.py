#!/usr/bin/env python3
"""berth's speed, as whole processes: run, ps, 50 containers, exec, memory; the crun floor.

    sudo python3 bench/run.py [--runs 20] [--with-peers] [--json out.json]

Starts its own berthd on a temporary socket and data root, loads the busybox image
the project builds, and prints median (min-max) for each figure. The berth CLI is timed
as a normal install runs it: a copy of berth/ in a virtualenv with its bytecode compiled
(this workplace sets PYTHONDONTWRITEBYTECODE, so a source checkout compiles every module
on every run). --with-peers times the same docker CLI figures against dockerd and the
Podman service that ../shared/peers/setup-peers.sh starts (never in CI), in the same
run, and prints berth's ratio to each."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.conftest import Daemon, cleanup_root, takes_back_default_bridge  # noqa: E402


def timed(argv: list[str], env: dict[str, str], runs: int, warmup: int = 2) -> list[float]:
    out = []
    for i in range(runs + warmup):
        t0 = time.perf_counter()
        subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
        if i >= warmup:
            out.append(time.perf_counter() - t0)
    return out


def fmt(xs: list[float]) -> str:
    return f"{statistics.median(xs) * 1000:.1f} ms ({min(xs) * 1000:.1f}-{max(xs) * 1000:.1f})"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def pss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def busybox_rootfs(dest: Path) -> Path:
    """The same busybox root filesystem as the image, as a plain directory."""
    (dest / "bin").mkdir(parents=True)
    shutil.copy2("/bin/busybox", dest / "bin/busybox")
    applets = subprocess.run(["/bin/busybox", "--list"], capture_output=True, text=True).stdout
    for a in applets.split():
        if a != "busybox":
            (dest / "bin" / a).symlink_to("busybox")
    for sub in ("etc", "tmp", "proc", "sys", "dev", "root"):
        (dest / sub).mkdir(exist_ok=True)
    return dest


def shim_pids(exec_root: str) -> list[int]:
    """Shims are forked from the zygote (same command line as berthd): find them by
    their working directory, which is their container's bundle under the exec root."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if os.readlink(f"/proc/{d}/cwd").startswith(exec_root + "/"):
                    out.append(int(d))
            except OSError:
                pass
    return out


def hugetlb_v1_fix() -> bool:
    """crun 1.8 refuses a hybrid host whose cgroup2 still holds hugetlb (as
    ../shared/peers/setup-peers.sh notes); mount it as v1 for the floor run.
    Returns True if this call mounted it (and the caller unmounts it)."""
    target = "/sys/fs/cgroup/hugetlb"
    if os.path.ismount(target) or os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        return False
    os.makedirs(target, exist_ok=True)
    r = subprocess.run(["mount", "-t", "cgroup", "-o", "hugetlb", "cgroup", target])
    return r.returncode == 0


def crun_floor(rootfs: Path, runs: int) -> list[float] | None:
    crun = shutil.which("crun")
    if not crun:
        return None
    d = Path(tempfile.mkdtemp(prefix="bt-crun-", dir="/tmp"))
    try:
        shutil.copytree(rootfs, d / "rootfs", symlinks=True)
        subprocess.run([crun, "spec"], cwd=d, check=True)
        spec = json.loads((d / "config.json").read_text())
        spec["process"]["terminal"] = False
        spec["process"]["args"] = ["/bin/true"]
        (d / "config.json").write_text(json.dumps(spec))
        out = []
        for i in range(runs + 2):
            t0 = time.perf_counter()
            r = subprocess.run(
                [crun, "run", "-b", str(d), f"bt-floor-{os.getpid()}-{i}"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            if r.returncode != 0:
                print("crun failed:", r.stderr.decode().strip())
                return None
            if i >= 2:
                out.append(time.perf_counter() - t0)
        return out
    finally:
        shutil.rmtree(d, ignore_errors=True)


PEERS = {
    "dockerd": "unix:///var/run/docker.sock",
    "podman": "unix:///run/podman-compat.sock",
}


def engine_figures(
    docker: str, env: dict[str, str], runs: int, out: dict[str, object]
) -> list[str]:
    """The docker CLI's figures against the engine ENV names; the ids of the 50 running."""
    r = timed([docker, "run", "--rm", "busybox", "true"], env, runs)
    out["docker_run_rm_true"] = fmt(r)
    r = timed([docker, "run", "--rm", "--network", "none", "busybox", "true"], env, runs)
    out["docker_run_rm_true_network_none"] = fmt(r)
    out["docker_ps_0"] = fmt(timed([docker, "ps"], env, runs))
    t0 = time.perf_counter()
    ids = []
    for _ in range(50):
        run = [docker, "run", "-d", "--label", "bench=1", "busybox", "sleep", "3600"]
        ids.append(
            subprocess.run(run, env=env, check=True, capture_output=True).stdout.decode().strip()
        )
    out["docker_run_d_x50_s"] = round(time.perf_counter() - t0, 2)
    out["docker_ps_50"] = fmt(timed([docker, "ps"], env, runs))
    out["docker_exec_true"] = fmt(timed([docker, "exec", ids[0], "true"], env, runs))
    return ids


def remove_all(docker: str, env: dict[str, str], ids: list[str], out: dict[str, object]) -> None:
    t0 = time.perf_counter()
    subprocess.run([docker, "rm", "-f", *ids], env=env, check=True, capture_output=True)
    out["docker_rm_f_x50_s"] = round(time.perf_counter() - t0, 2)


def peer_figures(docker: str, runs: int) -> dict[str, dict[str, object]]:
    """The same figures for every peer that answers (images loaded by setup-peers.sh)."""
    got: dict[str, dict[str, object]] = {}
    for name, host in PEERS.items():
        env = dict(os.environ, DOCKER_HOST=host)
        if subprocess.run([docker, "version"], env=env, capture_output=True).returncode != 0:
            print(f"{name}: not answering on {host}; run ../shared/peers/setup-peers.sh")
            continue
        out: dict[str, object] = {}
        ids = engine_figures(docker, env, runs, out)
        remove_all(docker, env, ids, out)
        got[name] = out
    return got


def installed_berth(root: Path) -> list[str]:
    """berth as a normal install has it: its package in a virtualenv's site-packages, the
    bytecode compiled, and the console script pip would write."""
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python3"
    site = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    shutil.copytree(REPO / "berth", Path(site) / "berth")
    subprocess.run([str(py), "-m", "compileall", "-q", str(Path(site) / "berth")], check=True)
    script = venv / "bin" / "berth"
    script.write_text(
        f"#!{py}\nimport sys\nfrom berth.cli.main import main\n"
        "if __name__ == '__main__':\n    sys.exit(main())\n"
    )
    script.chmod(0o755)
    return [str(script)]


def _seconds(v: object) -> float:
    """A figure as seconds: "12.3 ms (...)" or a number of seconds."""
    if isinstance(v, str):
        return float(v.split()[0]) / 1000
    return float(v)  # type: ignore[arg-type]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--json")
    ap.add_argument("--with-peers", action="store_true")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bt-bench-", dir="/tmp"))
    img = root / "busybox.tar"
    subprocess.run(
        [sys.executable, str(REPO / "scripts/mkimage-busybox"), "-o", str(img)], check=True
    )
    d = Daemon(root / "d")
    (root / "d").mkdir()
    results: dict[str, object] = {}
    try:
        d.start()
        d.load_image(img)
        env = d.env
        docker = shutil.which("docker") or "/usr/local/bin/docker"
        berth = installed_berth(root)
        time.sleep(1)
        results["berthd_idle_rss_mib"] = round(rss_kib(d.proc.pid) / 1024, 1)  # type: ignore[union-attr]
        # the default start carries dockerd's seccomp profile; unconfined is the same start
        # without a filter, so the difference is what seccomp costs a run
        r = timed(
            [docker, "run", "--rm", "--security-opt", "seccomp=unconfined", "busybox", "true"],
            env,
            args.runs,
        )
        results["docker_run_rm_true_unconfined"] = fmt(r)
        results["berth_run_rm_true"] = fmt(
            timed([*berth, "run", "--rm", "busybox", "true"], env, args.runs)
        )
        results["berth_ps_0"] = fmt(timed([*berth, "ps"], env, args.runs))
        results["berth_version"] = fmt(timed([*berth, "version"], env, args.runs))
        ids = engine_figures(docker, env, args.runs, results)
        results["docker_stats_no_stream_50"] = fmt(
            timed([docker, "stats", "--no-stream"], env, max(3, args.runs // 4), warmup=1)
        )
        results["berth_ps_50"] = fmt(timed([*berth, "ps"], env, args.runs))
        shims = shim_pids(str(d.exec_root))
        pss = [pss_kib(p) for p in shims]
        if pss:
            results["shim_pss_mib_median"] = round(statistics.median(pss) / 1024, 2)
        results["berthd_rss_50_running_mib"] = round(rss_kib(d.proc.pid) / 1024, 1)  # type: ignore[union-attr]
        remove_all(docker, env, ids, results)
    finally:
        d.remove_all_containers()
        d.stop()
        cleanup_root(root)
    floor_root = Path(tempfile.mkdtemp(prefix="bt-floor-", dir="/tmp"))
    mounted = hugetlb_v1_fix()
    try:
        fl = crun_floor(busybox_rootfs(floor_root / "rootfs"), args.runs)
        if fl:
            results["crun_run_true_floor"] = fmt(fl)
    finally:
        if mounted:
            subprocess.run(["umount", "/sys/fs/cgroup/hugetlb"], check=False)
            # the empty directory would change what crun and the tests see under cgroupfs
            with contextlib.suppress(OSError):
                os.rmdir("/sys/fs/cgroup/hugetlb")
        shutil.rmtree(floor_root, ignore_errors=True)
    peers = peer_figures(docker, args.runs) if args.with_peers else {}
    for k, v in results.items():
        line = f"{k:32} {v}"
        for name, theirs in peers.items():
            if k in theirs:
                line += f"   {name} {theirs[k]} (x{_seconds(v) / _seconds(theirs[k]):.2f})"
        print(line)
    if args.json:
        Path(args.json).write_text(json.dumps({"berth": results, **peers}, indent=2))
    return 0


if __name__ == "__main__":
    with takes_back_default_bridge():
        sys.exit(main())
