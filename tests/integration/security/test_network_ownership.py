"""Berth touches only the host objects it made: a bridge it adopted by name
(com.docker.network.bridge.name) outlives `docker network rm`, with the addresses and
iptables rules that are not berth's; a link that is not a bridge is refused, untouched;
a bridge berth made goes with its network, also after a daemon restart.

The host links are made here with `ip` (unique bt* names, always deleted afterwards).
No traffic: the container's veth on the bridge shows the bridge was used."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IS_ROOT, Daemon

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not IS_ROOT, reason="needs root"),
    pytest.mark.skipif(not shutil.which("docker"), reason="needs the docker CLI"),
    pytest.mark.skipif(not shutil.which("ip"), reason="needs iproute2"),
]

Run = Callable[..., subprocess.CompletedProcess[bytes]]
_OPT = "com.docker.network.bridge.name"
# a third octet of this session's own, so that concurrent sessions pick other subnets
_OCTET = os.getpid() % 200 + 20


def _name(tag: str) -> str:
    return f"bt{tag}{uuid.uuid4().hex[:8]}"  # at most 15 characters, as link names are


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)


def _link(name: str) -> dict[str, Any] | None:
    """`ip -d link show NAME` as JSON (None: no such link)."""
    p = _ip("-j", "-d", "link", "show", "dev", name)
    if p.returncode != 0:
        return None
    links = json.loads(p.stdout)
    return links[0] if links else None


def _kind(link: dict[str, Any]) -> str:
    return str(link.get("linkinfo", {}).get("info_kind", ""))


def _addresses(name: str) -> list[str]:
    p = _ip("-j", "-4", "addr", "show", "dev", name)
    return [
        f"{a['local']}/{a['prefixlen']}"
        for i in json.loads(p.stdout or "[]")
        for a in i["addr_info"]
    ]


def _ports(name: str) -> list[str]:
    p = _ip("-j", "link", "show", "master", name)
    return [i["ifname"] for i in json.loads(p.stdout or "[]")]


@contextlib.contextmanager
def host_bridge(address: str = "") -> Iterator[str]:
    """A bridge made by the host's admin (this test), up, with ADDRESS if given, and an MTU
    of its own (berth sets 1500 on the bridges it makes)."""
    name = _name("hb")
    assert _ip("link", "add", name, "type", "bridge").returncode == 0
    try:
        if address:
            assert _ip("addr", "add", address, "dev", name).returncode == 0
        assert _ip("link", "set", name, "mtu", "1400", "up").returncode == 0
        yield name
    finally:
        _ip("link", "del", name)


@contextlib.contextmanager
def host_non_bridge() -> Iterator[str]:
    """A link that is not a bridge: a dummy, or one end of a veth pair on a kernel
    without the dummy driver."""
    name = _name("nb")
    if _ip("link", "add", name, "type", "dummy").returncode != 0:
        p = _ip("link", "add", name, "type", "veth", "peer", "name", name + "p")
        assert p.returncode == 0, p.stderr
    try:
        yield name
    finally:
        _ip("link", "del", name)


def _iptables(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["iptables", "-w", *args], capture_output=True, text=True, timeout=30)


def _rules_naming(name: str) -> list[str]:
    """Every iptables rule (filter and nat) that names the link NAME."""
    out = []
    for table in ("filter", "nat"):
        for line in _iptables("-t", table, "-S").stdout.splitlines():
            if name in line.split():
                out.append(f"{table} {line}")
    return out


def _ok(p: subprocess.CompletedProcess[bytes]) -> str:
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    return p.stdout.decode()


def _network(docker: Run, name: str) -> dict[str, Any]:
    return json.loads(_ok(docker("network", "inspect", name)))[0]  # type: ignore[no-any-return]


@contextlib.contextmanager
def network(docker: Run, *args: str) -> Iterator[str]:
    """`docker network create ARGS NAME`, removed afterwards if the test did not."""
    name = _name("n")
    _ok(docker("network", "create", *args, name))
    try:
        yield name
    finally:
        docker("network", "rm", name)


def _run_on(docker: Run, net: str) -> tuple[str, str]:
    """A running container on NET: (its IP address, its name)."""
    cname = _name("c")
    _ok(docker("run", "-d", "--name", cname, "--network", net, "busybox", "sleep", "60"))
    c = json.loads(_ok(docker("inspect", cname)))[0]
    return str(c["NetworkSettings"]["Networks"][net]["IPAddress"]), cname


def _no_berth_rules(name: str) -> bool:
    return shutil.which("iptables") is None or not any("berth:" in r for r in _rules_naming(name))


@pytest.mark.parametrize("own_address", [True, False], ids=["with-address", "bare"])
def test_adopted_bridge_survives_network_rm(docker: Run, own_address: bool) -> None:
    subnet = f"10.231.{_OCTET + (0 if own_address else 1)}"
    mine = f"{subnet}.1/24"
    with host_bridge(mine if own_address else "") as br:
        before = _link(br)
        assert before is not None
        foreign = ["-s", f"{subnet}.0/24", "!", "-o", br, "-j", "MASQUERADE"]
        has_ipt = shutil.which("iptables") is not None
        try:
            if has_ipt:
                # the admin's own rule, of the very shape berth adds: it must stay
                assert _iptables("-t", "nat", "-A", "POSTROUTING", *foreign).returncode == 0
            with network(docker, "--subnet", f"{subnet}.0/24", "-o", f"{_OPT}={br}") as net:
                ip, cname = _run_on(docker, net)
                assert ip.startswith(subnet + ".")
                assert _ports(br), "the container's veth is on the adopted bridge"
                assert _addresses(br) == [mine]  # berth added the gateway only to the bare one
                if has_ipt:
                    assert any("berth:" in r for r in _rules_naming(br))
                _ok(docker("rm", "-f", cname))
                _ok(docker("network", "rm", net))
            after = _link(br)
            assert after is not None, "berth deleted a bridge it did not create"
            assert after["ifindex"] == before["ifindex"] and _kind(after) == "bridge"
            assert after["mtu"] == before["mtu"]
            # the admin's address stays; the one berth put on the bare bridge goes
            assert _addresses(br) == ([mine] if own_address else [])
            if has_ipt:
                left = _rules_naming(br)
                assert not any("berth:" in r for r in left), left
                assert any(r.split()[3:] == foreign for r in left), left
        finally:
            if has_ipt:
                while _iptables("-t", "nat", "-D", "POSTROUTING", *foreign).returncode == 0:
                    pass


def test_a_link_that_is_not_a_bridge_is_refused(daemon: Daemon, docker: Run) -> None:
    with host_non_bridge() as link:
        before = _link(link)
        assert before is not None
        net = _name("n")
        try:
            p = docker("network", "create", "-o", f"{_OPT}={link}", net)
            assert p.returncode != 0
            assert f"existing interface {link} is not a bridge" in p.stderr.decode(), p.stderr
            st, body = daemon.api.call(
                "POST", "/networks/create", {"Name": net, "Options": {_OPT: link}}
            )
            assert st == 400 and body["message"] == f"existing interface {link} is not a bridge"
            assert net not in _ok(docker("network", "ls", "--format", "{{.Name}}")).split()
            after = _link(link)
            assert after is not None, "berth deleted a link it did not create"
            assert after["ifindex"] == before["ifindex"] and _kind(after) == _kind(before)
            assert "master" not in after and after["mtu"] == before["mtu"]
            assert after["flags"] == before["flags"] and _addresses(link) == []
            assert _no_berth_rules(link)
        finally:
            docker("network", "rm", net)


def test_a_bridge_berth_made_goes_with_its_network(docker: Run) -> None:
    with network(docker) as net:
        br = "br-" + _network(docker, net)["Id"][:12]
        assert (link := _link(br)) is not None and _kind(link) == "bridge"
        _, cname = _run_on(docker, net)
        _ok(docker("rm", "-f", cname))
        _ok(docker("network", "rm", net))
        assert _link(br) is None
        assert _no_berth_rules(br)


def test_a_default_bridge_that_is_not_a_bridge_is_refused(tmp_path: Path) -> None:
    with host_non_bridge() as link:
        before = _link(link)
        d = Daemon(tmp_path, ["--bridge", link])
        try:
            with pytest.raises(RuntimeError, match=f"existing interface {link} is not a bridge"):
                d.start()
            # one line of its own, no traceback
            assert "Traceback" not in d.log.read_text()
        finally:
            d.kill()
        after = _link(link)
        assert after is not None and before is not None
        assert (after["ifindex"], after["flags"], _addresses(link)) == (
            before["ifindex"],
            before["flags"],
            [],
        )


def test_ownership_survives_a_restart(fresh_daemon: Daemon) -> None:
    d = fresh_daemon

    def dk(*args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(["docker", *args], env=d.env, capture_output=True, timeout=60)

    with host_bridge() as adopted:
        with network(dk) as made, network(dk, "-o", f"{_OPT}={adopted}") as taken:
            br = "br-" + _network(dk, made)["Id"][:12]
            ipam = _network(dk, taken)["IPAM"]["Config"][0]
            # berth put the gateway on the bare bridge it adopted
            assert _addresses(adopted) == [f"{ipam['Gateway']}/{ipam['Subnet'].split('/')[1]}"]
            assert d.stop() == 0
            d.start()
            # both bridges are still there after the restart, and still told apart
            assert _link(br) is not None and _link(adopted) is not None
            _ok(dk("network", "rm", taken))
            _ok(dk("network", "rm", made))
            assert _link(br) is None
            after = _link(adopted)
            assert after is not None and _kind(after) == "bridge"
            assert _addresses(adopted) == [] and _no_berth_rules(adopted)
