"""How references name images in the store: the stored key of a reference, and the image
id a name, name:tag, name@digest, id or id prefix resolves to."""

from __future__ import annotations

import re

from berth.engine.errors import InvalidParameter, NotFound
from berth.engine.images.reference import Reference, parse_any, parse_normalized
from berth.engine.images.store import ImageStore

_HEX_RE = re.compile(r"^[0-9a-f]+$")


def ref_key(ref: Reference) -> str:
    """The stored form of a reference: name@digest (a tag next to a digest is dropped),
    else name:tag with ':latest' implied."""
    if ref.digest is not None:
        return f"{ref.name}@{ref.digest}"
    return str(ref.tag_name_only())


def resolve_id(store: ImageStore, ref: str) -> str:
    """The id of the image `ref` names; NotFound("No such image: busybox:latest") like
    dockerd."""
    parsed = parse_any(ref)
    if isinstance(parsed, str):
        if store.load_images([parsed]):
            return parsed
        raise NotFound(f"No such image: {parsed}")
    found = store.ref_target(ref_key(parsed))
    if found is not None:
        return found
    hx = ref[7:] if ref.startswith("sha256:") else ref
    if _HEX_RE.match(hx):
        ids = store.ids_with_prefix(hx)
        if len(ids) == 1:
            return ids[0]
    raise NotFound(f"No such image: {parsed.tag_name_only().familiar}")


def target_tags(repo: str | None, tag: str | None, verb: str) -> list[str]:
    """The tag key that `import`/`commit` with `repo[:tag]` writes (none without repo)."""
    if not repo:
        return []
    ref = parse_normalized(repo)
    if ref.digest is not None:
        raise InvalidParameter(f"cannot {verb} digest reference")
    if tag:
        ref = ref.with_tag(tag)
    return [ref_key(ref)]
