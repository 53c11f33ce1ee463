"""diff, export, commit, top, stats, pause, unpause, update, restart (cp: cp.py)."""

from __future__ import annotations

import sys
from typing import Any

from berth.cli.commands.common import container_path, each, short_id, split_repo_tag
from berth.cli.context import Context, StatusError
from berth.cli.flags import Command, Flag, parse

DIFF = Command(
    "diff",
    "berth diff CONTAINER",
    "Inspect changes to files or directories on a container's filesystem",
    min_args=1,
    max_args=1,
)
EXPORT = Command(
    "export",
    "berth export [OPTIONS] CONTAINER",
    "Export a container's filesystem as a tar archive",
    [Flag("output", "o", "str", "", help="Write to a file, instead of STDOUT")],
    min_args=1,
    max_args=1,
)
COMMIT = Command(
    "commit",
    "berth commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
    "Create a new image from a container's changes",
    [
        Flag("author", "a", "str", "", help="Author"),
        Flag("change", "c", "list", help="Apply Dockerfile instruction to the created image"),
        Flag("message", "m", "str", "", help="Commit message"),
        Flag("pause", "p", "bool", True, help="Pause container during commit"),
    ],
    min_args=1,
    max_args=2,
)
TOP = Command(
    "top",
    "berth top CONTAINER [ps OPTIONS]",
    "Display the running processes of a container",
    min_args=1,
    interspersed=False,
)
STATS = Command(
    "stats",
    "berth stats [OPTIONS] [CONTAINER...]",
    "Display a live stream of container(s) resource usage statistics",
    [
        Flag("all", "a", help="Show all containers (default shows just running)"),
        Flag(
            "format", "", "str", "", help="Format output using a custom template", metavar="string"
        ),
        Flag("no-stream", "", help="Disable streaming stats and only pull the first result"),
        Flag("no-trunc", "", help="Do not truncate output"),
    ],
)
PAUSE = Command(
    "pause",
    "berth pause CONTAINER [CONTAINER...]",
    "Pause all processes within one or more containers",
    min_args=1,
)
UNPAUSE = Command(
    "unpause",
    "berth unpause CONTAINER [CONTAINER...]",
    "Unpause all processes within one or more containers",
    min_args=1,
)
RESTART = Command(
    "restart",
    "berth restart [OPTIONS] CONTAINER [CONTAINER...]",
    "Restart one or more containers",
    [
        Flag("signal", "s", "str", "", help="Signal to send to the container"),
        Flag("timeout", "t", "int", None, help="Seconds to wait before killing the container"),
    ],
    min_args=1,
)
UPDATE = Command(
    "update",
    "berth update [OPTIONS] CONTAINER [CONTAINER...]",
    "Update configuration of one or more containers",
    [
        Flag("cpu-period", "", "int", 0, help="Limit CPU CFS period"),
        Flag("cpu-quota", "", "int", 0, help="Limit CPU CFS quota"),
        Flag("cpu-shares", "c", "int", 0, help="CPU shares (relative weight)"),
        Flag("cpus", "", "str", "", help="Number of CPUs"),
        Flag("cpuset-cpus", "", "str", "", help="CPUs in which to allow execution (0-3, 0,1)"),
        Flag("cpuset-mems", "", "str", "", help="MEMs in which to allow execution (0-3, 0,1)"),
        Flag("memory", "m", "str", "", help="Memory limit"),
        Flag("memory-reservation", "", "str", "", help="Memory soft limit"),
        Flag(
            "memory-swap",
            "",
            "str",
            "",
            help="Swap limit equal to memory plus swap: -1 to enable unlimited swap",
        ),
        Flag(
            "pids-limit", "", "int", None, help="Tune container pids limit (set -1 for unlimited)"
        ),
        Flag("restart", "", "str", "", help="Restart policy to apply when a container exits"),
    ],
    min_args=1,
)


_c = container_path


# ---- diff / export / commit -----------------------------------------------------
def diff(ctx: Context, argv: list[str]) -> int:
    """berth diff."""
    _, args = parse(DIFF, argv)
    with ctx.client.transport.request("GET", _c(args[0]) + "/changes") as resp:
        items = resp.json() or []
    for ch in items:
        ctx.out(f"{'CAD'[ch['Kind']]} {ch['Path']}\n")
    return 0


