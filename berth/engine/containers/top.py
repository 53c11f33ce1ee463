"""`docker top`: the host's `ps`, cut down to the container's processes."""

from __future__ import annotations

import asyncio
from typing import Any

from berth.engine.errors import Conflict, InvalidParameter, SystemError_
from berth.runtime import cgroups


def parse_ps(output: str, pids: set[int]) -> dict[str, Any]:
    """dockerd's parsePSOutput: {"Titles", "Processes"} for the rows whose PID is in
    `pids`; thread rows ("-" as PID, from `ps m`) follow their process."""
    lines = output.split("\n")
    titles = lines[0].split()
    try:
        pid_index = titles.index("PID")
    except ValueError:
        raise SystemError_("Couldn't find PID field in ps output") from None
    procs: list[list[str]] = []
    keep_threads = False
    for line in lines[1:]:
        if not line:
            continue
        fields = line.split()
        if len(fields) <= pid_index:
            continue
        if fields[pid_index] == "-":
            if keep_threads:
                procs.append(_fit(fields, len(titles)))
            continue
        try:
            pid = int(fields[pid_index])
        except ValueError:
            raise SystemError_(f"Unexpected pid '{fields[pid_index]}'") from None
        keep_threads = pid in pids
        if keep_threads:
            procs.append(_fit(fields, len(titles)))
    return {"Titles": titles, "Processes": procs}


def _fit(fields: list[str], n: int) -> list[str]:
    # the last column (the command) may contain spaces: join what overhangs
    return fields[: n - 1] + [" ".join(fields[n - 1 :])]


async def top(svc: Any, ref: str, ps_args: str | None) -> dict[str, Any]:
    c = svc.get(ref)
    if not c.state.running:
        raise Conflict(f"Container {c.id} is not running")
    if c.state.status == "restarting":
        raise Conflict(f"Container {c.id} is restarting, wait until the container is running")
    args = (ps_args or "-ef").split()
    if any("\x00" in a for a in args):
        raise InvalidParameter("invalid ps arguments")
    pids = set(cgroups.pids(svc.cgroup_path(c)))
    try:
        proc = await asyncio.create_subprocess_exec(
            "ps",
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        raise SystemError_(f"Error running ps: {exc}") from exc
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise SystemError_(
            f"ps: exit status {proc.returncode}: {err.decode(errors='replace').strip()}"
        )
    return parse_ps(out.decode(errors="replace"), pids)
