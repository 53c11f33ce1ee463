"""Two hosts of the test's own for the network tests: berthd runs inside a network
namespace ("the host") whose firewall the tests set, and a second namespace plays another
host, joined to the first by a veth pair on a private /30. Nothing here touches the real
host's firewall."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Daemon

_TAG = os.getpid() % 10000
HOST_NS, OUT_NS = f"bt-fwh{_TAG}", f"bt-fwo{_TAG}"
_NET = f"10.253.{_TAG % 250}"
HOST_IP, OUTSIDE_IP = f"{_NET}.1", f"{_NET}.2"


def _sh(*argv: str, ns: str | None = None, check: bool = True) -> str:
    pre = ["ip", "netns", "exec", ns] if ns else []
    p = subprocess.run([*pre, *argv], capture_output=True, text=True, timeout=30)
    if check and p.returncode != 0:
        raise AssertionError(f"{argv}: {p.stderr}")
    return p.stdout


class NetnsDaemon(Daemon):
    """A berthd started inside network namespace NS."""

    def __init__(self, root: Path, ns: str) -> None:
        super().__init__(root)
        self.ns = ns

    def argv(self) -> list[str]:
        return ["ip", "netns", "exec", self.ns, *super().argv()]


@pytest.fixture(scope="module")
def hosts() -> Iterator[None]:
    for ns in (HOST_NS, OUT_NS):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    try:
        _sh("ip", "netns", "add", HOST_NS)
        _sh("ip", "netns", "add", OUT_NS)
        _sh("ip", "link", "add", "eth-out", "type", "veth", "peer", "name", "eth-host", ns=HOST_NS)
        _sh("ip", "link", "set", "eth-out", "netns", OUT_NS, ns=HOST_NS)
        for ns, dev, ip in ((HOST_NS, "eth-host", HOST_IP), (OUT_NS, "eth-out", OUTSIDE_IP)):
            _sh("ip", "addr", "add", f"{ip}/30", "dev", dev, ns=ns)
            _sh("ip", "link", "set", dev, "up", ns=ns)
            _sh("ip", "link", "set", "lo", "up", ns=ns)
        _sh("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=HOST_NS)
        _sh("iptables", "-w", "-P", "FORWARD", "DROP", ns=HOST_NS)
        yield
    finally:
        for ns in (HOST_NS, OUT_NS):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
