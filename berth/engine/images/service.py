"""ImageService: what the API and the container code ask of the image store."""

from __future__ import annotations

import asyncio
import builtins
import hashlib
import json
import os
import re
import shutil
import tarfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from berth.engine.db import Database
from berth.engine.errors import (
    Conflict,
    EngineError,
    InvalidParameter,
    NotFound,
)
from berth.engine.images import filters as image_filters
from berth.engine.images.compression import copy_uncompressed, detect, peek
from berth.engine.images.model import (
    Image,
    ImageConfig,
    chain_ids,
    now_rfc3339,
    parse_rfc3339,
    short_id,
)
from berth.engine.images.reference import (
    Reference,
    familiar,
    is_digest,
    parse_any,
    parse_normalized,
)
from berth.engine.images.store import ImageStore, NewImage, PreparedLayer, hex_of

_HEX_RE = re.compile(r"^[0-9a-f]+$")
_SPOOL_BATCH = 1 << 20

# checkImageDeleteConflict masks, as in moby
_CHILD, _RUNNING, _REFERENCE, _STOPPED = 1, 2, 4, 8
_HARD = _CHILD | _RUNNING
_SOFT = _REFERENCE | _STOPPED


def _ref_key(ref: Reference) -> str:
    """The stored form of a reference: name@digest (a tag next to a digest is dropped),
    else name:tag with ':latest' implied."""
    if ref.digest is not None:
        return f"{ref.name}@{ref.digest}"
    return str(ref.tag_name_only())


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


