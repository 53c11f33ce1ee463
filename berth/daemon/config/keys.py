"""daemon.json's keys as tables: those berth implements, the bridge's, those it reads but
does not implement, and what a SIGHUP may change."""

from __future__ import annotations

from typing import Any

# daemon.json key -> DaemonConfig attribute
FILE_KEYS = {
    "hosts": "hosts",
    "group": "group",
    "data-root": "data_root",
    "exec-root": "exec_root",
    "pidfile": "pidfile",
    "debug": "debug",
    "log-level": "log_level",
    "labels": "labels",
    "cgroup-parent": "cgroup_parent",
    "bridge": "bridge",
    "tls": "tls",
    "tlsverify": "tlsverify",
    "tlscacert": "tlscacert",
    "tlscert": "tlscert",
    "tlskey": "tlskey",
    "insecure-registries": "insecure_registries",
    "registry-mirrors": "registry_mirrors",
    "max-concurrent-downloads": "max_concurrent_downloads",
    "max-concurrent-uploads": "max_concurrent_uploads",
    "seccomp-profile": "seccomp_profile",
    "policies": "policies",
    "shutdown-timeout": "shutdown_timeout",
    "live-restore": "live_restore",
    "shim-memory-merge": "shim_memory_merge",
    "log-format": "log_format",
    "log-driver": "log_driver",
    "log-opts": "log_opts",
    "dns": "dns",
    "dns-search": "dns_search",
    "dns-opts": "dns_opts",
    "default-ulimits": "default_ulimits",
    "default-shm-size": "default_shm_size",
    "default-ipc-mode": "default_ipc_mode",
    "default-cgroupns-mode": "default_cgroupns_mode",
    "resolv-conf": "resolv_conf",
    "exec-opts": "exec_opts",
    "features": "features",
    "metrics-addr": "metrics_addr",
}

# the bridge driver's daemon.json keys: handed to the network service as they are (it
# reads and checks them); a flag of the same name lands in args as "net_<key>"
NETWORK_KEYS = (
    "bip", "bip6", "default-address-pools", "icc", "ip-forward", "ip-masq", "iptables",
    "ip6tables", "userland-proxy", "userland-proxy-path", "ipv6", "fixed-cidr",
    "fixed-cidr-v6", "mtu", "default-gateway", "default-gateway-v6", "ip",
    "default-network-opts", "ip-forward-no-drop", "allow-direct-routing",
    "bridge-accept-fwmark", "firewall-backend", "network-control-plane-mtu",
    "host-gateway-ip", "host-gateway-ips",
)  # fmt: skip

