"""DELETE /images/{name}: untag and/or delete, with dockerd's conflict rules
(daemon/images/image_delete.go: checkImageDeleteConflict, isSingleReference)."""

from __future__ import annotations

from collections.abc import Callable

from berth.engine.errors import Conflict, NotFound
from berth.engine.images.model import chain_ids, short_id
from berth.engine.images.reference import Reference, parse_normalized
from berth.engine.images.refs import ref_key, resolve_id
from berth.engine.images.store import ImageStore

# checkImageDeleteConflict masks, as in moby
_CHILD, _RUNNING, _REFERENCE, _STOPPED = 1, 2, 4, 8
_HARD = _CHILD | _RUNNING
_SOFT = _REFERENCE | _STOPPED

Users = Callable[[str], list[str]]


def _is_id_prefix(image_id: str, ref: str) -> bool:
    return image_id.startswith(ref) or image_id.split(":", 1)[-1].startswith(ref)


def _is_single_reference(refs: list[Reference]) -> bool:
    """moby's isSingleReference: one tag (plus digests of that same repository)."""
    if len(refs) <= 1:
        return len(refs) == 1
    single: Reference | None = None
    canonical: set[str] = set()
    for r in refs:
        if r.digest is not None:
            canonical.add(r.name)
        elif single is None:
            single = r
        else:
            return False
    if single is None:
        single = refs[0]
    return len(canonical) == 1 and single.name in canonical


class Removal:
    """One DELETE /images/{name}. `usage(image_id)` gives the containers using an image,
    `running(image_id)` (optional) the running ones among them (a hard conflict even with
    force, as in dockerd)."""

    def __init__(self, store: ImageStore, usage: Users, running: Users | None) -> None:
        self.store = store
        self.usage = usage
        self.running = running
        self.records: list[dict] = []

    def remove(self, ref: str, *, force: bool, prune: bool) -> list[dict]:
        """The Untagged/Deleted records dockerd answers."""
        image_id = resolve_id(self.store, ref)
        refs = self._refs(image_id)
        by_name = not _is_id_prefix(image_id, ref)
        if by_name:
            if self._untag(ref, image_id, refs, force):
                return self.records
        elif _is_single_reference(refs):
            mask = _HARD if force else _HARD | (_SOFT & ~_REFERENCE)
            conflict = self._conflict(image_id, mask)
            if conflict is not None:
                raise Conflict(conflict[0])
            for r in refs:
                self._drop_ref(r)
        self._delete(image_id, force=force, prune=prune, quiet=by_name)
        return self.records

    def _untag(self, ref: str, image_id: str, refs: list[Reference], force: bool) -> bool:
        """Remove the reference `ref` (and the digests of its repository when it was the
        last tag there); True when other references keep the image."""
        if not force and _is_single_reference(refs):
            users = self.usage(image_id)
            if users:
                raise Conflict(
                    f'conflict: unable to remove repository reference "{ref}" (must force)'
                    f" - container {short_id(users[0])} is using its referenced image "
                    f"{short_id(image_id)}"
                )
        parsed = parse_normalized(ref)
        if parsed.digest is None:
            parsed = parsed.tag_name_only()
        if not self.store.delete_ref(ref_key(parsed)):
            raise NotFound(f"No such image: {parsed.familiar}")
        self.records.append({"Untagged": parsed.familiar})
        refs = self._refs(image_id)
        if parsed.digest is None and not any(
            r.digest is None and r.name == parsed.name for r in refs
        ):
            remaining = []
            for r in refs:
                if r.digest is not None and r.name == parsed.name:
                    self._drop_ref(r)
                else:
                    remaining.append(r)
            refs = remaining
        return bool(refs)

    def _refs(self, image_id: str) -> list[Reference]:
        refs = [parse_normalized(name) for name, _ in self.store.refs_of(image_id)]
        return sorted(refs, key=lambda r: r.familiar)

    def _drop_ref(self, r: Reference) -> None:
        self.store.delete_ref(ref_key(r))
        self.records.append({"Untagged": r.familiar})

    def _conflict(self, image_id: str, mask: int) -> tuple[str, bool] | None:
        """(error text, used by a container) for the first conflict in `mask`, else None."""

        def text(hard: bool, why: str) -> str:
            how = "cannot be forced" if hard else "must be forced"
            return f"conflict: unable to delete {short_id(image_id)} ({how}) - {why}"

        if mask & _CHILD and self.store.children(image_id):
            return text(True, "image has dependent child images"), False
        users = self.usage(image_id) if mask & (_RUNNING | _STOPPED) else []
        running = self.running(image_id) if (self.running and users) else []
        if mask & _RUNNING and running:
            return text(
                True, f"image is being used by running container {short_id(running[0])}"
            ), True
        if mask & _REFERENCE and self.store.refs_of(image_id):
            return text(False, "image is referenced in multiple repositories"), False
        stopped = [u for u in users if u not in running]
        if mask & _STOPPED and stopped:
            return text(
                False, f"image is being used by stopped container {short_id(stopped[0])}"
            ), True
        return None

    def _delete(self, image_id: str, *, force: bool, prune: bool, quiet: bool) -> None:
        conflict = self._conflict(image_id, _HARD if force else _HARD | _SOFT)
        if conflict is not None:
            dangling = not self.store.refs_of(image_id)
            if quiet and (not dangling or conflict[1]):
                return
            raise Conflict(conflict[0])
        images = self.store.load_images([image_id])
        if not images:
            return
        img = images[0]
        for r in self._refs(image_id):
            self._drop_ref(r)
        removed = set(self.store.delete_image(image_id))
        self.records.append({"Deleted": image_id})
        for diff_id, chain in reversed(
            list(zip(img.diff_ids, chain_ids(img.diff_ids), strict=True))
        ):
            if diff_id in removed:
                self.records.append({"Deleted": chain})
                removed.discard(diff_id)
        if prune and img.parent and self.store.load_images([img.parent]):
            self._delete(img.parent, force=False, prune=True, quiet=True)