def export(ctx: Context, argv: list[str]) -> int:
    """berth export."""
    opts, args = parse(EXPORT, argv)
    if not opts.output and ctx.stdout_is_tty():
        raise StatusError(
            1, "berth: cowardly refusing to save to a terminal. Use the -o flag or redirect"
        )
    with ctx.client.transport.request("GET", _c(args[0]) + "/export") as resp:
        out = open(opts.output, "wb") if opts.output else sys.stdout.buffer  # noqa: SIM115
        try:
            for chunk in resp.iter_content():
                out.write(chunk)
        finally:
            if opts.output:
                out.close()
            else:
                out.flush()
    return 0


def commit(ctx: Context, argv: list[str]) -> int:
    """berth commit."""
    opts, args = parse(COMMIT, argv)
    q: list[tuple[str, str]] = [("container", args[0])]
    if len(args) > 1:
        repo, tag = split_repo_tag(args[1])
        q.append(("repo", repo))
        if tag:
            q.append(("tag", tag))
    q += [("comment", opts.message), ("author", opts.author)]
    q.append(("pause", "1" if opts.pause else "0"))
    q += [("changes", c) for c in opts.change]
    from urllib.parse import urlencode

    with ctx.client.transport.request("POST", "/commit?" + urlencode(q), body=b"") as resp:
        ctx.out(resp.json()["Id"] + "\n")
    return 0


# ---- top / stats -------------------------------------------------------------
def top(ctx: Context, argv: list[str]) -> int:
    """berth top."""
    _, args = parse(TOP, argv)
    q = {"ps_args": " ".join(args[1:])} if len(args) > 1 else None
    with ctx.client.transport.request("GET", _c(args[0]) + "/top", q) as resp:
        doc = resp.json()
    from berth.cli.table import tabwrite

    lines = ["\t".join(doc["Titles"])] + ["\t".join(p) for p in doc["Processes"] or []]
    ctx.out(tabwrite("\n".join(lines) + "\n", minwidth=0, padding=4))
    return 0


def _binary(n: float) -> str:
    units = ["B", "KiB", "MiB", "GiB", "TiB"]
    i = 0
    while n >= 1024 and i < len(units) - 1:
        n /= 1024
        i += 1
    return f"{n:.4g}{units[i]}"


STATS_TABLE = (
    "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}"
    "\t{{.BlockIO}}\t{{.PIDs}}"
)
STATS_HEADERS = {
    "Container": "CONTAINER",
    "Name": "NAME",
    "ID": "CONTAINER ID",
    "CPUPerc": "CPU %",
    "MemUsage": "MEM USAGE / LIMIT",
    "MemPerc": "MEM %",
    "NetIO": "NET I/O",
    "BlockIO": "BLOCK I/O",
    "PIDs": "PIDS",
}


