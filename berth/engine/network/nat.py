"""Isolation between networks, forwarding for berth's own bridges and outbound
masquerading, with the `iptables` command (pyroute2 has no iptables/nftables rule API that
works on this kernel's nft backend). The layout is dockerd's, with berth's own chains:

    FORWARD -j BERTH-USER                  (the admin's rules come first; it only RETURNs)
    FORWARD -j BERTH-ISOLATION-STAGE-1     (no traffic between two berth networks)
    FORWARD -o BR -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
    FORWARD -o BR -j BERTH                 (published ports, per container)
    FORWARD -i BR ! -o BR -j ACCEPT        (out to the world)
    FORWARD -i BR -o BR -j ACCEPT          (between containers of one network)

The ACCEPTs are what keep a network working on a host whose FORWARD policy is DROP (what
dockerd, ufw and firewalld set). Each per-bridge rule is tagged with the network it was
added for, so that removing a network removes exactly its own. Without iptables, networks
are still isolated as long as the host does not forward (net.ipv4.ip_forward=0); a warning
is logged once."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shlex
import shutil
import subprocess
from collections.abc import Iterator

log = logging.getLogger(__name__)

CHAIN = "BERTH"
USER = "BERTH-USER"
STAGE1 = "BERTH-ISOLATION-STAGE-1"
STAGE2 = "BERTH-ISOLATION-STAGE-2"
TAG = "berth:"
_warned = False
# daemon.json's "iptables": false: berth adds (and so removes) no rules at all, as dockerd
ENABLED = True


def _exe() -> str | None:
    return shutil.which("iptables") if ENABLED else None


def _ipt(*args: str) -> bool:
    global _warned
    if not ENABLED:
        return False
    exe = shutil.which("iptables")
    if exe is None:
        if not _warned:
            log.warning("iptables not found: no isolation between networks when forwarding")
            _warned = True
        return False
    p = subprocess.run([exe, "-w", *args], capture_output=True, timeout=30)
    return p.returncode == 0


# Check-then-add is two iptables calls: two berthds starting at once (they share the
# host's tables) could both find a rule missing and both add it. A lock shared by every
# berthd on the host makes the pair one step; xtables' own lock covers one call only.
_LOCK_PATH = "/run/berth-iptables.lock"


@contextlib.contextmanager
def _host_lock() -> Iterator[None]:
    try:
        fd = os.open(_LOCK_PATH, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        yield  # no /run to lock in: as before, at worst a rule twice
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


Snapshot = dict[str, set[tuple[str, ...]]]


def _snapshot(*tables: str) -> Snapshot:
    """`iptables -S` of TABLES, each line as its words: one process a table, where a check
    of each rule is one process a rule (berthd checks its default bridge's at every
    start). A rule missing here is still checked with -C before it is added."""
    exe = _exe()
    out: Snapshot = {}
    for table in tables:
        lines: set[tuple[str, ...]] = set()
        if exe is not None:
            p = subprocess.run([exe, "-w", "-t", table, "-S"], capture_output=True, timeout=30)
            if p.returncode == 0:
                for line in p.stdout.decode(errors="replace").splitlines():
                    with contextlib.suppress(ValueError):
                        lines.add(tuple(shlex.split(line)))
        out[table] = lines
    return out


def _ensure(
    table: str, chain: str, rule: list[str], insert: bool = False, have: Snapshot | None = None
) -> None:
    if have is not None and ("-A", chain, *rule) in have.get(table, set()):
        return
    with _host_lock():
        if not _ipt("-t", table, "-C", chain, *rule):
            _ipt("-t", table, "-I" if insert else "-A", chain, *rule)


def _chains(have: Snapshot | None = None) -> None:
    for ch in (CHAIN, USER, STAGE1, STAGE2):
        if have is None or ("-N", ch) not in have.get("filter", set()):
            _ipt("-t", "filter", "-N", ch)  # fails when it exists: fine
    _ensure("filter", USER, ["-j", "RETURN"], have=have)
    # inserted in this order, the user chain ends up ahead of the isolation stage
    _ensure("filter", "FORWARD", ["-j", STAGE1], insert=True, have=have)
    _ensure("filter", "FORWARD", ["-j", USER], insert=True, have=have)


def _tag(owner: str) -> list[str]:
    """The comment berth puts on each rule it adds for the network OWNER: removal deletes
    exactly those, never an identical rule someone else (or another daemon sharing the
    bridge) added, and never flushes or deletes a chain."""
    return ["-m", "comment", "--comment", f"{TAG}{owner[:12]}"]


def add_bridge(
    bridge: str,
    subnet: str,
    internal: bool,
    owner: str,
    icc: bool = True,
    masquerade: bool = True,
) -> None:
    """ICC False (enable_icc=false): containers of the network cannot reach each other;
    MASQUERADE False (enable_ip_masquerade=false): their traffic leaves unmasqueraded."""
    if _exe() is None:
        _ipt()
        return
    have = _snapshot("filter", "nat")
    _chains(have)
    tag = _tag(owner)
    _ensure("filter", STAGE1, ["-i", bridge, "!", "-o", bridge, *tag, "-j", STAGE2], have=have)
    _ensure("filter", STAGE2, ["-o", bridge, *tag, "-j", "DROP"], have=have)
    if internal:
        for rule in (
            ["-i", bridge, "!", "-o", bridge, *tag, "-j", "DROP"],
            ["!", "-i", bridge, "-o", bridge, *tag, "-j", "DROP"],
        ):
            _ensure("filter", STAGE1, rule, insert=True, have=have)
    else:
        if masquerade:
            _ensure(
                "nat", "POSTROUTING", ["-s", subnet, "!", "-o", bridge, *tag, "-j", "MASQUERADE"],
                have=have,
            )  # fmt: skip
        for rule in _outward(bridge):
            _ensure("filter", "FORWARD", [*rule[:-2], *tag, *rule[-2:]], have=have)
    verdict = "ACCEPT" if icc else "DROP"
    _ensure("filter", "FORWARD", ["-i", bridge, "-o", bridge, *tag, "-j", verdict], have=have)


def _outward(bridge: str) -> list[list[str]]:
    """The FORWARD rules of a network that reaches outside its bridge: replies and
    published ports in, anything out."""
    return [
        ["-o", bridge, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"],
        ["-o", bridge, "-j", CHAIN],
        ["-i", bridge, "!", "-o", bridge, "-j", "ACCEPT"],
    ]


def _ours(chain: str, rule: list[str], bridge: str, owner: str | None, legacy: bool) -> bool:
    """Whether RULE (an `iptables -S CHAIN` line after "-A CHAIN") is one berth added for
    BRIDGE: tagged for OWNER (any berth tag when OWNER is None) or, with LEGACY, one an
    older berth added before it tagged its rules."""
    if bridge not in rule:
        return False
    if "--comment" in rule:
        tag = rule[rule.index("--comment") + 1]
        return tag.startswith(TAG) and (owner is None or tag == TAG + owner[:12])
    if not legacy or chain == "FORWARD":  # berth always tagged what it adds to FORWARD
        return False
    # berth's own chains hold nothing but berth's rules; in POSTROUTING only the exact
    # masquerade rule it used to add
    return chain != "POSTROUTING" or (
        len(rule) == 7 and rule[0] == "-s" and rule[2:] == ["!", "-o", bridge, "-j", "MASQUERADE"]
    )


def remove_bridge(bridge: str, owner: str | None = None, legacy: bool = False) -> None:
    """Berth's rules for BRIDGE (whatever subnet they were made with): those of the network
    OWNER, or of every network when OWNER is None; the chains themselves stay. LEGACY also
    takes the untagged rules of an older berth: only for a bridge berth made, whose rules
    nobody else can have written."""
    exe = _exe()
    if exe is None:
        return
    walk = (("filter", "FORWARD"), ("filter", STAGE1), ("filter", STAGE2), ("nat", "POSTROUTING"))
    for table, chain in walk:
        p = subprocess.run(
            [exe, "-w", "-t", table, "-S", chain], capture_output=True, text=True, timeout=30
        )
        for line in p.stdout.splitlines():
            words = shlex.split(line)  # the nft backend prints a comment in quotes
            if words[:2] == ["-A", chain] and _ours(chain, words[2:], bridge, owner, legacy):
                _ipt("-t", table, "-D", chain, *words[2:])


# ---- published ports: kernel DNAT ---------------------------------------------------------
# Traffic from other hosts (and from other containers) to a published port is rewritten by
# the kernel to the container's address, as dockerd does it: the client's own address
# reaches the container, nothing passes through berthd's event loop, and the port keeps
# working while berthd is away (live-restore). Traffic to a loopback address cannot be
# DNATed without route_localnet; the userland proxy (portmap.py) serves it, as
# docker-proxy does.
NAT_CHAIN = "BERTH"
_port_chains_ready = False


def _port_tag(cid: str) -> list[str]:
    return ["-m", "comment", "--comment", f"{TAG}c:{cid[:12]}"]


def _nat_chains() -> None:
    _ipt("-t", "nat", "-N", NAT_CHAIN)
    _ensure("nat", "PREROUTING", ["-m", "addrtype", "--dst-type", "LOCAL", "-j", NAT_CHAIN])
    _ensure(
        "nat",
        "OUTPUT",
        ["!", "-d", "127.0.0.0/8", "-m", "addrtype", "--dst-type", "LOCAL", "-j", NAT_CHAIN],
    )


def _port_rules(
    bridge: str, proto: str, host_ip: str, host_port: int, ctr_ip: str, ctr_port: int
) -> list[tuple[str, str, list[str]]]:
    dest = ["-d", host_ip] if host_ip and host_ip != "0.0.0.0" else []
    return [
        ("nat", NAT_CHAIN, [*dest, "!", "-i", bridge, "-p", proto, "--dport", str(host_port),
                            "-j", "DNAT", "--to-destination", f"{ctr_ip}:{ctr_port}"]),
        ("filter", CHAIN, ["-d", ctr_ip, "!", "-i", bridge, "-o", bridge, "-p", proto,
                           "--dport", str(ctr_port), "-j", "ACCEPT"]),
        # hairpin: a container reaching its own published port through the host
        ("nat", "POSTROUTING", ["-s", ctr_ip, "-d", ctr_ip, "-p", proto, "--dport",
                                str(ctr_port), "-j", "MASQUERADE"]),
    ]  # fmt: skip


def add_port(
    cid: str, bridge: str, proto: str, host_ip: str, host_port: int, ctr_ip: str, ctr_port: int
) -> None:
    """The DNAT of one published port of container CID (idempotent: a restarted berthd
    that finds the rules of a live-restored container adds nothing)."""
    global _port_chains_ready
    if _exe() is None:
        return
    if not _port_chains_ready:  # once per berthd: each check is an iptables process
        _chains()
        _nat_chains()
        _port_chains_ready = True
    tag = _port_tag(cid)
    for table, chain, rule in _port_rules(bridge, proto, host_ip, host_port, ctr_ip, ctr_port):
        j = rule.index("-j")
        _ensure(table, chain, [*rule[:j], *tag, *rule[j:]])


def remove_ports(cid: str) -> None:
    """Every DNAT rule of container CID, found by its tag."""
    exe = _exe()
    if exe is None:
        return
    want = f"{TAG}c:{cid[:12]}"
    for table, chain in (("nat", NAT_CHAIN), ("filter", CHAIN), ("nat", "POSTROUTING")):
        p = subprocess.run(
            [exe, "-w", "-t", table, "-S", chain], capture_output=True, text=True, timeout=30
        )
        for line in p.stdout.splitlines():
            words = shlex.split(line)
            if words[:2] == ["-A", chain] and "--comment" in words:
                if words[words.index("--comment") + 1] == want:
                    _ipt("-t", table, "-D", chain, *words[2:])
