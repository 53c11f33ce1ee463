"""run/create flags and how they become the POST /containers/create body."""

from __future__ import annotations

import os
from types import SimpleNamespace
from typing import Any

from berth.cli.commands.specfields import Field, apply
from berth.cli.context import StatusError
from berth.cli.flags import Command, Flag

CREATE_FLAGS = [
    Flag("add-host", "", "list", help="Add a custom host-to-IP mapping (host:ip)"),
    Flag("attach", "a", "list", help="Attach to STDIN, STDOUT or STDERR"),
    Flag("cap-add", "", "list", help="Add Linux capabilities"),
    Flag("cap-drop", "", "list", help="Drop Linux capabilities"),
    Flag("cgroupns", "", "str", "", help="Cgroup namespace to use (host|private)"),
    Flag("cpu-shares", "c", "int", 0, help="CPU shares (relative weight)"),
    Flag("cpus", "", "str", "", help="Number of CPUs"),
    Flag("detach-keys", "", "str", "", help="Override the key sequence for detaching"),
    Flag("device", "", "list", help="Add a host device to the container"),
    Flag("dns", "", "list", help="Set custom DNS servers"),
    Flag("entrypoint", "", "str", None, help="Overwrite the default ENTRYPOINT of the image"),
    Flag("env", "e", "list", help="Set environment variables"),
    Flag("env-file", "", "list", help="Read in a file of environment variables"),
    Flag("expose", "", "list", help="Expose a port or a range of ports"),
    Flag("health-cmd", "", "str", "", help="Command to run to check health"),
    Flag("health-interval", "", "str", "", help="Time between running the check (ms|s|m|h)"),
    Flag("health-retries", "", "int", 0, help="Consecutive failures needed to report unhealthy"),
    Flag(
        "health-start-interval", "", "str", "", help="Time between checks during the start period"
    ),
    Flag("health-start-period", "", "str", "", help="Start period before retries count"),
    Flag("health-timeout", "", "str", "", help="Maximum time to allow one check to run"),
    Flag("hostname", "h", "str", "", help="Container host name"),
    Flag("init", "", help="Run an init inside the container"),
    Flag("ip", "", "str", "", help="IPv4 address (e.g., 172.30.100.104)"),
    Flag("ipc", "", "str", "", help="IPC mode to use"),
    Flag("interactive", "i", help="Keep STDIN open even if not attached"),
    Flag("label", "l", "list", help="Set meta data on a container"),
    Flag("label-file", "", "list", help="Read in a line delimited file of labels"),
    Flag("log-driver", "", "str", "", help="Logging driver for the container"),
    Flag("log-opt", "", "list", help="Log driver options"),
    Flag("memory", "m", "str", "", help="Memory limit"),
    Flag("memory-swap", "", "str", "", help="Swap limit equal to memory plus swap: -1 unlimited"),
    Flag("name", "", "str", "", help="Assign a name to the container"),
    Flag("mac-address", "", "str", "", help="Container MAC address (e.g., 92:d0:c6:0a:29:33)"),
    Flag("network", "", "str", "", help="Connect a container to a network"),
    Flag("network-alias", "", "list", help="Add network-scoped alias for the container"),
    Flag("no-healthcheck", "", help="Disable any container-specified HEALTHCHECK"),
    Flag("net", "", "str", "", help="Connect a container to a network"),
    Flag("pid", "", "str", "", help="PID namespace to use"),
    Flag("pids-limit", "", "int", 0, help="Tune container pids limit (set -1 for unlimited)"),
    Flag("platform", "", "str", "", help="Set platform if server is multi-platform capable"),
    Flag("privileged", "", help="Give extended privileges to this container"),
    Flag("publish", "p", "list", help="Publish a container's port(s) to the host"),
    Flag(
        "pull",
        "",
        "str",
        "missing",
        help='Pull image before creating ("always", "missing", "never")',
    ),
    Flag("read-only", "", help="Mount the container's root filesystem as read only"),
    Flag("restart", "", "str", "", help="Restart policy to apply when a container exits"),
    Flag("rm", "", help="Automatically remove the container when it exits"),
    Flag("security-opt", "", "list", help="Security Options"),
    Flag("shm-size", "", "str", "", help="Size of /dev/shm"),
    Flag("stop-signal", "", "str", "", help="Signal to stop the container"),
    Flag("stop-timeout", "", "int", None, help="Timeout (in seconds) to stop a container"),
    Flag("sysctl", "", "list", help="Sysctl options"),
    Flag("tmpfs", "", "list", help="Mount a tmpfs directory"),
    Flag("tty", "t", help="Allocate a pseudo-TTY"),
    Flag("ulimit", "", "list", help="Ulimit options"),
    Flag("user", "u", "str", "", help="Username or UID (format: <name|uid>[:<group|gid>])"),
    Flag("uts", "", "str", "", help="UTS namespace to use"),
    Flag("volume", "v", "list", help="Bind mount a volume"),
    Flag("volume-driver", "", "str", "", help="Optional volume driver for the container"),
    Flag("volumes-from", "", "list", help="Mount volumes from the specified container(s)"),
    Flag("mount", "", "list", help="Attach a filesystem mount to the container"),
    Flag("workdir", "w", "str", "", help="Working directory inside the container"),
    # resources, namespaces and networking (issue 12): encoded as cli/command/container/opts.go
    Flag("annotation", "", "list", help="Add an annotation to the container", metavar="map"),
    Flag(
        "blkio-weight",
        "",
        "int",
        0,
        help="Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)",
        metavar="uint16",
    ),
    Flag("blkio-weight-device", "", "list", help="Block IO weight (relative device weight)"),
    Flag("cgroup-parent", "", "str", "", help="Optional parent cgroup for the container"),
    Flag("cidfile", "", "str", "", help="Write the container ID to the file"),
    Flag("cpu-period", "", "int", 0, help="Limit CPU CFS (Completely Fair Scheduler) period"),
    Flag("cpu-quota", "", "int", 0, help="Limit CPU CFS (Completely Fair Scheduler) quota"),
    Flag("cpu-rt-period", "", "int", 0, help="Limit CPU real-time period in microseconds"),
    Flag("cpu-rt-runtime", "", "int", 0, help="Limit CPU real-time runtime in microseconds"),
    Flag("cpuset-cpus", "", "str", "", help="CPUs in which to allow execution (0-3, 0,1)"),
    Flag("cpuset-mems", "", "str", "", help="MEMs in which to allow execution (0-3, 0,1)"),
    Flag("device-cgroup-rule", "", "list", help="Add a rule to the cgroup allowed devices list"),
    Flag("device-read-bps", "", "list", help="Limit read rate (bytes per second) from a device"),
    Flag("device-read-iops", "", "list", help="Limit read rate (IO per second) from a device"),
    Flag("device-write-bps", "", "list", help="Limit write rate (bytes per second) to a device"),
    Flag("device-write-iops", "", "list", help="Limit write rate (IO per second) to a device"),
    Flag("dns-option", "", "list", help="Set DNS options"),
    Flag("dns-search", "", "list", help="Set custom DNS search domains"),
    Flag("domainname", "", "str", "", help="Container NIS domain name"),
    Flag(
        "gpus",
        "",
        "list",
        help="GPU devices to add to the container ('all' to pass all GPUs)",
        metavar="gpu-request",
    ),
    Flag("group-add", "", "list", help="Add additional groups to join"),
    Flag("ip6", "", "str", "", help="IPv6 address (e.g., 2001:db8::33)"),
    Flag("isolation", "", "str", "", help="Container isolation technology"),
    Flag("link", "", "list", help="Add link to another container"),
    Flag("link-local-ip", "", "list", help="Container IPv4/IPv6 link-local addresses"),
    Flag("memory-reservation", "", "str", "", help="Memory soft limit", metavar="bytes"),
    Flag(
        "memory-swappiness",
        "",
        "int",
        -1,
        help="Tune container memory swappiness (0 to 100) (default -1)",
    ),
    Flag("oom-kill-disable", "", help="Disable OOM Killer"),
    Flag("oom-score-adj", "", "int", 0, help="Tune host's OOM preferences (-1000 to 1000)"),
    Flag("publish-all", "P", help="Publish all exposed ports to random ports"),
    Flag("quiet", "q", help="Suppress the pull output"),
    Flag("runtime", "", "str", "", help="Runtime to use for this container"),
    Flag("storage-opt", "", "list", help="Storage driver options for the container"),
    Flag("userns", "", "str", "", help="User namespace to use"),
]
# --help lists the flags in docker's (alphabetical) order
CREATE_FLAGS.sort(key=lambda f: f.long)