def stats_row(container: str, s: dict[str, Any], no_trunc: bool) -> Any:
    """docker's statsContext for one stats frame; container is the name as asked for (or
    the short ID when listing), which {{.Container}} shows."""
    from berth.cli.formatting import TemplateData
    from berth.cli.units import human_size

    cpu, pre = s.get("cpu_stats") or {}, s.get("precpu_stats") or {}
    cd = (cpu.get("cpu_usage") or {}).get("total_usage", 0) - (pre.get("cpu_usage") or {}).get(
        "total_usage", 0
    )
    sd = cpu.get("system_cpu_usage", 0) - pre.get("system_cpu_usage", 0)
    pct = cd / sd * (cpu.get("online_cpus") or 1) * 100 if cd > 0 and sd > 0 else 0.0
    mem = s.get("memory_stats") or {}
    st = mem.get("stats") or {}
    used = (mem.get("usage") or 0) - st.get("total_inactive_file", st.get("inactive_file", 0))
    limit = mem.get("limit") or 0
    rd = wr = 0
    for e in (s.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []:
        if e.get("op", "").lower() == "read":
            rd += e.get("value", 0)
        elif e.get("op", "").lower() == "write":
            wr += e.get("value", 0)
    nets = (s.get("networks") or {}).values()
    rx = sum(n.get("rx_bytes", 0) for n in nets)
    tx = sum(n.get("tx_bytes", 0) for n in nets)
    cid = s.get("id", "")
    name = s.get("name") or ""
    return TemplateData(
        Container=container,
        Name=name[1:] if len(name) > 1 else "--",
        ID=cid if no_trunc else short_id(cid),
        CPUPerc=f"{pct:.2f}%",
        MemUsage=f"{_binary(max(used, 0))} / {_binary(limit)}",
        MemPerc=f"{used / limit * 100 if limit else 0:.2f}%",
        NetIO=f"{human_size(rx, 3)} / {human_size(tx, 3)}",
        BlockIO=f"{human_size(rd, 3)} / {human_size(wr, 3)}",
        PIDs=str((s.get("pids_stats") or {}).get("current", 0)),
    )


def stats(ctx: Context, argv: list[str]) -> int:
    """berth stats: one table (--no-stream), or a table a second until interrupted."""
    import concurrent.futures
    import time

    from berth.cli.formatting import render

    opts, args = parse(STATS, argv)
    names = args
    if not names:
        q = {"all": "1"} if opts.all else None
        with ctx.client.transport.request("GET", "/containers/json", q) as resp:
            names = [short_id(c["Id"]) for c in resp.json()]

    def one(name: str) -> Any:
        q = {"stream": "0"}
        with ctx.client.transport.request("GET", _c(name) + "/stats", q) as resp:
            return stats_row(name, resp.json(), opts.no_trunc)

    while True:
        with concurrent.futures.ThreadPoolExecutor(max_workers=min(32, len(names) or 1)) as ex:
            rows = list(ex.map(one, names))
        text = render(
            opts.format, rows, STATS_HEADERS, STATS_TABLE, go_type="*container.statsContext"
        )
        if opts.no_stream:
            ctx.out(text)
            return 0
        ctx.out("\033[2J\033[H" + text)
        sys.stdout.flush()
        time.sleep(0.5)


# ---- pause / unpause / restart / update ---------------------------------------------
def pause(ctx: Context, argv: list[str]) -> int:
    """berth pause."""
    _, args = parse(PAUSE, argv)
    return each(ctx, args, lambda c: ctx.client._call("POST", _c(c) + "/pause"))


def unpause(ctx: Context, argv: list[str]) -> int:
    """berth unpause."""
    _, args = parse(UNPAUSE, argv)
    return each(ctx, args, lambda c: ctx.client._call("POST", _c(c) + "/unpause"))


def restart(ctx: Context, argv: list[str]) -> int:
    """berth restart."""
    opts, args = parse(RESTART, argv)
    q = {"t": opts.timeout, "signal": opts.signal or None}
    return each(ctx, args, lambda c: ctx.client._call("POST", _c(c) + "/restart", q, b""))


def update_body(opts: Any) -> dict[str, Any]:
    """The POST /containers/{id}/update body for the update flags."""
    from berth.cli.units import ram_in_bytes

    def size(text: str) -> int:
        if text == "-1":
            return -1
        try:
            return ram_in_bytes(text)
        except ValueError as exc:
            raise UPDATE.usage_error(str(exc)) from None

    body: dict[str, Any] = {}
    if opts.memory:
        body["Memory"] = size(opts.memory)
    if opts.memory_swap:
        body["MemorySwap"] = size(opts.memory_swap)
    if opts.memory_reservation:
        body["MemoryReservation"] = size(opts.memory_reservation)
    if opts.cpus:
        try:
            body["NanoCpus"] = round(float(opts.cpus) * 1e9)
        except ValueError:
            raise UPDATE.usage_error(f'invalid argument {opts.cpus!r} for "--cpus" flag') from None
    for flag, key in (
        ("cpu_shares", "CpuShares"),
        ("cpu_period", "CpuPeriod"),
        ("cpu_quota", "CpuQuota"),
    ):
        if getattr(opts, flag):
            body[key] = getattr(opts, flag)
    if opts.cpuset_cpus:
        body["CpusetCpus"] = opts.cpuset_cpus
    if opts.cpuset_mems:
        body["CpusetMems"] = opts.cpuset_mems
    if opts.pids_limit is not None:
        body["PidsLimit"] = opts.pids_limit
    if opts.restart:
        name, _, count = opts.restart.partition(":")
        body["RestartPolicy"] = {"Name": name, "MaximumRetryCount": int(count or 0)}
    return body


def update(ctx: Context, argv: list[str]) -> int:
    """berth update."""
    opts, args = parse(UPDATE, argv)
    body = update_body(opts)
    if not body:
        raise UPDATE.usage_error("you must provide one or more flags when using this command")
    return each(ctx, args, lambda c: ctx.client._json("POST", _c(c) + "/update", None, body))
