"""IPv6 networks: --ipv6 with an IPv6 subnet, --ip6, --link-local-ip and --mac-address,
dual-stack addresses in inspect, and the embedded DNS's AAAA, PTR and TCP answers."""

from __future__ import annotations

import ipaddress
import json
import os
import struct
import subprocess
import uuid

import pytest

from tests.compat.networks.conftest import out
from tests.conftest import Docker

pytestmark = [
    pytest.mark.compat,
    pytest.mark.skipif(not os.path.exists("/proc/net/if_inet6"), reason="no IPv6 here"),
]

_T = os.getpid() % 0xFFFF
SUB6 = f"fd00:{_T:x}:7::/64"
IP6 = f"fd00:{_T:x}:7::10"
GW6 = f"fd00:{_T:x}:7::1"
MAC = "02:42:ac:1e:00:99"


def _net(cli: Docker) -> str:
    name = "bt" + uuid.uuid4().hex[:8]
    out(cli("network", "create", "--ipv6", "--subnet", SUB6, "--subnet", "10.219.8.0/24", name))
    return name


def test_dual_stack_network_and_endpoint(cli: Docker) -> None:
    name = _net(cli)
    net = json.loads(out(cli("network", "inspect", name)))[0]
    assert net["EnableIPv6"] is True
    assert {"Subnet": SUB6, "Gateway": GW6} in net["IPAM"]["Config"]
    cid = out(cli(
        "run", "-d", "--network", name, "--ip6", IP6, "--mac-address", MAC,
        "--link-local-ip", "169.254.9.9", "busybox", "sleep", "60",
    ))  # fmt: skip
    addrs = out(cli("exec", cid, "ip", "addr", "show", "eth0"))
    assert f"inet6 {IP6}/64" in addrs and "inet 169.254.9.9/16" in addrs
    assert MAC in addrs
    ep = json.loads(out(cli("inspect", cid)))[0]["NetworkSettings"]["Networks"][name]
    assert ep["GlobalIPv6Address"] == IP6 and ep["GlobalIPv6PrefixLen"] == 64
    assert ep["IPv6Gateway"] == GW6 and ep["MacAddress"] == MAC
    assert ep["IPAMConfig"]["IPv6Address"] == IP6
    assert ep["IPAMConfig"]["LinkLocalIPs"] == ["169.254.9.9"]
    # the gateway on the bridge answers over IPv6 (traffic stays on the test's bridge)
    out(cli("exec", cid, "ping", "-c1", "-W5", GW6))
    attached = json.loads(out(cli("network", "inspect", name)))[0]["Containers"][cid]
    assert attached["IPv6Address"] == f"{IP6}/64"
    # an address outside the network's subnets is refused
    bad = cli("run", "--rm", "--network", name, "--ip6", "fd99::5", "busybox", "true")
    assert bad.returncode != 0 and "does not belong" in bad.stderr.decode()
    bad = cli("run", "--rm", "--network", name, "--mac-address", "zz:1", "busybox", "true")
    assert bad.returncode != 0


def _tcp_query(netns: str, qname: str, qtype: int) -> bytes:
    """One DNS query over TCP to 127.0.0.11 from inside NETNS (a python run there)."""
    q = struct.pack("!HHHHHH", 7, 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(p)]) + p.encode() for p in qname.split(".")) + b"\0"
    q += struct.pack("!HH", qtype, 1)
    prog = (
        "import socket,sys;s=socket.create_connection(('127.0.0.11',53),5);"
        f"q=bytes.fromhex('{q.hex()}');s.sendall(len(q).to_bytes(2,'big')+q);"
        "n=int.from_bytes(s.recv(2),'big');d=b''\n"
        "while len(d)<n: d+=s.recv(n-len(d))\n"
        "sys.stdout.write(d.hex())"
    )
    p = subprocess.run(
        ["ip", "netns", "exec", netns, "python3", "-c", prog],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    return bytes.fromhex(p.stdout)


def test_embedded_dns_aaaa_ptr_and_tcp(cli: Docker) -> None:
    name = _net(cli)
    web = out(cli("run", "-d", "--name", "bt6web", "--network", name, "--ip6", IP6,
                  "busybox", "sleep", "60"))  # fmt: skip
    ip4 = out(cli("inspect", "-f", f'{{{{(index .NetworkSettings.Networks "{name}").IPAddress}}}}',
                  web))  # fmt: skip
    other = out(cli("run", "-d", "--network", name, "busybox", "sleep", "60"))
    aaaa = out(cli("exec", other, "nslookup", "-type=AAAA", "bt6web", "127.0.0.11"))
    assert IP6 in aaaa, aaaa
    a = out(cli("exec", other, "nslookup", "-type=A", "bt6web", "127.0.0.11"))
    assert ip4 in a and IP6 not in a
    ptr = out(cli("exec", other, "nslookup", ip4, "127.0.0.11"))
    assert f"bt6web.{name}" in ptr, ptr
    reply = _tcp_query(f"berth-{other[:12]}", "bt6web", 28)
    assert struct.unpack("!H", reply[6:8])[0] == 1  # one answer
    assert reply[-16:] == ipaddress.IPv6Address(IP6).packed
