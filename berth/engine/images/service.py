"""ImageService: what the API and the container code ask of the image store.

A facade over the rooms of this package: lookups and tags here; remove.py (dockerd's
conflict rules), history.py, load.py, save.py, newimages.py (import, commit, build
steps), registry/pull.py and registry/push.py do the work, each given explicitly what it
needs (the store, the layer preparer, the registry side)."""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

from berth.engine.db import Database
from berth.engine.errors import InvalidParameter, NotFound
from berth.engine.images import filters as image_filters
from berth.engine.images import history as image_history
from berth.engine.images import newimages
from berth.engine.images.layers import LayerPreparer
from berth.engine.images.model import Image, now_rfc3339
from berth.engine.images.reference import Reference, familiar, is_digest, parse_normalized
from berth.engine.images.refs import ref_key, resolve_id, target_tags
from berth.engine.images.remove import Removal
from berth.engine.images.store import ImageStore
from berth.engine.images.streams import evented, streamed

if TYPE_CHECKING:
    from berth.engine.images.registry.client import Registries
    from berth.engine.images.registry.config import RegistryOptions
    from berth.engine.images.registry.meta import LayerOrigins


class ImageEvents(Protocol):
    """The part of the engine's EventBus the image operations use."""

    def image(self, image_id: str, action: str, name: str = "") -> object: ...


