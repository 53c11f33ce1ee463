"""GET /images/json filters, matched the way dockerd matches them."""

from __future__ import annotations

import fnmatch
import re
import time
from collections.abc import Callable
from dataclasses import replace

from berth.engine.errors import InvalidParameter
from berth.engine.images.model import Image, parse_rfc3339
from berth.engine.images.reference import parse_normalized

ACCEPTED = {"dangling", "label", "label!", "before", "since", "reference", "until"}
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def validate(filters: dict[str, list[str]]) -> None:
    """Refuse unknown filter names and a bad dangling value, with dockerd's texts."""
    for key in filters:
        if key not in ACCEPTED:
            raise InvalidParameter(f"invalid filter '{key}'")
    for v in filters.get("dangling", []):
        if v.lower() not in ("true", "false", "1", "0"):
            raise InvalidParameter(f"invalid filter 'dangling={v}'")


def _path_match(pattern: str, name: str) -> bool:
    # Go's path.Match: '*' does not cross '/'.
    rx = fnmatch.translate(pattern).replace(".*", "[^/]*")
    return re.match(rx, name) is not None


def reference_match(pattern: str, familiar_ref: str) -> bool:
    """reference.FamiliarMatch: the pattern against "name:tag", then against "name"."""
    if _path_match(pattern, familiar_ref):
        return True
    try:
        name = parse_normalized(familiar_ref).familiar_name
    except InvalidParameter:
        return False
    return _path_match(pattern, name)


def _labels_match(labels: dict[str, str], wanted: list[str]) -> bool:
    for w in wanted:
        key, eq, value = w.partition("=")
        if key not in labels or (eq and labels[key] != value):
            return False
    return True


def parse_until(value: str, now: float | None = None) -> float:
    """An `until` value (unix seconds, RFC3339, or a Go duration back from now) in seconds."""
    now = time.time() if now is None else now
    try:
        return float(value)
    except ValueError:
        pass
    pos, total = 0, 0.0
    for m in _DURATION_RE.finditer(value):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT[m.group(2)]
        pos = m.end()
    else:
        if pos == len(value) and pos > 0:
            return now - total
    ts = parse_rfc3339(value if "T" in value else value + "T00:00:00Z")
    if ts == 0.0:
        raise InvalidParameter(f"invalid filter 'until={value}'")
    return ts


def apply(
    images: list[Image],
    filters: dict[str, list[str]],
    *,
    all: bool,
    resolve: Callable[[str], Image],
) -> list[Image]:
    """The images to list, newest first; with a reference filter RepoTags keep only
    the matching names. `resolve` looks up before/since images (raises NotFound)."""
    validate(filters)
    dangling_only = None
    if "dangling" in filters:
        dangling_only = any(v.lower() in ("true", "1") for v in filters["dangling"])
    before = min(
        (parse_rfc3339(resolve(r).created) for r in filters.get("before", [])), default=None
    )
    since = max((parse_rfc3339(resolve(r).created) for r in filters.get("since", [])), default=None)
    untils = [parse_until(v) for v in filters.get("until", [])]
    refs = filters.get("reference", [])
    parents = {img.parent for img in images if img.parent}
    out: list[Image] = []
    for img in images:
        created = parse_rfc3339(img.created)
        if before is not None and created >= before:
            continue
        if since is not None and created <= since:
            continue
        if untils and created >= min(untils):
            continue
        if "label" in filters and not _labels_match(img.labels, filters["label"]):
            continue
        if "label!" in filters and any(_labels_match(img.labels, [w]) for w in filters["label!"]):
            continue
        tags, digests = img.repo_tags, img.repo_digests
        if refs:
            tags = [t for t in tags if any(reference_match(p, t) for p in refs)]
            digests = [d for d in digests if any(reference_match(p, d) for p in refs)]
            if not tags and not digests:
                continue
        dangling = not img.repo_tags and not img.repo_digests
        if dangling:
            if not all and img.id in parents:
                continue  # an intermediate image, shown with all=1 only
            if dangling_only is False:
                continue
        elif dangling_only:
            continue
        out.append(replace(img, repo_tags=tags, repo_digests=digests) if refs else img)
    out.sort(key=lambda i: parse_rfc3339(i.created), reverse=True)
    return out
