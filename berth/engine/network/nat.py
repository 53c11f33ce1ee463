"""Isolation between networks and outbound masquerading, with the `iptables` command
(pyroute2 has no iptables/nftables rule API that works on this kernel's nft backend;
the rules are dockerd's, each tagged with the network it was added for, so that removing a
network removes exactly its own). Without iptables, networks are still isolated as long as
the host does not forward (net.ipv4.ip_forward=0); a warning is logged once."""

from __future__ import annotations

import logging
import shlex
import shutil
import subprocess

log = logging.getLogger(__name__)

STAGE1 = "BERTH-ISOLATION-STAGE-1"
STAGE2 = "BERTH-ISOLATION-STAGE-2"
TAG = "berth:"
_warned = False


def _ipt(*args: str) -> bool:
    global _warned
    exe = shutil.which("iptables")
    if exe is None:
        if not _warned:
            log.warning("iptables not found: no isolation between networks when forwarding")
            _warned = True
        return False
    p = subprocess.run([exe, "-w", *args], capture_output=True, timeout=30)
    return p.returncode == 0


def _ensure(table: str, chain: str, rule: list[str], insert: bool = False) -> None:
    if not _ipt("-t", table, "-C", chain, *rule):
        _ipt("-t", table, "-I" if insert else "-A", chain, *rule)


def _chains() -> None:
    for ch in (STAGE1, STAGE2):
        _ipt("-t", "filter", "-N", ch)  # fails when it exists: fine
    _ensure("filter", "FORWARD", ["-j", STAGE1], insert=True)


def _tag(owner: str) -> list[str]:
    """The comment berth puts on each rule it adds for the network OWNER: removal deletes
    exactly those, never an identical rule someone else (or another daemon sharing the
    bridge) added, and never flushes or deletes a chain."""
    return ["-m", "comment", "--comment", f"{TAG}{owner[:12]}"]


def add_bridge(bridge: str, subnet: str, internal: bool, owner: str) -> None:
    if shutil.which("iptables") is None:
        _ipt()
        return
    _chains()
    tag = _tag(owner)
    _ensure("filter", STAGE1, ["-i", bridge, "!", "-o", bridge, *tag, "-j", STAGE2])
    _ensure("filter", STAGE2, ["-o", bridge, *tag, "-j", "DROP"])
    if internal:
        _ensure(
            "filter", STAGE1, ["-i", bridge, "!", "-o", bridge, *tag, "-j", "DROP"], insert=True
        )
        _ensure(
            "filter", STAGE1, ["!", "-i", bridge, "-o", bridge, *tag, "-j", "DROP"], insert=True
        )
    else:
        _ensure("nat", "POSTROUTING", ["-s", subnet, "!", "-o", bridge, *tag, "-j", "MASQUERADE"])


def _ours(chain: str, rule: list[str], bridge: str, owner: str | None, legacy: bool) -> bool:
    """Whether RULE (an `iptables -S CHAIN` line after "-A CHAIN") is one berth added for
    BRIDGE: tagged for OWNER (any berth tag when OWNER is None) or, with LEGACY, one an
    older berth added before it tagged its rules."""
    if bridge not in rule:
        return False
    if "--comment" in rule:
        tag = rule[rule.index("--comment") + 1]
        return tag.startswith(TAG) and (owner is None or tag == TAG + owner[:12])
    if not legacy:
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
    exe = shutil.which("iptables")
    if exe is None:
        return
    for table, chain in (("filter", STAGE1), ("filter", STAGE2), ("nat", "POSTROUTING")):
        p = subprocess.run(
            [exe, "-w", "-t", table, "-S", chain], capture_output=True, text=True, timeout=30
        )
        for line in p.stdout.splitlines():
            words = shlex.split(line)  # the nft backend prints a comment in quotes
            if words[:2] == ["-A", chain] and _ours(chain, words[2:], bridge, owner, legacy):
                _ipt("-t", table, "-D", chain, *words[2:])