def env_value(item: str) -> str:
    """docker's ValidateEnv: "FOO" alone takes FOO from this environment when it is set."""
    if "=" in item:
        return item
    val = os.environ.get(item)
    return f"{item}={val}" if val is not None else item


def read_kv_file(path: str) -> list[str]:
    """Lines of an --env-file / --label-file, minus blanks and comments."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as exc:
        raise StatusError(125, f"open {path}: {(exc.strerror or str(exc)).lower()}") from None
    out = []
    for line in lines:
        line = line.lstrip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


def _ports(cmd: Command, specs: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    exposed: dict[str, Any] = {}
    bindings: dict[str, list[dict[str, str]]] = {}
    for spec in specs:
        body, _, proto = spec.partition("/")
        proto = proto or "tcp"
        if body.startswith("["):  # [::1]:8080:80
            end = body.index("]")
            ip, rest = body[1:end], body[end + 2 :]
            parts = [ip, *rest.split(":")]
        else:
            parts = body.split(":")
        if len(parts) == 1:
            ip, host, cport = "", "", parts[0]
        elif len(parts) == 2:
            ip, (host, cport) = "", parts
        elif len(parts) == 3:
            ip, host, cport = parts
        else:
            raise cmd.usage_error(f'invalid argument "{spec}" for "-p, --publish" flag')
        if not cport or not cport.replace("-", "").isdigit():
            raise cmd.usage_error(f'invalid argument "{spec}" for "-p, --publish" flag')
        key = f"{cport}/{proto}"
        exposed[key] = {}
        bindings.setdefault(key, []).append({"HostIp": ip, "HostPort": host})
    return exposed, bindings


def _healthcheck(cmd: Command, opts: SimpleNamespace) -> dict[str, Any] | None:
    """The docker CLI's HealthConfig from the --health-* flags (None: the image's)."""
    from berth.cli.units import parse_go_duration

    durations: dict[str, int] = {}
    for key, flag in (
        ("Interval", "health_interval"),
        ("Timeout", "health_timeout"),
        ("StartPeriod", "health_start_period"),
        ("StartInterval", "health_start_interval"),
    ):
        text = getattr(opts, flag)
        if not text:
            durations[key] = 0
            continue
        secs = parse_go_duration(text)
        name = "--" + flag.replace("_", "-")
        if secs is None:
            raise cmd.usage_error(f'invalid argument "{text}" for "{name}" flag: time: invalid '
                                  f'duration "{text}"')  # fmt: skip
        if secs < 0:
            raise cmd.usage_error(f"{name} cannot be negative")
        durations[key] = round(secs * 1_000_000_000)
    have = bool(opts.health_cmd or any(durations.values()) or opts.health_retries)
    if opts.no_healthcheck:
        if have:
            raise cmd.usage_error("--no-healthcheck conflicts with --health-* options")
        return {"Test": ["NONE"]}
    if not have:
        return None
    if opts.health_retries < 0:
        raise cmd.usage_error("--health-retries cannot be negative")
    test = ["CMD-SHELL", opts.health_cmd] if opts.health_cmd else None
    return {"Test": test, **durations, "Retries": opts.health_retries}


def build(cmd: Command, opts: SimpleNamespace, args: list[str], detach: bool) -> dict[str, Any]:
    """The create body for these flags; args is IMAGE [COMMAND] [ARG...]."""
    from berth.cli.commands import mountspec
    from berth.cli.commands.hostconfig import host_config

    image, command = args[0], args[1:]
    a_in, a_out, a_err = _attach(cmd, opts, detach)
    env, labels = _env(opts), _labels(opts)
    config: dict[str, Any] = {
        "Hostname": opts.hostname,
        "User": opts.user,
        "AttachStdin": a_in,
        "AttachStdout": a_out,
        "AttachStderr": a_err,
        "Tty": opts.tty,
        "OpenStdin": opts.interactive,
        "StdinOnce": bool(opts.interactive and a_in and not detach),
        "Env": env,
        "Cmd": command or None,
        "Image": image,
        "WorkingDir": opts.workdir,
        "Entrypoint": None if opts.entrypoint is None else [opts.entrypoint],
        "Labels": labels,
    }
    apply(cmd, opts, config, _STOP)
    health = _healthcheck(cmd, opts)
    if health is not None:
        config["Healthcheck"] = health
    exposed, bindings = _ports(cmd, opts.publish)
    for e in opts.expose:
        exposed[e if "/" in e else e + "/tcp"] = {}
    if exposed:
        config["ExposedPorts"] = exposed
    binds, volumes = mountspec.split_volumes(opts.volume)
    if volumes:
        config["Volumes"] = volumes
    host = host_config(cmd, opts, config, binds, bindings)
    config["HostConfig"] = host
    return config


_STOP = (Field("stop_signal", "StopSignal"), Field("stop_timeout", "StopTimeout", unset=None))


def _attach(cmd: Command, opts: SimpleNamespace, detach: bool) -> tuple[bool, bool, bool]:
    """(stdin, stdout, stderr) to attach: -a picks them, -d none, else stdout and stderr."""
    attach = [a.lower() for a in opts.attach]
    for a in attach:
        if a not in ("stdin", "stdout", "stderr"):
            raise cmd.usage_error(f"invalid argument {a!r} for -a: must be stdin, stdout, stderr")
    if detach and attach:
        raise cmd.usage_error("Conflicting options: -a and -d")
    if detach:
        return False, False, False
    if attach:
        return ("stdin" in attach), ("stdout" in attach), ("stderr" in attach)
    return opts.interactive, True, True


def _env(opts: SimpleNamespace) -> list[str]:
    env: list[str] = []
    for path in opts.env_file:
        env += [env_value(x) for x in read_kv_file(path)]
    return env + [env_value(e) for e in opts.env]


def _labels(opts: SimpleNamespace) -> dict[str, str]:
    labels: dict[str, str] = {}
    for item in [*(x for p in opts.label_file for x in read_kv_file(p)), *opts.label]:
        k, _, v = item.partition("=")
        labels[k] = v
    return labels