# dockerd's keys (20.10 to 28) that berth reads but does not implement: key -> (the value
# berth behaves as, what berth does instead). Another value is logged as unsupported at
# start; dockerd would run with it, so refusing to start would break working configs.
UNSUPPORTED: dict[str, tuple[Any, str]] = {
    "authorization-plugins": ([], "no authorization plugin is consulted (see --policy)"),
    "storage-driver": ("overlay2", "berth stores images and containers with overlay2"),
    "storage-opts": ([], "overlay2 runs without options"),
    "experimental": (False, "berth has no experimental features"),
    "selinux-enabled": (False, "berth loads no SELinux labels"),
    "userns-remap": ("", "containers run without a user namespace remap"),
    "rootless": (False, "berthd runs as root"),
    "default-runtime": ("runc", "containers run on berth's builtin OCI executor"),
    "runtimes": ({}, "containers run on berth's builtin OCI executor"),
    "init": (False, "give --init per container"),
    "init-path": ("", "berth looks for tini-static or docker-init itself"),
    "default-init": ("", "berth looks for tini-static or docker-init itself"),
    "no-new-privileges": (False, "give --security-opt no-new-privileges per container"),
    "oom-score-adjust": (0, "berthd keeps its own OOM score"),
    "cpu-rt-period": (0, "no realtime CPU cgroup settings"),
    "cpu-rt-runtime": (0, "no realtime CPU cgroup settings"),
    "default-stop-timeout": (0, "containers stop after 10 s unless they set their own"),
    "max-download-attempts": (5, "a layer download is tried once"),
    "allow-nondistributable-artifacts": ([], "foreign layers are pulled from where they say"),
    "raw-logs": (False, "the text log has no colours anyway"),
    "api-cors-header": ("", "no CORS headers are sent"),
    "proxies": ({}, "pulls use the proxy environment of berthd"),
    "http-proxy": ("", "pulls use the proxy environment of berthd"),
    "https-proxy": ("", "pulls use the proxy environment of berthd"),
    "no-proxy": ("", "pulls use the proxy environment of berthd"),
    "builder": ({}, "the classic builder runs without garbage-collection settings"),
    "containerd": ("", "berth runs no containerd"),
    "containerd-namespace": ("", "berth runs no containerd"),
    "containerd-plugin-namespace": ("", "berth runs no containerd"),
    "cri-containerd": (False, "berth runs no containerd"),
    "cdi-spec-dirs": ([], "no CDI devices"),
    "nri-opts": ({}, "no NRI plugins"),
    "min-api-version": ("", "berth serves its own API version range"),
    "node-generic-resources": ([], "berth has no swarm mode"),
    "swarm-default-advertise-addr": ("", "berth has no swarm mode"),
    "swarm-raft-heartbeat-tick": (0, "berth has no swarm mode"),
    "swarm-raft-election-tick": (0, "berth has no swarm mode"),
    "network-diagnostic-port": (0, "berth has no network diagnostic server"),
    "cluster-store": ("", "berth has no cluster store (removed in dockerd 23)"),
    "cluster-store-opts": ({}, "berth has no cluster store (removed in dockerd 23)"),
    "cluster-advertise": ("", "berth has no cluster store (removed in dockerd 23)"),
    "graph": ("", 'use "data-root" (the key dockerd 23 removed)'),
}

# the network keys berth's bridge does not (yet) read: warned about like UNSUPPORTED
NETWORK_UNSUPPORTED = {
    "bip6": "", "ip6tables": False, "userland-proxy-path": "", "default-network-opts": {},
    "ip-forward-no-drop": False, "allow-direct-routing": False, "bridge-accept-fwmark": "",
    "firewall-backend": "", "network-control-plane-mtu": 0, "host-gateway-ip": "",
    "host-gateway-ips": [],
}  # fmt: skip

# dockerd's log drivers that berth does not have: a default of one of them is warned
# about and new containers log with json-file (dockerd would run with it)
FOREIGN_LOG_DRIVERS = frozenset(
    {"awslogs", "etwlogs", "fluentd", "gcplogs", "gelf", "journald", "logentries", "splunk",
     "syslog"}
)  # fmt: skip

# what SIGHUP applies to a running berthd (those of dockerd's live-reloadable options that
# berth has); a change to any other key is logged as needing a restart
RELOADABLE = (
    "debug",
    "log_level",
    "labels",
    "max_concurrent_downloads",
    "max_concurrent_uploads",
    "insecure_registries",
    "registry_mirrors",
    "shutdown_timeout",
    "live_restore",
)

# what each implemented daemon.json key must decode to (as dockerd's typed struct does)
TYPES: dict[str, type | tuple[type, ...]] = {
    "log_format": str, "log_driver": str, "log_opts": dict, "dns": list, "dns_search": list,
    "dns_opts": list, "default_ulimits": dict, "default_shm_size": (str, int),
    "default_ipc_mode": str, "default_cgroupns_mode": str, "resolv_conf": str,
    "exec_opts": list, "features": dict, "metrics_addr": str, "labels": list,
}  # fmt: skip


def file_key(attr: str) -> str:
    """The daemon.json key of a DaemonConfig attribute."""
    return next(k for k, a in FILE_KEYS.items() if a == attr)


def net_dest(key: str) -> str:
    """Where a network key's flag lands in the parsed arguments."""
    flag = "default-address-pool" if key == "default-address-pools" else key
    return "net_" + flag.replace("-", "_")
