"""Cgroup paths: where the hierarchies live, and the one way a cgroup path from a request
becomes a directory (cleaned as runc's CleanPath, never above the hierarchy's root)."""

from __future__ import annotations

import os
import posixpath

ROOT = "/sys/fs/cgroup"


def clean_path(path: str) -> str:
    """A cgroup path cleaned as runc's utils.CleanPath does, lexically and as if it were
    absolute (so `..` stops at the root), returned relative: "a/../../b" -> "b",
    "/../x" -> "x", "x/./y" -> "x/y", "//x" -> "x", "" -> "" (the root)."""
    # normpath keeps exactly two leading slashes (POSIX); the lstrip drops them too
    return posixpath.normpath("/" + path).lstrip("/")


def climbs_out(path: str) -> bool:
    """Whether `path`, read relative to a hierarchy's root, has a `..` that would climb
    above that root: what clean_path() quietly stops, and what a request is refused for."""
    depth = 0
    for part in path.split("/"):
        if part == "..":
            if depth == 0:
                return True
            depth -= 1
        elif part not in ("", "."):
            depth += 1
    return False


def join(base: str, path: str) -> str:
    """The cgroup `path` under the hierarchy directory `base`, never outside it, whatever
    `path` holds: the one way this package turns a cgroup path into a directory."""
    rel = clean_path(path)
    if not rel:
        return base
    out = os.path.join(base, rel)
    # clean_path leaves no ".." and no leading "/": this holds by construction, and is
    # checked all the same since a path that got out would be written to as root
    if not out.startswith(base.rstrip("/") + "/"):
        raise ValueError(f"cgroup path {path!r} leaves {base}")
    return out
