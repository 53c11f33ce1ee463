"""Isolation between networks and outbound masquerading, with the `iptables` command
(pyroute2 has no iptables/nftables rule API that works on this kernel's nft backend;
the rules are dockerd's). Without iptables, networks are still isolated as long as the
host does not forward (net.ipv4.ip_forward=0); a warning is logged once."""

from __future__ import annotations

import logging
import shutil
import subprocess

log = logging.getLogger(__name__)

STAGE1 = "BERTH-ISOLATION-STAGE-1"
STAGE2 = "BERTH-ISOLATION-STAGE-2"
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


def add_bridge(bridge: str, subnet: str, internal: bool) -> None:
    if shutil.which("iptables") is None:
        _ipt()
        return
    _chains()
    _ensure("filter", STAGE1, ["-i", bridge, "!", "-o", bridge, "-j", STAGE2])
    _ensure("filter", STAGE2, ["-o", bridge, "-j", "DROP"])
    if internal:
        _ensure("filter", STAGE1, ["-i", bridge, "!", "-o", bridge, "-j", "DROP"], insert=True)
        _ensure("filter", STAGE1, ["!", "-i", bridge, "-o", bridge, "-j", "DROP"], insert=True)
    else:
        _ensure("nat", "POSTROUTING", ["-s", subnet, "!", "-o", bridge, "-j", "MASQUERADE"])


def remove_bridge(bridge: str, subnet: str = "") -> None:
    """Every rule of ours that names BRIDGE (whatever subnet it was made with)."""
    exe = shutil.which("iptables")
    if exe is None:
        return
    for table, chain in (("filter", STAGE1), ("filter", STAGE2), ("nat", "POSTROUTING")):
        p = subprocess.run(
            [exe, "-w", "-t", table, "-S", chain], capture_output=True, text=True, timeout=30
        )
        for line in p.stdout.splitlines():
            words = line.split()
            if words[:2] != ["-A", chain] or bridge not in words:
                continue
            if chain == "POSTROUTING" and "MASQUERADE" not in words:
                continue
            _ipt("-t", table, "-D", chain, *words[2:])
