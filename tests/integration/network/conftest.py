"""Two hosts of the test's own for the network tests: berthd runs inside a network
namespace ("the host") whose firewall the tests set, and a second namespace plays another
host, joined to the first by a veth pair on a private /30. Nothing here touches the real
host's firewall, nor its choice of iptables (the Debian alternative): a berthd that is to
use another iptables finds it first on its PATH, as dockerd would."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Daemon

_TAG = os.getpid() % 10000
HOST_NS, OUT_NS = f"bt-fwh{_TAG}", f"bt-fwo{_TAG}"
_NET = f"10.253.{_TAG % 250}"
HOST_IP, OUTSIDE_IP = f"{_NET}.1", f"{_NET}.2"
# The two iptables a Debian host can have: the nf_tables one (its default) and the x_tables
# one (Debian's iptables-legacy). Rules made with one are invisible to the other, and a
# packet passes only if both let it.
BACKENDS = ("iptables-nft", "iptables-legacy")


def _sh(*argv: str, ns: str | None = None, check: bool = True) -> str:
    pre = ["ip", "netns", "exec", ns] if ns else []
    p = subprocess.run([*pre, *argv], capture_output=True, text=True, timeout=30)
    if check and p.returncode != 0:
        raise AssertionError(f"{argv}: {p.stderr}")
    return p.stdout


class NetnsDaemon(Daemon):
    """A berthd started inside network namespace NS. With IPTABLES (a command, such as
    iptables-legacy) that is what the `iptables` first on its PATH runs."""

    def __init__(self, root: Path, ns: str, iptables: str | None = None) -> None:
        super().__init__(root)
        self.ns = ns
        self.env_pre: list[str] = []
        if iptables is not None:
            bindir = root / "bin"
            bindir.mkdir()
            # a symlink, not a wrapper: the xtables multi binaries pick the command by
            # the name they are run as, and "iptables" is what berth runs
            (bindir / "iptables").symlink_to(shutil.which(iptables) or f"/usr/sbin/{iptables}")
            path = os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            self.env_pre = ["env", f"PATH={bindir}:{path}"]

    def argv(self) -> list[str]:
        return ["ip", "netns", "exec", self.ns, *self.env_pre, *super().argv()]


@contextlib.contextmanager
def two_hosts(iptables: str = "iptables") -> Iterator[None]:
    """HOST_NS, forwarding with a FORWARD policy of DROP set with IPTABLES, and OUT_NS
    beyond it; both taken away (with every rule in them) whatever happened."""
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
        _sh(iptables, "-w", "-P", "FORWARD", "DROP", ns=HOST_NS)
        yield
    finally:
        for ns in (HOST_NS, OUT_NS):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


@pytest.fixture(scope="module")
def hosts() -> Iterator[None]:
    """The two hosts, the firewall set with the host's own `iptables`."""
    with two_hosts():
        yield
