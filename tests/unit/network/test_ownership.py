"""Which host objects a network owns: the record says berth made the bridge only once it
exists, removal undoes only that, and berth's iptables rules are told apart from anyone
else's. Netlink and iptables are replaced by a fake host here; the real thing is in
tests/integration/security/test_network_ownership.py."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from berth.engine.db import Database
from berth.engine.errors import Forbidden, InvalidParameter
from berth.engine.network import bridge, leasefiles, nat, ownership
from berth.engine.network.model import Network
from berth.engine.network.service import NetworkService
from berth.engine.network.store import NetworkStore
from tests.unit.network.fake_containers import Containers

BOOT = "boot"


@dataclass
class FakeHost:
    """Links by name (ifindex, kind, addresses) and what berth asked of the host."""

    links: dict[str, bridge.Link] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    addresses_removed: list[str] = field(default_factory=list)
    rules_removed: list[tuple[str, str | None, bool]] = field(default_factory=list)
    during_create: list[Network | None] = field(default_factory=list)
    next_index: int = 100

    def ensure_bridge(self, name: str, gateway: str, prefixlen: int) -> bridge.Setup:
        have = self.links.get(name)
        if have is None:
            self.next_index += 1
            self.links[name] = bridge.Link(self.next_index, "bridge", ((gateway, prefixlen),))
            return bridge.Setup(f"{BOOT}/{self.next_index}", True, "")
        if have.kind != "bridge":
            raise bridge.not_a_bridge(name)
        if not have.addresses:
            self.links[name] = bridge.Link(have.ifindex, "bridge", ((gateway, prefixlen),))
            return bridge.Setup(f"{BOOT}/{have.ifindex}", False, f"{gateway}/{prefixlen}")
        return bridge.Setup(f"{BOOT}/{have.ifindex}", False, "")

    def delete_bridge(self, name: str, made: str) -> bool:
        have = self.links.get(name)
        if have is None or f"{BOOT}/{have.ifindex}" != made:
            return False
        del self.links[name]
        self.deleted.append(name)
        return True


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch) -> FakeHost:
    h = FakeHost()
    monkeypatch.setattr(bridge, "link_id", lambda i: f"{BOOT}/{i}")
    monkeypatch.setattr(bridge, "find_link", lambda name: h.links.get(name))
    monkeypatch.setattr(bridge, "ensure_bridge", h.ensure_bridge)
    monkeypatch.setattr(bridge, "delete_bridge", h.delete_bridge)
    monkeypatch.setattr(bridge, "remove_address", lambda n, a: h.addresses_removed.append(a))
    monkeypatch.setattr(leasefiles, "drop_leases", lambda n: None)
    monkeypatch.setattr(nat, "add_bridge", lambda *a: None)
    monkeypatch.setattr(
        nat,
        "remove_bridge",
        lambda b, owner=None, legacy=False: h.rules_removed.append((b, owner, legacy)),
    )
    return h


def _service(tmp_path: Path) -> NetworkService:
    return NetworkService(Database(tmp_path / "berth.db"), containers=Containers())


def _stored(tmp_path: Path, name: str) -> Network | None:
    """The record as a restarted daemon would read it."""
    return NetworkStore(Database(tmp_path / "berth.db")).find(name)


def test_the_record_claims_the_bridge_only_once_it_exists(
    tmp_path: Path, host: FakeHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = _service(tmp_path)
    made = host.ensure_bridge

    def ensure(name: str, gateway: str, prefixlen: int) -> bridge.Setup:
        # a crash right after the link is made: this is what the next start would read
        setup = made(name, gateway, prefixlen)
        host.during_create.append(_stored(tmp_path, "n1"))
        return setup

    monkeypatch.setattr(bridge, "ensure_bridge", ensure)
    n, _ = asyncio.run(svc.create({"Name": "n1"}))
    at_crash = host.during_create[0]
    assert at_crash is not None and at_crash.made_link == ""
    after = _stored(tmp_path, "n1")
    assert after is not None and after.made_link == f"{BOOT}/{host.links[n.bridge].ifindex}"


def test_a_link_made_but_never_recorded_is_left_in_place(tmp_path: Path, host: FakeHost) -> None:
    # the state a crash between making the link and recording it leaves behind
    svc = _service(tmp_path)
    n = Network(id="a" * 64, name="n1", driver="bridge", created="t", subnet="10.9.0.0/24",
                gateway="10.9.0.1", bridge="br-" + "a" * 12, made_link="")  # fmt: skip
    svc.store.add(n)
    host.links[n.bridge] = bridge.Link(7, "bridge", (("10.9.0.1", 24),))
    restarted = _service(tmp_path)
    asyncio.run(restarted.remove("n1"))
    assert n.bridge in host.links and host.deleted == []
    assert host.rules_removed == [(n.bridge, n.id, False)]
    assert _stored(tmp_path, "n1") is None


def test_made_bridge_is_removed_and_survives_a_restart(tmp_path: Path, host: FakeHost) -> None:
    n, _ = asyncio.run(_service(tmp_path).create({"Name": "n1"}))
    restarted = _service(tmp_path)
    asyncio.run(restarted.remove("n1"))
    assert host.deleted == [n.bridge] and n.bridge not in host.links
    assert host.rules_removed == [(n.bridge, n.id, True)]


def test_a_bridge_replaced_under_the_same_name_is_not_deleted(
    tmp_path: Path, host: FakeHost
) -> None:
    n, _ = asyncio.run(_service(tmp_path).create({"Name": "n1"}))
    # someone deletes berth's bridge and makes their own with its name
    host.links[n.bridge] = bridge.Link(999, "bridge", ())
    asyncio.run(_service(tmp_path).remove("n1"))
    assert host.deleted == [] and host.links[n.bridge].ifindex == 999


def test_adopted_bridge_keeps_its_link_and_loses_only_berths_address(
    tmp_path: Path, host: FakeHost
) -> None:
    host.links["btadopt"] = bridge.Link(50, "bridge", ())
    svc = _service(tmp_path)
    body = {
        "Name": "n1",
        "Options": {"com.docker.network.bridge.name": "btadopt"},
        "IPAM": {"Config": [{"Subnet": "10.77.0.0/24"}]},
    }
    n, _ = asyncio.run(svc.create(body))
    assert n.made_link == "" and n.added_address == f"{BOOT}/50/10.77.0.1/24"
    asyncio.run(_service(tmp_path).remove("n1"))
    assert host.deleted == [] and "btadopt" in host.links
    assert host.addresses_removed == [f"{BOOT}/50/10.77.0.1/24"]
    assert host.rules_removed == [("btadopt", n.id, False)]


def test_adopted_bridge_with_an_address_keeps_it(tmp_path: Path, host: FakeHost) -> None:
    host.links["btadopt"] = bridge.Link(50, "bridge", (("10.78.0.1", 24),))
    svc = _service(tmp_path)
    opts = {"com.docker.network.bridge.name": "btadopt"}
    n, _ = asyncio.run(svc.create({"Name": "n1", "Options": opts}))
    assert n.made_link == "" and n.added_address == ""
    asyncio.run(svc.remove("n1"))
    assert host.deleted == [] and host.addresses_removed == []


def test_a_link_that_is_not_a_bridge_is_refused(tmp_path: Path, host: FakeHost) -> None:
    host.links["btdummy"] = bridge.Link(60, "dummy", ())
    svc = _service(tmp_path)
    opts = {"com.docker.network.bridge.name": "btdummy"}
    with pytest.raises(InvalidParameter, match="^existing interface btdummy is not a bridge$"):
        asyncio.run(svc.create({"Name": "n1", "Options": opts}))
    assert svc.store.find("n1") is None and _stored(tmp_path, "n1") is None
    assert host.links["btdummy"] == bridge.Link(60, "dummy", ()) and host.rules_removed == []


def test_two_networks_cannot_share_a_bridge(tmp_path: Path, host: FakeHost) -> None:
    svc = _service(tmp_path)
    n, _ = asyncio.run(svc.create({"Name": "n1"}))
    opts = {"com.docker.network.bridge.name": n.bridge}
    with pytest.raises(Forbidden, match="networks have same bridge name"):
        asyncio.run(svc.create({"Name": "n2", "Options": opts}))
    svc.get("bridge").bridge = "berth0"
    opts = {"com.docker.network.bridge.name": "berth0"}
    with pytest.raises(Forbidden, match="networks have same bridge name"):
        asyncio.run(svc.create({"Name": "n3", "Options": opts}))


@pytest.mark.usefixtures("host")
def test_records_from_an_older_berth() -> None:
    link = bridge.Link(8, "bridge", ())
    nid = "b" * 64
    # named after its own id: nobody could have made it before berth
    generated = Network(id=nid, name="g", driver="bridge", created="t", bridge="br-" + nid[:12])
    assert generated.made_link is None
    assert ownership.made_link(generated, link) == f"{BOOT}/8"
    assert ownership.made_link(generated, None) == ""
    chosen = Network(id=nid, name="c", driver="bridge", created="t", bridge="br-" + nid[:12],
                     options={"com.docker.network.bridge.name": "br-" + nid[:12]})  # fmt: skip
    assert ownership.made_link(chosen, link) == ""
    named = Network(id=nid, name="x", driver="bridge", created="t", bridge="lan0")
    assert ownership.made_link(named, link) == ""


_NET = "0123456789ab" + "0" * 52
_MINE = "-m comment --comment berth:0123456789ab"
_OTHER = "-m comment --comment berth:ffffffffffff"
_MASQ = "-s 10.1.0.0/24 ! -o br1"
_POST = "POSTROUTING"
_STAGE2 = "BERTH-ISOLATION-STAGE-2"


@pytest.mark.parametrize(
    ("chain", "rule", "owner", "legacy", "ours"),
    [
        # tagged for this network, for another, for any
        (_POST, f"{_MASQ} {_MINE} -j MASQUERADE", _NET, False, True),
        (_POST, f"{_MASQ} {_OTHER} -j MASQUERADE", _NET, False, False),
        (_POST, f"{_MASQ} {_OTHER} -j MASQUERADE", None, False, True),
        # someone else's comment, someone else's identical rule, a bridge of another name
        (_POST, f"{_MASQ} -m comment --comment mine -j MASQUERADE", None, True, False),
        (_POST, f"{_MASQ} -j MASQUERADE", _NET, False, False),
        (_POST, f"-s 10.1.0.0/24 ! -o br10 {_MINE} -j MASQUERADE", _NET, False, False),
        # an older berth's untagged rules, only when asked for; in POSTROUTING only its shape
        (_POST, f"{_MASQ} -j MASQUERADE", _NET, True, True),
        (_POST, "-s 10.1.0.0/24 -o br1 -j MASQUERADE", _NET, True, False),
        (_POST, f"{_MASQ} -p tcp -j MASQUERADE", _NET, True, False),
        (_STAGE2, "-o br1 -j DROP", _NET, True, True),
        (_STAGE2, "-o br1 -j DROP", _NET, False, False),
        (_STAGE2, f"-o br1 {_MINE} -j DROP", _NET, False, True),
        # FORWARD is everyone's: only what carries berth's tag, even for a bridge berth made
        ("FORWARD", "-i br1 -o br1 -j ACCEPT", _NET, True, False),
        ("FORWARD", f"-i br1 -o br1 {_MINE} -j ACCEPT", _NET, True, True),
    ],
)
def test_which_iptables_rules_are_berths(
    chain: str, rule: str, owner: str | None, legacy: bool, ours: bool
) -> None:
    assert nat._ours(chain, rule.split(), "br1", owner, legacy) is ours


def test_rules_carry_the_networks_tag() -> None:
    assert nat._tag(_NET) == ["-m", "comment", "--comment", "berth:0123456789ab"]


def test_remove_deletes_exactly_berths_rules_as_iptables_prints_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    listing = {
        "FORWARD": [
            "-P FORWARD DROP",
            "-A FORWARD -j BERTH-USER",
            f'-A FORWARD -i br1 -o br1 -m comment --comment "berth:{_NET[:12]}" -j ACCEPT',
            "-A FORWARD -i br1 -o br1 -j ACCEPT",  # the admin's own, identical but untagged
            f"-A FORWARD -o br1 {_OTHER} -j BERTH",
        ],
        "BERTH-ISOLATION-STAGE-1": [
            "-N BERTH-ISOLATION-STAGE-1",
            f'-A BERTH-ISOLATION-STAGE-1 -i br1 ! -o br1 -m comment --comment "berth:{_NET[:12]}"'
            " -j BERTH-ISOLATION-STAGE-2",
            "-A BERTH-ISOLATION-STAGE-1 -i br1 ! -o br1 -j BERTH-ISOLATION-STAGE-2",
        ],
        "BERTH-ISOLATION-STAGE-2": [f"-A BERTH-ISOLATION-STAGE-2 -o br1 {_OTHER} -j DROP"],
        "POSTROUTING": [
            "-P POSTROUTING ACCEPT",
            f'-A POSTROUTING {_MASQ} -m comment --comment "berth:{_NET[:12]}" -j MASQUERADE',
            f"-A POSTROUTING {_MASQ} -j MASQUERADE",
        ],
    }
    deleted: list[list[str]] = []

    class Done:
        def __init__(self, out: str) -> None:
            self.stdout, self.returncode = out, 0

    def run(argv: list[str], **kw: object) -> Done:
        if "-S" in argv:
            return Done("\n".join(listing[argv[-1]]) + "\n")
        deleted.append(argv[argv.index("-D") + 1 :])
        return Done("")

    monkeypatch.setattr(nat.shutil, "which", lambda exe: "/sbin/iptables")
    monkeypatch.setattr(nat.subprocess, "run", run)
    nat.remove_bridge("br1", owner=_NET)
    tag = ["-m", "comment", "--comment", f"berth:{_NET[:12]}"]
    assert deleted == [
        ["FORWARD", "-i", "br1", "-o", "br1", *tag, "-j", "ACCEPT"],
        ["BERTH-ISOLATION-STAGE-1", "-i", "br1", "!", "-o", "br1", *tag, "-j",
         "BERTH-ISOLATION-STAGE-2"],
        ["POSTROUTING", "-s", "10.1.0.0/24", "!", "-o", "br1", *tag, "-j", "MASQUERADE"],
    ]  # fmt: skip
