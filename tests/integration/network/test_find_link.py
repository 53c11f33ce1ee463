"""bridge.find_link reads a link with one plain rtnetlink request (berthd's start does not
import pyroute2 for it): it must see every link as pyroute2 sees it."""

from __future__ import annotations

import os

import pytest

from berth.engine.network import bridge
from tests.conftest import IS_ROOT

pytestmark = [pytest.mark.integration, pytest.mark.skipif(not IS_ROOT, reason="needs root")]


def _pyroute2(name: str) -> bridge.Link | None:
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        idx = ipr.link_lookup(ifname=name)
        if not idx:
            return None
        link = ipr.get_links(idx[0])[0]
        kind = link.get_nested("IFLA_LINKINFO", "IFLA_INFO_KIND") or ""
        addrs = tuple(
            (a.get_attr("IFA_ADDRESS"), a["prefixlen"])
            for a in ipr.get_addr(index=idx[0], family=2)
        )
        return bridge.Link(idx[0], kind, addrs, bool(link["flags"] & 1))


def test_every_link_reads_as_pyroute2_reads_it() -> None:
    names = sorted(os.listdir("/sys/class/net"))
    assert names, "no links to compare"
    for name in [*names, "bt-no-such-link", "x" * 40, ""]:
        assert bridge.find_link(name) == _pyroute2(name), name
