"""The runtime spec of a container's run, assembled in small steps (moby's `WithXxx`
SpecOpts in daemon/oci_linux.go): each step sets one aspect (the process, the default
mounts, the namespaces, the host options, the security settings, the resources, the log
rotation, --init, the user's mounts) on a RuntimeSpec.

The steps run in `STEPS`' order, which is also the order their refusals are checked in (an
unknown user before a network donor that is not running, before a bad device). The user's
mounts come last: acquiring a volume may mount it, and the run's release undoes that, so
nothing after it may fail."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from berth.engine.containers import hostopts, security, users
from berth.engine.containers import mounts as cmounts
from berth.engine.containers.model import Container
from berth.engine.errors import Conflict, SystemError_
from berth.runtime import spec as rt_spec

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_SHM = 64 * 1024 * 1024


@dataclass
class SpecEnv:
    """What the steps read besides the container itself."""

    lookup: Callable[[str], Container]  # another container, by name or id
    containers_dir: Path
    cgroup_path: str
    seccomp_profile: str  # berthd's --seccomp-profile
    find_init: Callable[[], str | None]
    network: Any = None  # the NetworkService (None: no networks)
    volumes: Any = None  # the VolumeService


SpecOpt = Callable[[rt_spec.RuntimeSpec, Container, SpecEnv], None]


def with_process(spec: rt_spec.RuntimeSpec, c: Container, env: SpecEnv) -> None:
    """The user (from the image's passwd), the environment, the working directory, the
    terminal, the host and domain name."""
    cfg, hc = c.config, c.host_config
    user = users.resolve(spec.rootfs, cfg.user, hc.group_add)
    spec.uid, spec.gid, spec.additional_gids = user.uid, user.gid, user.additional_gids
    spec.env = process_env(c, user.home)
    if env.network is not None:
        spec.env += env.network.link_env(c)  # legacy --link variables, made at attach
    spec.cwd = cfg.working_dir or "/"
    spec.tty = cfg.tty
    spec.console_size = console_size(hc.console_size)
    spec.hostname, spec.domainname = cfg.hostname, cfg.domainname


def process_env(c: Container, home: str) -> list[str]:
    """The container's environment with dockerd's defaults for what it leaves out."""
    cfg = c.config
    env = list(cfg.env or [])
    keys = {e.partition("=")[0] for e in env}
    if "PATH" not in keys:
        env.insert(0, DEFAULT_PATH)
    if "HOSTNAME" not in keys:
        env.append(f"HOSTNAME={cfg.hostname}")
    if cfg.tty and "TERM" not in keys:
        env.append("TERM=xterm")
    if "HOME" not in keys:
        env.append(f"HOME={home}")
    return env


def console_size(size: list[int] | None) -> tuple[int, int] | None:
    if size and len(size) == 2 and size[0] > 0 and size[1] > 0:
        return int(size[0]), int(size[1])
    return None


def with_default_mounts(spec: rt_spec.RuntimeSpec, c: Container, env: SpecEnv) -> None:
    """The files berth writes for the container: /etc/hostname, /etc/hosts, resolv.conf."""
    spec.mounts += [
        rt_spec.BindMount(c.hostname_path, "/etc/hostname"),
        rt_spec.BindMount(c.hosts_path, "/etc/hosts"),
        rt_spec.BindMount(c.resolv_conf_path, "/etc/resolv.conf"),
    ]


def with_network_namespace(spec: rt_spec.RuntimeSpec, c: Container, env: SpecEnv) -> None:
    """The host's (--network host), another container's, or the netns the network service
    made for the container's networks."""
    mode = c.host_config.network_mode
    if mode == "host":
        # the shim's own netns is the host's; /proc/1 may be out of reach (a sandbox)
        spec.host_namespaces.append("network")
    elif mode.startswith("container:"):
        other = env.lookup(mode.partition(":")[2])
        if not other.state.running:
            raise Conflict(f"cannot join network of a non running container: {other.id}")
        spec.join_namespaces["network"] = f"/proc/{other.state.pid}/ns/net"
    elif c.networks:
        from berth.engine.network.bridge import netns_path

        spec.join_namespaces["network"] = netns_path(c.id)


def with_host_options(spec: rt_spec.RuntimeSpec, c: Container, env: SpecEnv) -> None:
    """The ipc/pid/uts/cgroup namespace modes, /dev/shm, ulimits, sysctls and devices."""
    fields = hostopts.runtime_fields(c, env.lookup, env.containers_dir)
    spec.join_namespaces.update(fields.pop("join_namespaces"))
    spec.host_namespaces = [*fields.pop("host_namespaces"), *spec.host_namespaces]
    for name, value in fields.items():
        setattr(spec, name, value)


def with_security(spec: rt_spec.RuntimeSpec, c: Container, env: SpecEnv) -> None:
    """Privileges, capabilities, no_new_privs, seccomp, masked and read-only paths."""
    hc = c.host_config
    spec.privileged = hc.privileged
    spec.readonly_rootfs = hc.readonly_rootfs
    spec.cap_add, spec.cap_drop = list(hc.cap_add or []), list(hc.cap_drop or [])
    conf = security.confinement(hc, env.seccomp_profile)
    spec.no_new_privileges = conf.no_new_privileges
    spec.seccomp = conf.seccomp
    if conf.unconfined_system_paths:
        spec.masked_paths, spec.readonly_paths = [], []
    else:
        spec.masked_paths, spec.readonly_paths = hc.masked_paths, hc.readonly_paths


def with_resources(spec: rt_spec.RuntimeSpec, c: Container, env: SpecEnv) -> None:
    """The cgroup and its limits (memory, CPU, pids), /dev/shm's size, the OOM score."""
    hc = c.host_config
    spec.cgroup_path = env.cgroup_path
    spec.memory = hc.memory or None
    spec.memory_swap = hc.memory_swap or None
    spec.memory_reservation = hc.memory_reservation or None
    spec.memory_swappiness = hc.memory_swappiness
    spec.oom_kill_disable = bool(hc.oom_kill_disable)
    spec.cpu_shares = hc.cpu_shares or None
    spec.cpu_quota, spec.cpu_period = cpu_quota(c)
    spec.cpuset_cpus = hc.cpuset_cpus or None
    spec.pids_limit = hc.pids_limit if hc.pids_limit and hc.pids_limit > 0 else None
    spec.shm_size = hc.shm_size or DEFAULT_SHM
    spec.oom_score_adj = hc.oom_score_adj


def cpu_quota(c: Container) -> tuple[int | None, int | None]:
    """(quota, period) in microseconds: --cpus as a quota of a 100 ms period, or the
    explicit --cpu-quota (and --cpu-period)."""
    hc = c.host_config
    if hc.nano_cpus:
        period = 100_000
        return int(hc.nano_cpus * period / 1_000_000_000), period
    if hc.cpu_quota:
        return hc.cpu_quota, hc.cpu_period or 100_000
    return None, None


def with_log_rotation(spec: rt_spec.RuntimeSpec, c: Container, env: SpecEnv) -> None:
    """The json-file rotation the shim applies, passed as annotations."""
    logf = hostopts.log_settings(c, env.containers_dir / c.id)
    if logf.max_size > 0:
        spec.annotations[hostopts.ANN_MAX_SIZE] = str(logf.max_size)
        spec.annotations[hostopts.ANN_MAX_FILE] = str(logf.max_file)


def with_init(spec: rt_spec.RuntimeSpec, c: Container, env: SpecEnv) -> None:
    """With --init, dockerd's init (tini) runs first as PID 1, read-only at
    /sbin/docker-init, to reap zombies and forward signals."""
    spec.args = [c.path, *c.args]
    if not c.host_config.init:
        return
    init = env.find_init()
    if init is None:
        raise SystemError_(
            '--init: no init binary found ("docker-init"): install Debian\'s tini '
            "package, which provides /usr/bin/tini-static"
        )
    spec.mounts.append(rt_spec.BindMount(init, rt_spec.INIT_PATH, readonly=True))
    spec.args = [rt_spec.INIT_PATH, "--", *spec.args]


def with_user_mounts(spec: rt_spec.RuntimeSpec, c: Container, env: SpecEnv) -> None:
    """Volumes, binds and tmpfs; a volume is acquired for the run here (so: last)."""
    spec.extra_mounts = cmounts.oci_mounts(
        cmounts.load(c.mount_points), c.host_config.tmpfs, env.volumes, c.id
    )


STEPS: tuple[SpecOpt, ...] = (
    with_process,
    with_default_mounts,
    with_network_namespace,
    with_host_options,
    with_security,
    with_resources,
    with_log_rotation,
    with_init,
    with_user_mounts,
)


def build(
    c: Container, rootfs: str, env: SpecEnv, steps: tuple[SpecOpt, ...] = STEPS
) -> rt_spec.RuntimeSpec:
    """The runtime spec of C's run on the mounted ROOTFS."""
    spec = rt_spec.RuntimeSpec(id=c.id, rootfs=rootfs, args=[c.path, *c.args], env=[])
    for step in steps:
        step(spec, c, env)
    return spec
