"""Addresses leased across the daemons sharing a bridge: one file per address under
/run/berth/leases/<bridge>/, created exclusively and naming the netns of the container
holding it (a file whose netns is gone is stale). Blocking, like bridge.py."""

from __future__ import annotations

import contextlib
import os

from berth.engine.network.bridge import NETNS_DIR, netns_name

LEASE_DIR = "/run/berth/leases"


def claim_address(bridge_name: str, addr: str, cid: str) -> bool:
    """Reserve ADDR on BRIDGE across daemons sharing the bridge (one file per address,
    created exclusively; a file whose container netns is gone is stale and reclaimed)."""
    d = os.path.join(LEASE_DIR, bridge_name)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, addr)
    for _ in range(2):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            try:
                with open(path) as f:
                    owner = f.read().strip()
            except OSError:
                continue
            if owner and os.path.exists(os.path.join(NETNS_DIR, owner)):
                return False
            with contextlib.suppress(OSError):
                os.unlink(path)
            continue
        with os.fdopen(fd, "w") as f:
            f.write(netns_name(cid))
        return True
    return False


def release_address(bridge_name: str, addr: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(os.path.join(LEASE_DIR, bridge_name, addr))


def drop_leases(bridge_name: str) -> None:
    """A removed network's lease files: only the stale ones (their container's netns is
    gone); another daemon sharing the bridge keeps its leases, and the directory with them."""
    d = os.path.join(LEASE_DIR, bridge_name)
    try:
        names = os.listdir(d)
    except OSError:
        return
    for addr in names:
        path = os.path.join(d, addr)
        try:
            with open(path) as f:
                owner = f.read().strip()
        except OSError:
            continue
        if not owner or not os.path.exists(os.path.join(NETNS_DIR, owner)):
            with contextlib.suppress(OSError):
                os.unlink(path)
    with contextlib.suppress(OSError):
        os.rmdir(d)