class ImageService:
    """The image store's operations; blocking parts run in worker threads."""

    def __init__(
        self,
        db: Database,
        root: Path,
        registry: RegistryOptions | None = None,
        *,
        events: ImageEvents | None = None,
        usage: Callable[[str], builtins.list[str]] = lambda _id: [],
        running: Callable[[str], builtins.list[str]] | None = None,
    ) -> None:
        """USAGE(image_id): the ids of the containers using the image; RUNNING (optional):
        the running ones among them (a hard conflict even with force, as in dockerd).
        EVENTS: the engine's event bus (image events); None: no events."""
        from berth.engine.images.registry.config import RegistryOptions

        self.store = ImageStore(db, root)
        self.store.repair()
        self.preparer = LayerPreparer()
        self._usage = usage
        self._running = running
        # Registry access (pull/push/login), from the daemon's config.
        self.registry_options: RegistryOptions = registry or RegistryOptions()
        self.max_concurrent_downloads = self.registry_options.max_concurrent_downloads
        self.max_concurrent_uploads = self.registry_options.max_concurrent_uploads
        self._registries: Registries | None = None
        self._origins: LayerOrigins | None = None
        self.events = events

    def _event(self, image_id: str, action: str, name: str = "") -> None:
        if self.events is not None:
            self.events.image(image_id, action, name)

    # ---- lookups -------------------------------------------------------
    def resolve_id(self, ref: str) -> str:
        """The id of the image `ref` names (name, name:tag, name@digest, id, id prefix)."""
        return resolve_id(self.store, ref)

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

    def list(
        self, *, all: bool = False, filters: dict[str, builtins.list[str]] | None = None
    ) -> builtins.list[Image]:
        """Images for GET /images/json, newest first."""
        return image_filters.apply(
            self.store.load_images(), filters or {}, all=all, resolve=self.get
        )

    def history(self, ref: str) -> builtins.list[dict[str, Any]]:
        """GET /images/{name}/history entries, newest first."""
        return image_history.history(self.store, self.get(ref), self.get)

    def layer_size(self, image: Image) -> dict[str, int]:
        """diff_id -> extracted size, for the image's layers."""
        return self.store.layer_sizes(image.diff_ids)

    # ---- spooling ------------------------------------------------------
    async def spool(self, body: AsyncIterator[bytes], path: Path) -> int:
        """Write a request body to `path`; the number of bytes written."""
        return await self.preparer.spool(body, path)

    # ---- load / save ---------------------------------------------------
    def load(self, body: AsyncIterator[bytes], *, quiet: bool) -> AsyncIterator[dict]:
        """`docker load`: progress messages as dicts. Errors before the first message are
        raised; later ones come as an errorDetail message, like dockerd."""
        from berth.engine.images.load import load

        return streamed(load(self.store, self.preparer, body, quiet=quiet, event=self._event))

    async def save(self, refs: builtins.list[str]) -> AsyncIterator[bytes]:
        """`docker save`: a docker-archive + OCI layout tar, streamed. Unknown names raise
        before the first byte."""
        from berth.engine.images.save import save_items, write_archive

        if not refs:
            raise InvalidParameter("no image names given")
        items = await asyncio.to_thread(save_items, self.store, refs)
        async for chunk in write_archive(items):
            yield chunk
        for item in items:
            self._event(item.image_id, "save")

    # ---- images made here ----------------------------------------------
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
        image_id, tags = await newimages.import_rootfs(
            self.store,
            self.preparer,
            body,
            repo=repo,
            tag=tag,
            changes=changes,
            message=message,
            platform=platform,
        )
        for t in tags:
            self._event(image_id, "tag", familiar(t))
        self._event(image_id, "import")
        return self.get(image_id)

    def commit_layer(
        self,
        write_layer: Callable[[IO[bytes]], int],
        make_config: Callable[[str | None], bytes],
        *,
        parent: Image,
        repo: str | None = None,
        tag: str | None = None,
    ) -> Image:
        """`docker commit` (blocking: run it in a thread): write_layer(file) writes a layer
        tar and returns its entry count; make_config(diff_id, or None for an empty layer,
        which is not added, as in dockerd) returns the new image's config JSON."""
        tags = target_tags(repo, tag, "commit to")
        image_id = newimages.commit_layer(
            self.store,
            self.preparer,
            write_layer,
            make_config,
            below=parent.diff_ids,
            tags=tags,
            parent=parent.id,
        )
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
        image_id = newimages.add_step_image(
            self.store,
            self.preparer,
            layer_tar,
            make_config,
            below=parent.diff_ids if parent is not None else [],
            parent=parent.id if parent else "",
            existing_layer=existing_layer,
        )
        return self.get(image_id)

    # ---- registry ------------------------------------------------------
    def reconfigure(self, registry: RegistryOptions) -> None:
        """New registry options (berthd's SIGHUP): pulls and pushes started from now on use
        them; the ones under way finish with what they had."""
        self.registry_options = registry
        self.max_concurrent_downloads = registry.max_concurrent_downloads
        self.max_concurrent_uploads = registry.max_concurrent_uploads
        self._registries = None

    def registries(self) -> Registries:
        """The shared registry state (token cache, schemes, insecure registries)."""
        return self._registry_side()[0]

    def _registry_side(self) -> tuple[Registries, LayerOrigins]:
        if self._registries is None or self._origins is None:
            from berth.engine.images.registry.client import Registries
            from berth.engine.images.registry.meta import LayerOrigins

            opts = self.registry_options
            self._registries = Registries(
                insecure=opts.insecure_entries(), mirrors=list(opts.mirrors)
            )
            self._origins = LayerOrigins(self.store.db)
        return self._registries, self._origins

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
        hub, origins = self._registry_side()
        name = ref.familiar
        gen = pull(
            ref,
            decode_header(auth),
            platform,
            store=self.store,
            preparer=self.preparer,
            hub=hub,
            origins=origins,
            limit=self.max_concurrent_downloads,
        )
        return evented(gen, lambda: self._event(name, "pull", name))

    def push(self, name: str, tag: str | None, *, auth: str | None) -> AsyncIterator[dict]:
        """`docker push` (POST /images/{name}/push): progress messages."""
        from berth.engine.images.registry.auth import decode_header
        from berth.engine.images.registry.push import push

        hub, origins = self._registry_side()
        shown = f"{name}:{tag}" if tag else name
        gen = push(
            name,
            tag or None,
            decode_header(auth),
            store=self.store,
            hub=hub,
            origins=origins,
            limit=self.max_concurrent_uploads,
        )
        return evented(gen, lambda: self._event(shown, "push", shown))

    async def login(self, body: Any) -> dict[str, str]:
        """POST /auth: check the credentials against the registry."""
        from berth.engine.images.registry.auth import Credentials, registry_host

        creds = Credentials.from_wire(body)
        client = self.registries().client(registry_host(creds.server_address), creds)
        await asyncio.to_thread(client.login)
        return {"Status": "Login Succeeded", "IdentityToken": ""}

    # ---- tag / remove --------------------------------------------------
    def tag(self, ref: str, repo: str, tag: str | None) -> None:
        """Point repo[:tag] (":latest" implied) at the image `ref` names; moves the tag."""
        image_id = self.resolve_id(ref)
        new = parse_normalized(repo)
        if new.digest is not None:
            raise InvalidParameter("refusing to create a tag with a digest reference")
        if tag:
            new = new.with_tag(tag)
        self.store.set_ref(ref_key(new), image_id, now_rfc3339())
        self._event(image_id, "tag", new.familiar)

    def remove(self, ref: str, *, force: bool, prune: bool) -> builtins.list[dict]:
        """DELETE /images/{name}: untag and/or delete, with dockerd's conflict rules."""
        return Removal(self.store, self._usage, self._running).remove(ref, force=force, prune=prune)