class ImageService:
    """The image store's operations; blocking parts run in worker threads."""

    def __init__(self, db: Database, root: Path, registry: Any = None) -> None:
        from berth.engine.images.registry.config import RegistryOptions

        self.store = ImageStore(db, root)
        self.store.repair()
        self._usage: Callable[[str], builtins.list[str]] = lambda _id: []
        self._running: Callable[[str], builtins.list[str]] | None = None
        # Registry access (pull/push/login), from the daemon's config.
        self.registry_options: RegistryOptions = registry or RegistryOptions()
        self.max_concurrent_downloads = self.registry_options.max_concurrent_downloads
        self.max_concurrent_uploads = self.registry_options.max_concurrent_uploads
        self._registries: Any = None
        self._origins: Any = None
        # the engine's EventBus (set by the engine): image events
        self.events: Any = None

    def _event(self, image_id: str, action: str, name: str = "") -> None:
        if self.events is not None:
            self.events.image(image_id, action, name)

    # ---- lookups -------------------------------------------------------
    def resolve_id(self, ref: str) -> str:
        """The id of the image `ref` names (name, name:tag, name@digest, id, id prefix)."""
        parsed = parse_any(ref)
        if isinstance(parsed, str):
            if self.store.load_images([parsed]):
                return parsed
            raise NotFound(f"No such image: {parsed}")
        found = self.store.ref_target(_ref_key(parsed))
        if found is not None:
            return found
        hx = ref[7:] if ref.startswith("sha256:") else ref
        if _HEX_RE.match(hx):
            ids = self.store.ids_with_prefix(hx)
            if len(ids) == 1:
                return ids[0]
        raise NotFound(f"No such image: {parsed.tag_name_only().familiar}")

    def get(self, ref: str) -> Image:
        """The image `ref` names; NotFound("No such image: busybox:latest") like dockerd."""
        image_id = self.resolve_id(ref)
        images = self.store.load_images([image_id])
        if not images:  # removed meanwhile
            raise NotFound(f"No such image: {ref}")
        return images[0]

    def layer_dirs(self, image: Image) -> builtins.list[str]:
        """Extracted layer dirs, bottom-most first (the order of overlay lowers reversed)."""
        return [str(self.store.layer_path(d)) for d in image.diff_ids]

    def set_usage_check(
        self,
        fn: Callable[[str], builtins.list[str]],
        running: Callable[[str], builtins.list[str]] | None = None,
    ) -> None:
        """fn(image_id) -> ids of containers using the image; `running` (optional) -> the
        running ones among them (a hard conflict even with force, as in dockerd)."""
        self._usage = fn
        self._running = running

    def list(
        self, *, all: bool = False, filters: dict[str, builtins.list[str]] | None = None
    ) -> builtins.list[Image]:
        """Images for GET /images/json, newest first."""
        return image_filters.apply(
            self.store.load_images(), filters or {}, all=all, resolve=self.get
        )

    def history(self, ref: str) -> builtins.list[dict[str, Any]]:
        """GET /images/{name}/history entries, newest first."""
        img = self.get(ref)
        sizes = self.store.layer_sizes(img.diff_ids)
        hist = img.raw_config.get("history") or [{} for _ in img.diff_ids]
        out: builtins.list[dict[str, Any]] = []
        layer = 0
        for h in hist:
            size = 0
            if not h.get("empty_layer"):
                if layer < len(img.diff_ids):
                    size = sizes.get(img.diff_ids[layer], 0)
                layer += 1
            out.append(
                {
                    "Id": "<missing>",
                    "Created": int(parse_rfc3339(h.get("created") or img.created)),
                    "CreatedBy": h.get("created_by") or "",
                    "Tags": None,
                    "Size": size,
                    "Comment": h.get("comment") or "",
                }
            )
        # An image whose parents are here (a build's steps) names each: the entry that
        # is a parent's last is that parent's, as dockerd shows it.
        cur: Image | None = img
        for _ in range(len(out)):
            if cur is None:
                break
            n = len(cur.raw_config.get("history") or cur.diff_ids)
            if 0 < n <= len(out):
                out[n - 1]["Id"] = cur.id
                out[n - 1]["Tags"] = cur.repo_tags or None
            try:
                cur = self.get(cur.parent) if cur.parent else None
            except NotFound:
                cur = None
        out.reverse()
        if out:
            out[0]["Id"] = img.id
            out[0]["Tags"] = img.repo_tags or None
        return out

    def layer_size(self, image: Image) -> dict[str, int]:
        """diff_id -> extracted size, for the image's layers."""
        return self.store.layer_sizes(image.diff_ids)

    # ---- spooling ------------------------------------------------------
    async def spool(self, body: AsyncIterator[bytes], path: Path) -> int:
        total = 0
        with open(path, "wb") as f:  # noqa: ASYNC230 - writes are batched into a thread
            buf: builtins.list[bytes] = []
            size = 0
            async for chunk in body:
                buf.append(chunk)
                size += len(chunk)
                if size >= _SPOOL_BATCH:
                    await asyncio.to_thread(f.write, b"".join(buf))
                    total += size
                    buf, size = [], 0
            if buf:
                await asyncio.to_thread(f.write, b"".join(buf))
                total += size
        return total

    def _prepare_layer(self, src: Any, expected: str | None, work: Path, n: int) -> PreparedLayer:
        tar_path = work / f"{n}.tar"
        with open(tar_path, "wb") as dst:
            digest, tar_size = copy_uncompressed(src, dst)
        if expected is not None and digest != expected:
            raise InvalidParameter(
                f"invalid diffID for layer {n}: expected {expected!r}, got {digest!r}"
            )
        dir_path = work / f"{n}.d"
        dir_path.mkdir()
        os.chmod(dir_path, 0o755)
        size = 0 if tar_size == 0 else _extract(tar_path, dir_path)
        return PreparedLayer(digest, tar_path, dir_path, size, tar_size)

    async def _cleanup(self, work: Path) -> None:
        await asyncio.to_thread(shutil.rmtree, work, True)

    # ---- load ----------------------------------------------------------
    async def load(self, body: AsyncIterator[bytes], *, quiet: bool) -> AsyncIterator[dict]:
        """`docker load`: progress messages as dicts. Errors before the first message are
        raised; later ones come as an errorDetail message, like dockerd."""
        started = False
        try:
            async for msg in self._load(body, quiet):
                started = True
                yield msg
        except Exception as exc:
            if not started:
                raise
            text = exc.message if isinstance(exc, EngineError) else f"{type(exc).__name__}: {exc}"
            yield {"errorDetail": {"message": text}, "error": text}

    async def _load(self, body: AsyncIterator[bytes], quiet: bool) -> AsyncIterator[dict]:
        from berth.engine.images import archive

        work = self.store.mkdtemp("load-")
        tf: tarfile.TarFile | None = None
        try:
            spool = work / "in"
            if await self.spool(body, spool) == 0:
                raise InvalidParameter("no archive in request body (empty input)")
            tf = await asyncio.to_thread(_open_tar, spool, work)
            reader = archive.ArchiveReader(tf)
            plan = await asyncio.to_thread(_plan, reader)
            pending: dict[str, PreparedLayer] = {}
            news: builtins.list[NewImage] = []
            n = 0
            for ai, cfg_bytes, image_id, diff_ids in plan:
                chains = chain_ids(diff_ids)
                for i, (member, diff_id) in enumerate(zip(ai.layer_members, diff_ids, strict=True)):
                    if diff_id in pending or self.store.has_layer(diff_id):
                        continue
                    if not quiet:
                        yield {
                            "status": "Loading layer",
                            "progressDetail": {},
                            "id": short_id(chains[i]),
                        }
                    src = reader.open(member)
                    n += 1
                    try:
                        pl = await asyncio.to_thread(self._prepare_layer, src, diff_id, work, n)
                    finally:
                        src.close()
                    pending[diff_id] = pl
                    if not quiet:
                        yield {
                            "status": "Loading layer",
                            "progressDetail": {"current": pl.tar_size, "total": pl.tar_size},
                            "id": short_id(chains[i]),
                        }
                news.append(NewImage(image_id, cfg_bytes, diff_ids, ai.tags))
            moved = await asyncio.to_thread(self.store.commit, news, list(pending.values()))
            for tag, old in moved:
                yield {
                    "stream": f"The image {familiar(tag)} already exists, renaming the old one "
                    f"with ID {old} to empty string\n"
                }
            for img in news:
                self._event(img.id, "load")
                if img.tags:
                    for t in img.tags:
                        yield {"stream": f"Loaded image: {familiar(t)}\n"}
                else:
                    yield {"stream": f"Loaded image ID: {img.id}\n"}
        finally:
            if tf is not None:
                tf.close()
            await self._cleanup(work)

    # ---- registry ------------------------------------------------------
    def reconfigure(self, registry: Any) -> None:
        """New registry options (berthd's SIGHUP): pulls and pushes started from now on use
        them; the ones under way finish with what they had."""
        self.registry_options = registry
        self.max_concurrent_downloads = registry.max_concurrent_downloads
        self.max_concurrent_uploads = registry.max_concurrent_uploads
        self._registries = None

    def registries(self) -> Any:
        """The shared registry state (token cache, schemes, insecure registries)."""
        if self._registries is None:
            from berth.engine.images.registry.client import Registries
            from berth.engine.images.registry.meta import LayerOrigins

            opts = self.registry_options
            self._registries = Registries(
                insecure=opts.insecure_entries(), mirrors=list(opts.mirrors)
            )
            self._origins = LayerOrigins(self.store.db)
        return self._registries

    async def _streamed(self, gen: AsyncIterator[dict]) -> AsyncIterator[dict]:
        """Errors before the first message are raised; later ones become an errorDetail
        message, like dockerd."""
        started = False
        try:
            async for msg in gen:
                started = True
                yield msg
        except Exception as exc:
            if not started:
                raise
            text = exc.message if isinstance(exc, EngineError) else f"{type(exc).__name__}: {exc}"
            yield {"errorDetail": {"message": text}, "error": text}

    async def _evented(
        self, name: str, action: str, gen: AsyncIterator[dict]
    ) -> AsyncIterator[dict]:
        """The stream of a pull or push, with dockerd's event once it has succeeded."""
        failed = False
        async for msg in self._streamed(gen):
            failed = failed or "errorDetail" in msg
            yield msg
        if not failed:
            self._event(name, action, name)

    def pull(
        self, image: str, tag: str | None, *, platform: str | None, auth: str | None
    ) -> AsyncIterator[dict]:
        """`docker pull` (POST /images/create?fromImage=): progress messages."""
        from berth.engine.images.registry.auth import decode_header
        from berth.engine.images.registry.pull import pull

        ref = parse_normalized(image)
        if tag:
            # A digest travels in `tag` too (docker's client sends it that way).
            if is_digest(tag):
                ref = Reference(ref.domain, ref.path, None, tag)
            else:
                ref = ref.with_tag(tag)
        hub = self.registries()
        return self._evented(
            ref.familiar,
            "pull",
            pull(
                self,
                hub,
                self._origins,
                ref,
                decode_header(auth),
                platform,
                self.max_concurrent_downloads,
            ),
        )

    def push(self, name: str, tag: str | None, *, auth: str | None) -> AsyncIterator[dict]:
        """`docker push` (POST /images/{name}/push): progress messages."""
        from berth.engine.images.registry.auth import decode_header
        from berth.engine.images.registry.push import push

        hub = self.registries()
        return self._evented(
            f"{name}:{tag}" if tag else name,
            "push",
            push(
                self,
                hub,
                self._origins,
                name,
                tag or None,
                decode_header(auth),
                self.max_concurrent_uploads,
            ),
        )

    async def login(self, body: Any) -> dict[str, str]:
        """POST /auth: check the credentials against the registry."""
        from berth.engine.images.registry.auth import Credentials, registry_host

        creds = Credentials.from_wire(body)
        client = self.registries().client(registry_host(creds.server_address), creds)
        await asyncio.to_thread(client.login)
        return {"Status": "Login Succeeded", "IdentityToken": ""}

    # ---- save ----------------------------------------------------------
    def _save_items(self, refs: builtins.list[str]) -> builtins.list[Any]:
        from berth.engine.images.archive import SaveItem

        order: builtins.list[str] = []
        tags: dict[str, builtins.list[str]] = {}

        def add(image_id: str, tag: str | None) -> None:
            if image_id not in tags:
                order.append(image_id)
                tags[image_id] = []
            if tag and tag not in tags[image_id]:
                tags[image_id].append(tag)

        for name in refs:
            parsed = parse_any(name)
            if isinstance(parsed, Reference) and parsed.name_only:
                assocs = [
                    (r, img.id)
                    for img in self.store.load_images()
                    for r in img.repo_tags
                    if parse_normalized(r).name == parsed.name
                ]
                for r, image_id in sorted(assocs):
                    add(image_id, str(parse_normalized(r)))
                if assocs:
                    continue
            image_id = self.resolve_id(name)
            tag = None
            if isinstance(parsed, Reference) and parsed.digest is None:
                key = _ref_key(parsed)
                if self.store.ref_target(key) == image_id:
                    tag = key
            add(image_id, tag)
        items = []
        for img in self.store.load_images(order):
            cfg = self.store.blob_path(img.id).read_bytes()
            layers = []
            for d in img.diff_ids:
                p = self.store.blob_path(d)
                layers.append((d, p, p.stat().st_size))
            items.append(SaveItem(img.id, cfg, layers, tags[img.id]))
        items.sort(key=lambda it: order.index(it.image_id))
        return items

    async def save(self, refs: builtins.list[str]) -> AsyncIterator[bytes]:
        """`docker save`: a docker-archive + OCI layout tar, streamed. Unknown names raise
        before the first byte."""
        from berth.engine.images.archive import write_archive

        if not refs:
            raise InvalidParameter("no image names given")
        items = await asyncio.to_thread(self._save_items, refs)
        async for chunk in write_archive(items):
            yield chunk
        for item in items:
            self._event(item.image_id, "save")

    # ---- import --------------------------------------------------------
    async def import_rootfs(
        self,
        body: AsyncIterator[bytes],
        *,
        repo: str | None,
        tag: str | None,
        changes: builtins.list[str],
        message: str,
        platform: str | None,
    ) -> Image:
        """`docker import`: a one-layer image from a rootfs tar (maybe gzip/xz/bzip2)."""
        from berth.engine.images.archive import host_arch
        from berth.engine.images.importer import apply_changes, import_config, parse_platform

        config = apply_changes(ImageConfig(), changes)
        os_, arch, variant = parse_platform(platform, host_arch())
        tags = _target_tags(repo, tag, "import")
        work = self.store.mkdtemp("import-")
        try:
            spool = work / "in"
            await self.spool(body, spool)

            def prepare() -> PreparedLayer:
                with open(spool, "rb") as src:
                    return self._prepare_layer(src, None, work, 0)

            pl = await asyncio.to_thread(prepare)
            cfg = import_config(
                pl.diff_id, config, message or "Imported from -", os_, arch, variant
            )
            image_id = "sha256:" + hashlib.sha256(cfg).hexdigest()
            await asyncio.to_thread(
                self.store.commit, [NewImage(image_id, cfg, [pl.diff_id], tags)], [pl]
            )
        finally:
            await self._cleanup(work)
        for t in tags:
            self._event(image_id, "tag", familiar(t))
        self._event(image_id, "import")
        return self.get(image_id)

    def commit_layer(
        self,
        write_layer: Callable[[Any], int],
        make_config: Callable[[str | None], bytes],
        *,
        parent: Image,
        repo: str | None = None,
        tag: str | None = None,
    ) -> Image:
        """`docker commit` (blocking: run it in a thread): write_layer(file) writes a layer
        tar and returns its entry count; make_config(diff_id, or None for an empty layer,
        which is not added, as in dockerd) returns the new image's config JSON."""
        tags = _target_tags(repo, tag, "commit to")
        work = self.store.mkdtemp("commit-")
        try:
            raw = work / "layer.tar"
            with open(raw, "wb") as f:
                entries = write_layer(f)
            layers: builtins.list[PreparedLayer] = []
            diff_ids = list(parent.diff_ids)
            if entries:
                with open(raw, "rb") as f:
                    layers.append(self._prepare_layer(f, None, work, 0))
                diff_ids.append(layers[0].diff_id)
            cfg = make_config(layers[0].diff_id if layers else None)
            image_id = "sha256:" + hashlib.sha256(cfg).hexdigest()
            self.store.commit([NewImage(image_id, cfg, diff_ids, tags, parent=parent.id)], layers)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return self.get(image_id)

    def add_step_image(
        self,
        layer_tar: Path | None,
        make_config: Callable[[str | None], bytes],
        *,
        parent: Image | None,
        existing_layer: str | None = None,
    ) -> Image:
        """One step of a build (blocking: run it in a thread): the parent's layers plus
        LAYER_TAR (an uncompressed layer, or None for a step that only changes the
        config) or EXISTING_LAYER (the diff_id of a layer the store has: a step taken from
        a --cache-from image), and the config make_config(new diff_id or None) returns."""
        work = self.store.mkdtemp("step-")
        try:
            layers: builtins.list[PreparedLayer] = []
            diff_ids = list(parent.diff_ids) if parent is not None else []
            if layer_tar is not None:
                with open(layer_tar, "rb") as f:
                    layers.append(self._prepare_layer(f, None, work, 0))
                diff_ids.append(layers[0].diff_id)
            elif existing_layer is not None:
                diff_ids.append(existing_layer)
            cfg = make_config(layers[0].diff_id if layers else existing_layer)
            image_id = "sha256:" + hashlib.sha256(cfg).hexdigest()
            self.store.commit(
                [NewImage(image_id, cfg, diff_ids, [], parent=parent.id if parent else "")],
                layers,
            )
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return self.get(image_id)

    # ---- tag / remove --------------------------------------------------
    def tag(self, ref: str, repo: str, tag: str | None) -> None:
        """Point repo[:tag] (":latest" implied) at the image `ref` names; moves the tag."""
        image_id = self.resolve_id(ref)
        new = parse_normalized(repo)
        if new.digest is not None:
            raise InvalidParameter("refusing to create a tag with a digest reference")
        if tag:
            new = new.with_tag(tag)
        self.store.set_ref(_ref_key(new), image_id, now_rfc3339())
        self._event(image_id, "tag", new.familiar)

    def _refs(self, image_id: str) -> builtins.list[Reference]:
        refs = [parse_normalized(name) for name, _ in self.store.refs_of(image_id)]
        return sorted(refs, key=lambda r: r.familiar)

    def remove(self, ref: str, *, force: bool, prune: bool) -> builtins.list[dict]:
        """DELETE /images/{name}: untag and/or delete, with dockerd's conflict rules."""
        image_id = self.resolve_id(ref)
        records: builtins.list[dict] = []
        refs = self._refs(image_id)
        removed_repo_ref = False
        if not _is_id_prefix(image_id, ref):
            if not force and _is_single_reference(refs):
                users = self._usage(image_id)
                if users:
                    raise Conflict(
                        f'conflict: unable to remove repository reference "{ref}" (must force)'
                        f" - container {short_id(users[0])} is using its referenced image "
                        f"{short_id(image_id)}"
                    )
            parsed = parse_normalized(ref)
            if parsed.digest is None:
                parsed = parsed.tag_name_only()
            if not self.store.delete_ref(_ref_key(parsed)):
                raise NotFound(f"No such image: {parsed.familiar}")
            records.append({"Untagged": parsed.familiar})
            refs = self._refs(image_id)
            if parsed.digest is None and not any(
                r.digest is None and r.name == parsed.name for r in refs
            ):
                remaining = []
                for r in refs:
                    if r.digest is not None and r.name == parsed.name:
                        self.store.delete_ref(_ref_key(r))
                        records.append({"Untagged": r.familiar})
                    else:
                        remaining.append(r)
                refs = remaining
            if refs:
                return records
            removed_repo_ref = True
        elif _is_single_reference(refs):
            mask = _HARD if force else _HARD | (_SOFT & ~_REFERENCE)
            conflict = self._conflict(image_id, mask)
            if conflict is not None:
                raise Conflict(conflict[0])
            for r in refs:
                self.store.delete_ref(_ref_key(r))
                records.append({"Untagged": r.familiar})
        self._delete(image_id, records, force=force, prune=prune, quiet=removed_repo_ref)
        return records

    def _conflict(self, image_id: str, mask: int) -> tuple[str, bool] | None:
        """(error text, used by a container) for the first conflict in `mask`, else None."""

        def text(hard: bool, why: str) -> str:
            how = "cannot be forced" if hard else "must be forced"
            return f"conflict: unable to delete {short_id(image_id)} ({how}) - {why}"

        if mask & _CHILD and self.store.children(image_id):
            return text(True, "image has dependent child images"), False
        users = self._usage(image_id) if mask & (_RUNNING | _STOPPED) else []
        running = self._running(image_id) if (self._running and users) else []
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

    def _delete(
        self, image_id: str, records: builtins.list[dict], *, force: bool, prune: bool, quiet: bool
    ) -> None:
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
            self.store.delete_ref(_ref_key(r))
            records.append({"Untagged": r.familiar})
        removed = set(self.store.delete_image(image_id))
        records.append({"Deleted": image_id})
        for diff_id, chain in reversed(
            list(zip(img.diff_ids, chain_ids(img.diff_ids), strict=True))
        ):
            if diff_id in removed:
                records.append({"Deleted": chain})
                removed.discard(diff_id)
        if prune and img.parent and self.store.load_images([img.parent]):
            self._delete(img.parent, records, force=False, prune=True, quiet=True)


