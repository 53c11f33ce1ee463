"""berth's networks on a host whose FORWARD policy is DROP (what dockerd, ufw and firewalld
leave behind), with bridged traffic passing iptables (bridge-nf-call-iptables=1), once
with each iptables a Debian host can have: iptables-nft (its default) and iptables-legacy.
berthd runs the `iptables` first on its PATH, as dockerd does; here that is the one under
test, and the host's own choice (its alternatives) is left alone.

berthd runs inside a network namespace of the test's own ("the host"), whose firewall the
test sets to DROP with the iptables under test; a second namespace plays the outside
world, joined to the host by a veth pair on a private /30. Nothing here touches the real
host's firewall."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.conftest import IS_ROOT, Daemon, Docker, docker_for, own_daemon
from tests.integration.network.conftest import (
    BACKENDS,
    HOST_IP,
    HOST_NS,
    OUT_NS,
    OUTSIDE_IP,
    NetnsDaemon,
    _sh,
    two_hosts,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not IS_ROOT, reason="needs root"),
    pytest.mark.skipif(not shutil.which("ip"), reason="needs iproute2"),
]


class Host(NamedTuple):
    d: Daemon
    docker: Docker
    iptables: str  # the iptables berthd runs
    other: str  # the one it must leave alone

    def rules(self, chain: str = "", table: str = "filter", iptables: str = "") -> str:
        """`iptables -S [CHAIN]` of TABLE in the host (with this iptables, or IPTABLES)."""
        argv = [iptables or self.iptables, "-w", "-t", table, "-S", *([chain] if chain else [])]
        return _sh(*argv, ns=HOST_NS)


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """The two hosts, their firewall set with the iptables under test."""
    iptables: str = request.param
    if shutil.which(iptables) is None:
        pytest.skip(f"needs {iptables} (Debian's iptables package)")
    if subprocess.run(["unshare", "-n", iptables, "-w", "-S"], capture_output=True).returncode:
        pytest.skip(f"{iptables} does not work on this kernel")
    with two_hosts(iptables):
        yield iptables


@pytest.fixture(scope="module")
def fwd(backend: str, busybox_tar: Path) -> Iterator[Host]:
    # berthd's mounts are in the mount namespace `ip netns exec` gave it: none to check here
    with own_daemon(busybox_tar, make=lambda root: NetnsDaemon(root, HOST_NS, backend),
                    check_mounts=False) as d:  # fmt: skip
        other = next(b for b in BACKENDS if b != backend)
        yield Host(d, docker_for(d), backend, other)


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


def test_the_namespace_really_drops_forwarded_traffic(fwd: Host) -> None:
    assert "-P FORWARD DROP" in fwd.rules("FORWARD")
    assert _sh("cat", "/proc/sys/net/bridge/bridge-nf-call-iptables", ns=HOST_NS).strip() == "1"


def test_containers_of_one_network_reach_each_other(fwd: Host) -> None:
    d, docker, iptables = fwd.d, fwd.docker, fwd.iptables
    _ok(docker("network", "create", "bt-fw-net"))
    try:
        srv = _server(docker, "--network", "bt-fw-net", "--name", "bt-fw-srv")
        assert _wait_serving(docker, "bt-fw-net", "http://bt-fw-srv:8080/") == "hello\n"
        # the same without berth's ACCEPT for the bridge: the DROP policy bites, so the
        # success above is the rule's doing
        bridge = "br-" + _ok(docker("network", "inspect", "-f", "{{.Id}}", "bt-fw-net"))[:12]
        rule = next(
            line.split(" ", 2)[2]
            for line in fwd.rules("FORWARD").splitlines()
            if f"-i {bridge} -o {bridge}" in line
        )
        _sh("sh", "-c", f"{iptables} -w -D FORWARD {rule}", ns=HOST_NS)
        try:
            assert _fetch(docker, "bt-fw-net", "http://bt-fw-srv:8080/") == ""
        finally:
            _sh("sh", "-c", f"{iptables} -w -A FORWARD {rule}", ns=HOST_NS)
        _ok(docker("rm", "-f", srv))
    finally:
        d.remove_all_containers()
        docker("network", "rm", "bt-fw-net")
    # the network's rules went with it
    assert bridge not in fwd.rules("FORWARD")


def test_default_bridge_reaches_the_outside_and_a_published_port_is_served(
    fwd: Host, tmp: Path
) -> None:
    d, docker = fwd.d, fwd.docker
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


def _chains_tagged(rules: str, tag: str) -> list[str]:
    """The chains of the `-S` lines tagged TAG (a rule's comment), sorted."""
    return sorted(ln.split()[1] for ln in rules.splitlines() if f'"{tag}"' in ln)


def test_the_rules_are_made_with_the_iptables_on_path_and_go_with_their_network(
    fwd: Host,
) -> None:
    d, docker = fwd.d, fwd.docker
    _ok(docker("network", "create", "bt-fw-rules"))
    try:
        net = _ok(docker("network", "inspect", "-f", "{{.Id}}", "bt-fw-rules")).strip()
        bridge, net_tag = f"br-{net[:12]}", f"berth:{net[:12]}"
        default = _ok(docker("network", "inspect", "-f", "{{.Id}}", "bridge")).strip()
        # each network's forwarding, isolation and masquerade, once each. berthd killed
        # (its default bridge's rules left, not taken away at a clean stop) and started
        # again makes sure of them and finds them (`-C`, as this iptables spells a rule)
        for _ in range(2):
            rules = fwd.rules() + fwd.rules(table="nat")
            for tag in (net_tag, f"berth:{default[:12]}"):
                assert _chains_tagged(rules, tag) == [
                    "BERTH-ISOLATION-STAGE-1", "BERTH-ISOLATION-STAGE-2",
                    "FORWARD", "FORWARD", "FORWARD", "FORWARD", "POSTROUTING",
                ], (tag, rules)  # fmt: skip
            d.kill()
            d.start()
        srv = _server(docker, "--network", "bt-fw-rules", "-p", "18082:8080")
        port_tag = f"berth:c:{srv[:12]}"
        # the container's DNAT (in nat BERTH), its ACCEPT (in filter BERTH) and its hairpin
        rules = fwd.rules() + fwd.rules(table="nat")
        assert _chains_tagged(rules, port_tag) == ["BERTH", "BERTH", "POSTROUTING"], rules
        assert any("--dport 18082 " in ln and "-j DNAT" in ln for ln in rules.splitlines())
        # the other iptables saw nothing of berth
        theirs = fwd.rules(iptables=fwd.other) + fwd.rules(table="nat", iptables=fwd.other)
        assert "berth:" not in theirs and "BERTH" not in theirs, theirs
        _ok(docker("rm", "-f", srv))
        rules = fwd.rules() + fwd.rules(table="nat")
        assert port_tag not in rules and net_tag in rules, rules
    finally:
        d.remove_all_containers()
        docker("network", "rm", "bt-fw-rules")
    # with the network and its bridge gone, none of its rules is left; berth's chains stay
    assert bridge not in _sh("ip", "-o", "link", "show", ns=HOST_NS)
    rules = fwd.rules() + fwd.rules(table="nat")
    assert net_tag not in rules and bridge not in rules, rules
    assert "-N BERTH-USER" in rules
