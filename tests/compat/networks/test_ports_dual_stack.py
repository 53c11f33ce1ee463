"""Published ports on both 0.0.0.0 and [::], as dockerd 28 publishes them: docker ps
shows both bindings and both are served (only loopback traffic here); an explicit host
address publishes on that address alone."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests.compat.networks.conftest import out
from tests.conftest import Docker, docker_for, own_daemon

pytestmark = [
    pytest.mark.compat,
    pytest.mark.skipif(not os.path.exists("/proc/net/if_inet6"), reason="no IPv6 here"),
]


def _free_port() -> int:
    with socket.socket(socket.AF_INET6) as s6, socket.socket() as s4:
        s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s6.bind(("::", 0))
        port = int(s6.getsockname()[1])
        s4.bind(("0.0.0.0", port))
        return port


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as r:
        return str(r.read().decode().strip())


def test_both_families_published_and_served(cli: Docker) -> None:
    port = _free_port()
    cid = out(cli("run", "-d", "-p", f"{port}:80", "busybox",
                  "httpd", "-f", "-p", "80", "-h", "/etc"))  # fmt: skip
    shown = out(cli("ps", "--filter", f"id={cid}", "--format", "{{.Ports}}"))
    assert shown == f"0.0.0.0:{port}->80/tcp, [::]:{port}->80/tcp"
    ports = json.loads(out(cli("inspect", "-f", "{{json .NetworkSettings.Ports}}", cid)))
    assert ports["80/tcp"] == [
        {"HostIp": "0.0.0.0", "HostPort": str(port)},
        {"HostIp": "::", "HostPort": str(port)},
    ]
    assert _get(f"http://127.0.0.1:{port}/hostname") == cid[:12]
    assert _get(f"http://[::1]:{port}/hostname") == cid[:12]
    # a random port is the same on both sides
    rnd = out(cli("run", "-d", "-p", "80", "busybox", "sleep", "60"))
    both = json.loads(out(cli("inspect", "-f", "{{json .NetworkSettings.Ports}}", rnd)))
    assert len({b["HostPort"] for b in both["80/tcp"]}) == 1
    assert [b["HostIp"] for b in both["80/tcp"]] == ["0.0.0.0", "::"]


def test_explicit_address_publishes_that_family_alone(cli: Docker) -> None:
    port = _free_port()
    cid = out(cli("run", "-d", "-p", f"[::1]:{port}:80", "busybox",
                  "httpd", "-f", "-p", "80", "-h", "/etc"))  # fmt: skip
    shown = out(cli("ps", "--filter", f"id={cid}", "--format", "{{.Ports}}"))
    assert shown == f"[::1]:{port}->80/tcp"
    assert _get(f"http://[::1]:{port}/hostname") == cid[:12]
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_daemon_json_userland_proxy_off_and_iptables_off(busybox_tar: Path) -> None:
    """userland-proxy false: the port is held but not served on loopback by berthd;
    iptables false: berth adds no rules for its networks."""
    br = f"btu{os.getpid() % 100000}"
    cfg = {"userland-proxy": False, "iptables": False, "bridge": br}
    try:
        _proxy_off_iptables_off(busybox_tar, cfg, br)
    finally:
        subprocess.run(["ip", "link", "del", br], capture_output=True)


def _proxy_off_iptables_off(busybox_tar: Path, cfg: dict[str, object], br: str) -> None:
    with own_daemon(busybox_tar, daemon_json=cfg) as d:
        cli = docker_for(d)
        port = _free_port()
        out(cli("run", "-d", "-p", f"127.0.0.1:{port}:80", "busybox",
                "httpd", "-f", "-p", "80", "-h", "/etc"))  # fmt: skip
        with socket.socket() as s, pytest.raises(OSError):
            s.bind(("127.0.0.1", port))  # still held
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        rules = subprocess.run(["iptables", "-S"], capture_output=True, text=True).stdout
        rules += subprocess.run(
            ["iptables", "-t", "nat", "-S"], capture_output=True, text=True
        ).stdout
        assert br not in rules
