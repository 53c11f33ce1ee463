"""daemon.json: the container defaults (log driver and options, DNS, ulimits, /dev/shm),
exec-opts, features and the keys berth accepts without implementing them, each checked
by its effect through the docker CLI and docker-py; `berthd --validate`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.compat.daemon._util import log_has, ok, wait_for
from tests.conftest import REPO, Daemon, docker_for, needs_root, own_daemon

pytestmark = pytest.mark.compat


def validate(tmp: Path, cfg: dict[str, Any], *flags: str) -> subprocess.CompletedProcess[str]:
    f = tmp / "daemon.json"
    f.write_text(json.dumps(cfg))
    return subprocess.run(
        [sys.executable, "-m", "berth.daemon.main", "--config-file", str(f), "--validate", *flags],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("cfg", "flags", "error"),
    [
        ({"exec-opts": ["native.cgroupdriver=systemd"]}, (), "berth has no systemd cgroup driver"),
        ({"exec-opts": ["native.cgroupdriver"]}, (), "must be formatted 'opt=value'"),
        ({"exec-opts": ["isolation=hyperv"]}, (), "only supported on windows"),
        ({"log-opts": {"bogus": "1"}}, (), "unknown log opt 'bogus' for json-file log driver"),
        ({"log-driver": "nope"}, (), "no log driver named 'nope' is registered"),
        ({"log-driver": "local", "log-opts": {"max-size": "x"}}, (), "failed to set log opts"),
        ({"dns": ["not-an-ip"]}, (), "IP address is not correctly formatted: not-an-ip"),
        ({"dns-search": ["-bad-"]}, (), "-bad- is not a valid domain"),
        ({"default-ulimits": {"nofile": {"Soft": 10, "Hard": 5}}}, (), "soft limit"),
        ({"default-shm-size": "lots"}, (), "invalid default-shm-size"),
        ({"default-ipc-mode": "host"}, (), "not supported as default value"),
        ({"default-cgroupns-mode": "x"}, (), "invalid default cgroup namespace"),
        ({"log-format": "xml"}, (), "invalid log format: xml"),
        ({"labels": ["com.docker.x=1"]}, (), "reserved for internal use"),
        ({"metrics-addr": "nowhere"}, (), "invalid metrics-addr"),
        ({"no-such-key": 1}, (), "don't match any configuration option: no-such-key"),
        ({"dns": ["1.1.1.1"]}, ("--dns", "8.8.8.8"), "both as a flag and in the configuration"),
    ],
)
def test_validate_refuses_as_dockerd(
    tmp: Path, cfg: dict[str, Any], flags: tuple[str, ...], error: str
) -> None:
    r = validate(tmp, cfg, *flags)
    assert r.returncode == 1, r
    assert error in r.stderr
    assert "configuration OK" not in r.stderr


def test_validate_accepts_every_kind_of_key(tmp: Path) -> None:
    cfg = {
        "log-driver": "local",
        "log-opts": {"max-size": "5m", "max-file": "2"},
        "dns": ["9.9.9.9"],
        "exec-opts": ["native.cgroupdriver=cgroupfs"],
        "features": {"buildkit": True},
        "metrics-addr": "127.0.0.1:9323",
        "bip": "10.123.0.1/24",
        "icc": False,
        "selinux-enabled": True,
        "storage-driver": "overlay2",
        "swarm-default-advertise-addr": "",
        "log-format": "json",
    }
    r = validate(tmp, cfg)
    assert r.returncode == 0, r
    assert r.stderr.strip().endswith("configuration OK")
    # accepted, and named as unsupported; a value berth behaves as is not
    assert '"selinux-enabled" is not supported by berth' in r.stderr
    assert '"buildkit": true is not supported' in r.stderr
    assert "storage-driver" not in r.stderr


def test_foreign_log_driver_is_a_warning(tmp: Path) -> None:
    r = validate(tmp, {"log-driver": "syslog", "log-opts": {"syslog-address": "udp://x:514"}})
    assert r.returncode == 0, r
    assert 'log-driver "syslog" is not supported by berth' in r.stderr


DEFAULTS = {
    "log-driver": "local",
    "log-opts": {"max-size": "5m", "max-file": "2"},
    "dns": ["192.0.2.53"],
    "dns-search": ["example.org"],
    "dns-opts": ["ndots:3"],
    "default-ulimits": {"nofile": {"Name": "nofile", "Soft": 1111, "Hard": 2222}},
    "default-shm-size": "96M",
    "exec-opts": ["native.cgroupdriver=cgroupfs"],
    "features": {"buildkit": True},
    "labels": ["tier=test"],
    "selinux-enabled": True,
}


@needs_root
def test_container_defaults(busybox_tar: Path) -> None:
    import docker as dockerpy

    with own_daemon(busybox_tar, daemon_json=DEFAULTS) as d:
        docker = docker_for(d)
        out = ok(
            docker(
                "run", "--rm", "busybox", "sh", "-c",
                "cat /etc/resolv.conf; ulimit -n; ulimit -Hn; df -k /dev/shm | tail -1",
            )
        )  # fmt: skip
        assert "nameserver 192.0.2.53" in out
        assert "search example.org" in out
        assert "options ndots:3" in out
        lines = out.splitlines()
        i = lines.index("1111")
        assert lines[i + 1] == "2222"
        assert lines[i + 2].split()[1] == str(96 * 1024)
        # the container's own values win over the daemon's
        out = ok(
            docker(
                "run", "--rm", "--dns", "192.0.2.1", "--ulimit", "nofile=50:60",
                "--shm-size", "8m", "busybox", "sh", "-c",
                "cat /etc/resolv.conf; ulimit -n; df -k /dev/shm | tail -1",
            )
        )  # fmt: skip
        assert "nameserver 192.0.2.1" in out and "192.0.2.53" not in out
        assert "50" in out.splitlines()
        assert out.splitlines()[-1].split()[1] == str(8 * 1024)

        # inspect shows the daemon's log driver with its options merged in
        cid = ok(docker("create", "busybox", "true")).strip()
        lc = json.loads(ok(docker("inspect", "-f", "{{json .HostConfig.LogConfig}}", cid)))
        assert lc == {"Type": "local", "Config": {"max-size": "5m", "max-file": "2"}}
        # another driver does not get them (local's options would be wrong for it)
        cid = ok(docker("create", "--log-driver", "json-file", "busybox", "true")).strip()
        lc = json.loads(ok(docker("inspect", "-f", "{{json .HostConfig.LogConfig}}", cid)))
        assert lc["Type"] == "json-file" and lc["Config"] in ({}, None)

        # docker-py leaves LogConfig and ShmSize out of the body: the defaults apply too
        client = dockerpy.DockerClient(base_url=d.host)
        try:
            c = client.containers.create("busybox", "true")
            hc = c.attrs["HostConfig"]
            assert hc["LogConfig"]["Type"] == "local"
            assert hc["ShmSize"] == 96 * 1024 * 1024
            info = client.info()
            assert info["LoggingDriver"] == "local"
            assert info["Labels"] == ["tier=test"]
            assert info["CgroupDriver"] == "cgroupfs"
        finally:
            client.close()
        # accepted with a warning naming what berth does not do
        assert log_has(d.log, '"selinux-enabled" is not supported by berth')()
        assert log_has(d.log, '"buildkit": true is not supported')()


@needs_root
def test_logs_of_a_default_local_driver(busybox_tar: Path) -> None:
    with own_daemon(busybox_tar, daemon_json={"log-driver": "local"}) as d:
        docker = docker_for(d)
        cid = ok(docker("run", "-d", "busybox", "echo", "hello-local")).strip()
        ok(docker("wait", cid))
        assert "hello-local" in ok(docker("logs", cid))
        local = d.data_root / "containers" / cid / "local-logs" / "container.log"
        assert wait_for(local.exists, "the local driver's file")


@needs_root
def test_systemd_cgroup_driver_refused_at_start(tmp: Path) -> None:
    d = Daemon(tmp)
    (tmp / "daemon.json").write_text(json.dumps({"exec-opts": ["native.cgroupdriver=systemd"]}))
    r = subprocess.run(d.argv(), capture_output=True, text=True, cwd=REPO, timeout=60)
    assert r.returncode == 1
    assert "native.cgroupdriver option systemd not supported" in r.stderr
    assert not d.data_root.exists()  # refused before anything was made


@needs_root
def test_network_keys_reach_the_engine(busybox_tar: Path) -> None:
    """The bridge keys start berthd and are logged as nothing else (the network service
    reads them); a key berth's bridge does not read is named."""
    cfg = {"mtu": 1400, "icc": True, "ip-masq": True, "ip6tables": True}
    with own_daemon(None, daemon_json=cfg) as d:
        assert d.api.call("GET", "/_ping")[0] == 200
        text = d.log.read_text()
        assert '"ip6tables" is not supported' in text
        assert '"mtu"' not in text
