"""version and info."""

from __future__ import annotations

import os
import sys

from berth.cli.context import Context
from berth.cli.flags import Command, Flag, parse

TYPE_CHECKING = False  # typing and platform cost `berth version` ~5 ms of its start
if TYPE_CHECKING:
    from typing import Any

VERSION = Command(
    "version",
    "berth version [OPTIONS]",
    "Show the berth version information",
    [Flag("format", "f", "str", "", help="Format output using a custom template")],
    max_args=0,
)
INFO = Command(
    "info",
    "berth info [OPTIONS]",
    "Display system-wide information",
    [Flag("format", "f", "str", "", help="Format output using a custom template")],
    max_args=0,
)


def _client_version(context: str = "default") -> dict[str, Any]:
    from berth import __version__
    from berth.constants import API_VERSION

    host = os.uname()
    return {
        "Platform": {"Name": "berth"},
        "Version": __version__,
        "ApiVersion": API_VERSION,
        "DefaultAPIVersion": API_VERSION,
        "GoVersion": "python" + sys.version.split()[0],  # platform.python_version()
        "GitCommit": "",
        "BuildTime": "",
        "Os": host.sysname.lower(),
        "Arch": _arch(host.machine),
        "Context": context,
    }


def _arch(machine: str) -> str:
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def version(ctx: Context, argv: list[str]) -> int:
    """Client and server versions, docker's layout; the client part prints even when the
    daemon is down (then the error follows and the status is 1)."""
    from berth.client.errors import ClientError

    opts, _ = parse(VERSION, argv)
    client = _client_version(ctx.endpoint.context if ctx.endpoint is not None else "default")
    server: Any = None
    error: ClientError | None = None
    try:
        server = ctx.client.version()
        # the version negotiated with this daemon, as the docker CLI shows it
        client["ApiVersion"] = ctx.client.transport.api_version or client["ApiVersion"]
    except ClientError as exc:
        error = exc
    if opts.format:
        from berth.cli.formatting import render

        ctx.out(render(opts.format, [{"Client": client, "Server": server}], {}, ""))
    else:
        ctx.out(_version_text(client, server))
    if error is not None:
        raise error
    return 0


def _version_text(c: dict[str, Any], s: Any) -> str:
    lines = [
        "Client:",
        f" Version:           {c['Version']}",
        f" API version:       {c['ApiVersion']}",
        f" Python version:    {c['GoVersion'][len('python') :]}",
        f" OS/Arch:           {c['Os']}/{c['Arch']}",
        f" Context:           {c['Context']}",
    ]
    if s:
        name = (s.get("Platform") or {}).get("Name") or "berth"
        lines += [
            "",
            f"Server: {name}",
            " Engine:",
            f"  Version:          {s.get('Version', '')}",
            f"  API version:      {s.get('ApiVersion', '')} "
            f"(minimum version {s.get('MinAPIVersion', '')})",
            f"  Go version:       {s.get('GoVersion', '')}",
            f"  Git commit:       {s.get('GitCommit', '')}",
            f"  Built:            {s.get('BuildTime', '')}",
            f"  OS/Arch:          {s.get('Os', '')}/{s.get('Arch', '')}",
            f"  Experimental:     {str(bool(s.get('Experimental'))).lower()}",
        ]
        for comp in s.get("Components") or []:
            if comp.get("Name") in ("Engine", name):
                continue
            lines += [f" {comp.get('Name')}:", f"  Version:          {comp.get('Version', '')}"]
    return "\n".join(lines) + "\n"


def info(ctx: Context, argv: list[str]) -> int:
    """System-wide information, docker's layout (the common fields)."""
    opts, _ = parse(INFO, argv)
    data = ctx.client.info()
    if opts.format:
        from berth.cli.formatting import render

        ctx.out(render(opts.format, [data], {}, ""))
        return 0
    g = data.get
    lines = [
        "Client:",
        f" Version:    {_client_version()['Version']}",
        " Context:    default",
        f" Debug Mode: {str(ctx.debug).lower()}",
        "",
        "Server:",
        f" Containers: {g('Containers', 0)}",
        f"  Running: {g('ContainersRunning', 0)}",
        f"  Paused: {g('ContainersPaused', 0)}",
        f"  Stopped: {g('ContainersStopped', 0)}",
        f" Images: {g('Images', 0)}",
        f" Server Version: {g('ServerVersion', '')}",
        f" Storage Driver: {g('Driver', '')}",
    ]
    for k, v in g("DriverStatus") or []:
        lines.append(f"  {k}: {v}")
    lines += [
        f" Logging Driver: {g('LoggingDriver', '')}",
        f" Cgroup Driver: {g('CgroupDriver', '')}",
        f" Cgroup Version: {g('CgroupVersion', '')}",
        f" Default Runtime: {g('DefaultRuntime', '')}",
        f" Kernel Version: {g('KernelVersion', '')}",
        f" Operating System: {g('OperatingSystem', '')}",
        f" OSType: {g('OSType', '')}",
        f" Architecture: {g('Architecture', '')}",
        f" CPUs: {g('NCPU', 0)}",
        f" Total Memory: {_gib(g('MemTotal', 0))}",
        f" Name: {g('Name', '')}",
        f" ID: {g('ID', '')}",
        f" Docker Root Dir: {g('DockerRootDir', '')}",
        f" Debug Mode: {str(bool(g('Debug'))).lower()}",
    ]
    for w in g("Warnings") or []:
        lines.append(w)
    ctx.out("\n".join(lines) + "\n")
    return 0


def _gib(n: Any) -> str:
    """go-units BytesSize: binary units with 4 significant digits ("1.944GiB")."""
    size = float(n or 0)
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
    i = 0
    while size >= 1024 and i < len(units) - 1:
        size /= 1024
        i += 1
    return f"{size:.4g}{units[i]}"
