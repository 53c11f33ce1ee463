"""Resolve a container's `User` ("name", "uid", "name:group", "uid:gid") against
the /etc/passwd and /etc/group inside its root filesystem, as dockerd does."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from berth.engine.errors import InvalidParameter


@dataclass
class ResolvedUser:
    uid: int
    gid: int
    additional_gids: list[int] = field(default_factory=list)
    home: str = "/"


def _read(path: Path) -> list[list[str]]:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return []
    return [ln.split(":") for ln in text.splitlines() if ln and not ln.startswith("#")]


def resolve(rootfs: str, user: str, group_add: list[str] | None = None) -> ResolvedUser:
    passwd = _read(Path(rootfs, "etc/passwd"))
    groups = _read(Path(rootfs, "etc/group"))
    uspec, _, gspec = (user or "0").partition(":")
    entry = None
    for p in passwd:
        if len(p) >= 4 and (p[0] == uspec or (uspec.isdigit() and p[2] == uspec)):
            entry = p
            break
    if entry is not None:
        uid, gid = int(entry[2]), int(entry[3])
        name, home = entry[0], entry[5] if len(entry) > 5 else "/"
    elif uspec.isdigit():
        uid, gid, name, home = int(uspec), int(uspec) if not passwd else 0, "", "/"
        gid = 0 if uid == 0 else uid
    else:
        raise InvalidParameter(f"unable to find user {uspec}: no matching entries in passwd file")
    if gspec:
        gid = _group_id(groups, gspec)
    extra: list[int] = []
    if name:
        extra = [int(g[2]) for g in groups if len(g) >= 4 and name in g[3].split(",")]
    for g in group_add or []:
        extra.append(_group_id(groups, g))
    return ResolvedUser(uid, gid, sorted(set(extra) - {gid}), home or "/")


def _group_id(groups: list[list[str]], spec: str) -> int:
    for g in groups:
        if len(g) >= 3 and (g[0] == spec or g[2] == spec):
            return int(g[2])
    if spec.isdigit():
        return int(spec)
    raise InvalidParameter(f"unable to find group {spec}: no matching entries in group file")
