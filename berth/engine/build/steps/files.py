"""The instructions that write into the root filesystem: COPY, ADD (a URL too) and WORKDIR,
each on the parent's root filesystem mounted writable for the step."""

from __future__ import annotations

import asyncio
import os
import posixpath
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from berth.engine.build import copier, shell
from berth.engine.build import dockerfile as dfp
from berth.engine.build.context import Context, Source
from berth.engine.build.stage import StageState
from berth.engine.containers import diff, users
from berth.engine.errors import InvalidParameter, NotFound
from berth.engine.images.model import Image
from berth.runtime import rootfs as rt_rootfs

from .base import StepBase, nop_str


class FileSteps(StepBase):
    async def _i_workdir(
        self, state: StageState, inst: dfp.Instruction
    ) -> AsyncIterator[dict[str, Any]]:
        path = self._expand(state, " ".join(inst.args))
        if not path:
            raise InvalidParameter("WORKDIR requires exactly one argument")
        if not path.startswith("/"):
            path = posixpath.join(state.config.working_dir or "/", path)
        state.config.working_dir = posixpath.normpath(path)
        comment = "WORKDIR " + state.config.working_dir
        cc = self._container_config(state, nop_str(state, comment))
        workdir = state.config.working_dir

        def mkdir(root: str) -> None:
            from berth.runtime import rootdir

            with rootdir.Root(root) as r:
                os.close(r.mkdir_all(workdir))

        async for m in self._step(state, cc, lambda: self._fs_step(state, cc, mkdir)):
            yield m

    # ---- filesystem steps ----------------------------------------------------
    async def _fs_step(
        self, state: StageState, cc: dict[str, Any], action: Callable[[str], None]
    ) -> Image:
        """ACTION on the parent's root filesystem (mounted writable for the moment); the
        change is the step's layer (none if nothing changed)."""
        self._n += 1
        step = self.work / f"step-{self._n}"
        upper, workd, merged, empty = (step / d for d in ("upper", "work", "merged", "empty"))
        for d in (upper, workd, merged, empty):
            d.mkdir(parents=True)
        lowers = self.images.layer_dirs(state.image) if state.image is not None else []
        await asyncio.to_thread(
            rt_rootfs.mount_overlay, lowers or [str(empty)], str(upper), str(workd), str(merged)
        )
        try:
            await asyncio.to_thread(action, str(merged))
        finally:
            await asyncio.to_thread(rt_rootfs.unmount, str(merged))
        layer = await asyncio.to_thread(layer_of, str(upper), step / "layer.tar")
        state.container_id = ""
        return await self._commit(state, cc, layer)

    async def _i_copy(
        self, state: StageState, inst: dfp.Instruction
    ) -> AsyncIterator[dict[str, Any]]:
        async for m in self._copy(state, inst, "COPY"):
            yield m

    async def _i_add(
        self, state: StageState, inst: dfp.Instruction
    ) -> AsyncIterator[dict[str, Any]]:
        async for m in self._copy(state, inst, "ADD"):
            yield m

    async def _copy(
        self, state: StageState, inst: dfp.Instruction, name: str
    ) -> AsyncIterator[dict[str, Any]]:
        flags = dict(inst.flags)
        if len(inst.args) < 2:
            raise InvalidParameter(
                f"{name} requires at least two arguments, but only one was provided. "
                "Destination could not be determined."
            )
        env = state.env_map()
        words = [shell.expand(a, env) for a in inst.args]
        srcs, dest = words[:-1], words[-1]
        chown = shell.expand(flags.get("chown", ""), env)
        chmod: int | None = None
        if flags.get("chmod"):
            try:
                chmod = int(flags["chmod"], 8)
            except ValueError:
                raise InvalidParameter(f"invalid chmod parameter: {flags['chmod']}") from None
            if not 0 <= chmod <= 0o7777:
                raise InvalidParameter(f"invalid chmod parameter: {flags['chmod']}")
        async with self._source_context(state, flags.get("from", ""), name) as ctx:
            sources: list[Source] = []
            for raw in srcs:
                if name == "ADD" and re.match(r"^https?://", raw):
                    sources.append(await self._download(ctx, raw))
                    continue
                sources += await asyncio.to_thread(ctx.sources, raw, name)
            checksum = await asyncio.to_thread(ctx.checksum, sources)
            comment = f"{name} {checksum} in {dest} "
            cc = self._container_config(state, nop_str(state, comment))
            workdir = state.config.working_dir

            def do_copy(root: str) -> None:
                owner = copier.Owner()
                if chown:
                    u = users.resolve(root, chown)
                    owner = copier.Owner(u.uid, u.gid)
                copier.copy(
                    ctx, sources, root, dest, workdir, owner=owner, chmod=chmod,
                    instruction=name, unpack_archives=name == "ADD" and not flags.get("from"),
                    spool_dir=str(self.work),
                )  # fmt: skip

            async for m in self._step(state, cc, lambda: self._fs_step(state, cc, do_copy)):
                yield m

    def _source_context(self, state: StageState, ref: str, name: str) -> Any:
        """The context COPY takes from: the build's, or (--from) a stage's or an image's
        root filesystem, mounted read-only for the step."""
        import contextlib

        @contextlib.asynccontextmanager
        async def ctx() -> AsyncIterator[Context]:
            if not ref:
                yield self.ctx
                return
            src = self.done.get(ref.lower())
            img: Image | None
            if src is not None:
                img = src.image
            else:
                try:
                    img = self.images.get(ref)
                except NotFound:
                    async for _ in self._pull(ref):
                        pass
                    img = self.images.get(ref)
            self._n += 1
            mnt = self.work / f"step-{self._n}" / "merged"
            empty = self.work / f"step-{self._n}" / "empty"
            mnt.mkdir(parents=True)
            empty.mkdir()
            lowers = self.images.layer_dirs(img) if img is not None else []
            # two lowers at least: overlayfs mounts one lower with no upper read-only too
            await asyncio.to_thread(
                rt_rootfs.mount_overlay,
                [*lowers, str(empty)] if lowers else [str(empty), str(empty)],
                "",
                "",
                str(mnt),
            )
            try:
                yield Context(mnt)
            finally:
                await asyncio.to_thread(rt_rootfs.unmount, str(mnt))

        return ctx()

    async def _download(self, ctx: Context, url: str) -> Source:
        """ADD of a URL: fetched into the build's own directory, not unpacked."""
        name = posixpath.basename(urllib.parse.urlparse(url).path) or "index.html"
        self._n += 1
        dl = self.work / f"dl-{self._n}"
        dl.mkdir()

        def fetch() -> None:
            try:
                with urllib.request.urlopen(url, timeout=30) as r, open(dl / name, "wb") as f:  # noqa: S310
                    while chunk := r.read(1 << 16):
                        f.write(chunk)
            except urllib.error.HTTPError as exc:
                raise InvalidParameter(
                    f"failed to GET {url} with status {exc.code} {exc.reason}"
                ) from None
            except (urllib.error.URLError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                raise InvalidParameter(f'ADD failed: Get "{url}": {reason}') from None
            os.chmod(dl / name, 0o600)

        await asyncio.to_thread(fetch)
        return Source(f"/{name}", False, name, origin=Context(dl))


def layer_of(upper: str, out: Path) -> Path | None:
    """The upper dir as a layer tar, or None when the step changed nothing."""
    with open(out, "wb") as f:
        n = diff.write_layer(upper, f)
    return out if n else None
