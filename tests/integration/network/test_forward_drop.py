"""berth's networks on a host whose FORWARD policy is DROP (what dockerd, ufw and firewalld
leave behind), with bridged traffic passing iptables (bridge-nf-call-iptables=1).

berthd runs inside a network namespace of the test's own ("the host"), whose firewall the
test sets to DROP; a second namespace plays the outside world, joined to the host by a veth
pair on a private /30. Nothing here touches the real host's firewall."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import IS_ROOT, Daemon, Docker, docker_for, own_daemon
from tests.integration.network.conftest import (
    HOST_IP,
    HOST_NS,
    OUT_NS,
    OUTSIDE_IP,
    NetnsDaemon,
    _sh,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not IS_ROOT, reason="needs root"),
    pytest.mark.skipif(not shutil.which("iptables"), reason="needs iptables"),
    pytest.mark.skipif(not shutil.which("ip"), reason="needs iproute2"),
]


@pytest.fixture(scope="module")
def fwd(hosts: None, busybox_tar: Path) -> Iterator[tuple[Daemon, Docker]]:
    # berthd's mounts are in the mount namespace `ip netns exec` gave it: none to check here
    with own_daemon(busybox_tar, make=lambda root: NetnsDaemon(root, HOST_NS),
                    check_mounts=False) as d:  # fmt: skip
        yield d, docker_for(d)


def _ok(r: subprocess.CompletedProcess[bytes]) -> str:
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout.decode()


def _server(docker: Docker, *args: str) -> str:
    """A busybox httpd on port 8080 serving the page "hello"; its id."""
    script = "mkdir -p /www && echo hello > /www/index.html && exec httpd -f -p 8080 -h /www"
    return _ok(docker("run", "-d", *args, "busybox", "sh", "-c", script)).strip()


def _fetch(docker: Docker, net: str, url: str) -> str:
    """What a container on NET gets from URL ("" when it gets nothing in 5 s). busybox's
    `wget -T` dies of SIGSEGV as pid 1, and a pid 1 cannot be killed from inside its own
    namespace: sh stays pid 1 and times wget out."""
    r = docker("run", "--rm", "--network", net, "busybox", "sh", "-c",
               f"timeout -s KILL 5 wget -qO- {url}; true")  # fmt: skip
    return _ok(r)


def _wait_serving(docker: Docker, net: str, url: str) -> str:
    deadline = time.monotonic() + 15
    while not (got := _fetch(docker, net, url)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return got


def test_the_namespace_really_drops_forwarded_traffic(hosts: None) -> None:
    assert "-P FORWARD DROP" in _sh("iptables", "-w", "-S", "FORWARD", ns=HOST_NS)
    assert _sh("cat", "/proc/sys/net/bridge/bridge-nf-call-iptables", ns=HOST_NS).strip() == "1"


def test_containers_of_one_network_reach_each_other(fwd: tuple[Daemon, Docker]) -> None:
    d, docker = fwd
    _ok(docker("network", "create", "bt-fw-net"))
    try:
        srv = _server(docker, "--network", "bt-fw-net", "--name", "bt-fw-srv")
        assert _wait_serving(docker, "bt-fw-net", "http://bt-fw-srv:8080/") == "hello\n"
        # the same without berth's ACCEPT for the bridge: the DROP policy bites, so the
        # success above is the rule's doing
        bridge = "br-" + _ok(docker("network", "inspect", "-f", "{{.Id}}", "bt-fw-net"))[:12]
        rule = next(
            line.split(" ", 2)[2]
            for line in _sh("iptables", "-w", "-S", "FORWARD", ns=HOST_NS).splitlines()
            if f"-i {bridge} -o {bridge}" in line
        )
        _sh("sh", "-c", f"iptables -w -D FORWARD {rule}", ns=HOST_NS)
        try:
            assert _fetch(docker, "bt-fw-net", "http://bt-fw-srv:8080/") == ""
        finally:
            _sh("sh", "-c", f"iptables -w -A FORWARD {rule}", ns=HOST_NS)
        _ok(docker("rm", "-f", srv))
    finally:
        d.remove_all_containers()
        docker("network", "rm", "bt-fw-net")
    # the network's rules went with it
    assert bridge not in _sh("iptables", "-w", "-S", "FORWARD", ns=HOST_NS)


def test_default_bridge_reaches_the_outside_and_a_published_port_is_served(
    fwd: tuple[Daemon, Docker], tmp: Path
) -> None:
    d, docker = fwd
    www = tmp / "www"
    www.mkdir()
    (www / "index.html").write_text("outside\n")
    busybox = shutil.which("busybox") or "/bin/busybox"
    outside = subprocess.Popen(
        ["ip", "netns", "exec", OUT_NS, busybox, "httpd", "-f", "-p", f"{OUTSIDE_IP}:8081",
         "-h", str(www)],
    )  # fmt: skip
    try:
        url = f"http://{OUTSIDE_IP}:8081/"
        assert _wait_serving(docker, "bridge", url) == "outside\n"
        srv = _server(docker, "-p", "18080:8080")
        deadline = time.monotonic() + 15
        while True:
            r = subprocess.run(
                ["ip", "netns", "exec", OUT_NS, busybox, "timeout", "-s", "KILL", "5", busybox,
                 "wget", "-qO-", f"http://{HOST_IP}:18080/"],
                capture_output=True, text=True, timeout=30,
            )  # fmt: skip
            if r.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert r.stdout == "hello\n", r.stderr
        _ok(docker("rm", "-f", srv))
    finally:
        outside.kill()
        outside.wait()
        d.remove_all_containers()