def _extract(tar_path: Path, dest: Path) -> int:
    from berth.engine.images.layers import extract_layer

    return extract_layer(tar_path, dest)


def _open_tar(spool: Path, work: Path) -> tarfile.TarFile:
    """Open the uploaded archive, first undoing any compression (tar needs random access)."""
    with open(spool, "rb") as f:
        kind = detect(peek(f))
    path = spool
    if kind:
        path = work / "in.tar"
        with open(spool, "rb") as src, open(path, "wb") as dst:
            copy_uncompressed(src, dst)
        spool.unlink()
    try:
        return tarfile.open(path, "r:")
    except tarfile.TarError as exc:
        # Go's archive/tar wording, as dockerd answers a load that is no tar
        raise InvalidParameter("archive/tar: invalid tar header") from exc


def _plan(reader: Any) -> list[tuple[Any, bytes, str, list[str]]]:
    """Read every image's config from the archive and check it against its manifest."""
    from berth.engine.images.archive import read_images

    try:
        images = read_images(reader)
    except tarfile.TarError as exc:
        raise InvalidParameter(f"invalid tar archive: {exc}") from exc
    out = []
    for ai in images:
        cfg_bytes = reader.read(ai.config_member)
        try:
            cfg = json.loads(cfg_bytes)
        except ValueError as exc:
            raise InvalidParameter(f"invalid image config {ai.config_member}: {exc}") from exc
        if not isinstance(cfg, dict):
            raise InvalidParameter(f"invalid image config {ai.config_member}")
        diff_ids = (cfg.get("rootfs") or {}).get("diff_ids") or []
        try:
            for d in diff_ids:
                hex_of(d)
        except (ValueError, TypeError) as exc:
            raise InvalidParameter(f"invalid image config {ai.config_member}: {exc}") from exc
        if len(diff_ids) != len(ai.layer_members):
            raise InvalidParameter(
                f"invalid manifest, layers length mismatch: expected {len(diff_ids)}, "
                f"got {len(ai.layer_members)}"
            )
        image_id = "sha256:" + hashlib.sha256(cfg_bytes).hexdigest()
        out.append((ai, cfg_bytes, image_id, list(diff_ids)))
    return out


def _target_tags(repo: str | None, tag: str | None, verb: str) -> list[str]:
    """The tag key that `import`/`commit` with `repo[:tag]` writes (none without repo)."""
    if not repo:
        return []
    ref = parse_normalized(repo)
    if ref.digest is not None:
        raise InvalidParameter(f"cannot {verb} digest reference")
    if tag:
        ref = ref.with_tag(tag)
    return [_ref_key(ref)]
