"""`docker build` with the classic builder's semantics: the Dockerfile's stages run in
order, each instruction a step that makes an image (the parent of the next), every step
looked up in the cache first; RUN runs in a real container (the isolation of `docker run`),
COPY and ADD write into the step's root filesystem mounted for the moment, and the rest
only changes the config.

The stream is the classic builder's JSON lines (`Step N/M : ...`, ` ---> id`,
` ---> Using cache`, `Successfully built`, `{"aux": {"ID": ...}}`), which the docker CLI,
docker-py and Compose print or parse."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from berth.engine.build import cache as bcache
from berth.engine.build import dockerfile as dfp
from berth.engine.build.context import Context, unpack
from berth.engine.build.errors import BuildError
from berth.engine.build.hostplatform import check_platform
from berth.engine.build.options import BuildOptions
from berth.engine.build.stage import StageState
from berth.engine.build.steps import Steps
from berth.engine.errors import EngineError, InvalidParameter, NotFound
from berth.engine.images.reference import parse_normalized
from berth.runtime import rootfs as rt_rootfs

log = logging.getLogger("berth.build")


class BuildService:
    def __init__(self, images: Any, containers: Any, db: Any, work_root: Path) -> None:
        self.images = images
        self.containers = containers
        self.cache = bcache.BuildCache(db)
        self.work_root = work_root
        work_root.mkdir(mode=0o700, parents=True, exist_ok=True)

    def recover(self) -> None:
        """At berthd's start: a build that was running when berthd died left its work
        directory (context, root filesystems mounted for a COPY)."""
        for d in self.work_root.iterdir():
            for mnt in sorted(d.glob("step-*/merged"), reverse=True):
                rt_rootfs.unmount(str(mnt))
            shutil.rmtree(d, ignore_errors=True)

    # ---- build -----------------------------------------------------------
    async def build(self, opts: BuildOptions, body: AsyncIterator[bytes]) -> AsyncIterator[dict]:
        """The messages of a build. Bad input found before the first message raises (the
        caller answers with a status); after it, errors are errorDetail messages."""
        for t in opts.tags:
            ref = parse_normalized(t)
            if ref.digest is not None:
                raise InvalidParameter(f"invalid reference format: {t}: a tag cannot be a digest")
        check_platform(opts.platform)
        work = Path(tempfile.mkdtemp(prefix="b-", dir=self.work_root))
        try:
            df, ctx = await self._prepare(opts, body, work)
            started = False
            built = ""
            try:
                async for msg in self._run(opts, df, ctx, work):
                    started = True
                    if "aux" in msg:
                        built = msg["aux"].get("ID", "")
                    # -q: the image id alone, at the end (what the CLI prints)
                    if opts.quiet and ("stream" in msg or "status" in msg):
                        continue
                    yield msg
                if opts.quiet and built:
                    yield {"stream": built + "\n"}
            except BuildError as exc:
                yield _error(exc.message, exc.code)
            except EngineError as exc:
                if not started:
                    raise
                yield _error(exc.message, 1)
        finally:
            await asyncio.to_thread(_remove_work, work)

    async def _prepare(
        self, opts: BuildOptions, body: AsyncIterator[bytes], work: Path
    ) -> tuple[dfp.Dockerfile, Context]:
        spool = work / "context.tar"
        # batched writes: one thread hop per MiB, not one per chunk of the body
        size = await self.images.spool(body, spool)
        ctxdir = work / "ctx"
        ctxdir.mkdir(mode=0o700)

        def unpack_it() -> None:
            from berth.engine.images.compression import copy_uncompressed, detect

            with open(spool, "rb") as f:
                compressed = bool(detect(f.read(8)))
            plain = spool
            try:
                if compressed:
                    plain = work / "context.plain.tar"
                    with open(spool, "rb") as src, open(plain, "wb") as dst:
                        _, n = copy_uncompressed(src, dst)
                    spool.unlink()
                else:
                    n = size
                # Go's tar reader takes an archive that ends right after its last
                # member's data (the docker CLI sends one with -f outside the context):
                # padded here as a tar writer would have
                with open(plain, "ab") as dst:
                    dst.write(b"\0" * ((-n) % 512 + 1024))
            except (OSError, EOFError, ValueError) as exc:
                raise InvalidParameter(f"invalid build context: {exc}") from None
            with open(plain, "rb") as src:
                unpack(src, ctxdir)
            plain.unlink()

        await asyncio.to_thread(unpack_it)
        ctx = Context(ctxdir)
        raw = await asyncio.to_thread(ctx.read_dockerfile, opts.dockerfile)
        await asyncio.to_thread(ctx.drop_ignored_specials, opts.dockerfile)
        try:
            df = dfp.parse(raw, opts.dockerfile)
        except dfp.DockerfileError as exc:
            raise InvalidParameter(exc.message) from None
        if opts.target and not any(s.name == opts.target.lower() for s in df.stages):
            raise InvalidParameter(f"failed to reach build target {opts.target} in Dockerfile")
        return df, ctx

    async def _run(
        self, opts: BuildOptions, df: dfp.Dockerfile, ctx: Context, work: Path
    ) -> AsyncIterator[dict]:
        stages = list(df.stages)
        if opts.target:
            idx = next(i for i, s in enumerate(stages) if s.name == opts.target.lower())
            stages = stages[: idx + 1]
        total = len(df.meta_args) + sum(1 + len(s.instructions) for s in stages)
        steps = Steps(self, opts, ctx, work, quiet=opts.quiet)
        n = 0
        meta: dict[str, str | None] = {}
        for inst in df.meta_args:
            n += 1
            yield steps.say(f"Step {n}/{total} : {inst.original}\n")
            for name, default in dfp.parse_args(inst):
                meta[name] = steps.arg_value(name, default, meta)
        done: dict[str, StageState] = {}
        state: StageState | None = None
        for i, stage in enumerate(stages):
            n += 1
            yield steps.say(f"Step {n}/{total} : {stage.from_instruction.original}\n")
            state = StageState(name=stage.name, index=i, meta=meta)
            async for msg in steps.from_(state, stage, done):
                yield msg
            for inst in stage.instructions:
                n += 1
                yield steps.say(f"Step {n}/{total} : {inst.original}\n")
                async for msg in steps.dispatch(state, inst):
                    yield msg
            done[stage.name or str(i)] = state
            done[str(i)] = state
        assert state is not None  # the parser refuses a Dockerfile without a stage
        unused = steps.unused_build_args()
        if unused:
            yield steps.say(
                f"[Warning] One or more build-args [{' '.join(sorted(unused))}] were not consumed\n"
            )
        if state.image is None:
            raise BuildError("No image was generated. Is your Dockerfile empty?")
        image = state.image
        if opts.labels:
            image = await steps.with_labels(state, opts.labels)
        yield {"aux": {"ID": image.id}}
        yield {"stream": f"Successfully built {image.short_id}\n"}
        for t in opts.tags:
            self.images.tag(image.id, t, None)
            yield {
                "stream": f"Successfully tagged {parse_normalized(t).tag_name_only().familiar}\n"
            }

    # ---- registry credentials for FROM -----------------------------------
    def auth_for(self, opts: BuildOptions, ref: str) -> str | None:
        """The X-Registry-Auth of FROM's registry, out of the build's X-Registry-Config."""
        if not opts.registry_auth:
            return None
        domain = parse_normalized(ref).domain
        keys = [domain]
        if domain == "docker.io":
            keys += ["https://index.docker.io/v1/", "index.docker.io"]
        for k in opts.registry_auth:
            host = k.removeprefix("https://").removeprefix("http://").split("/")[0]
            if k in keys or host == domain:
                return base64.urlsafe_b64encode(json.dumps(opts.registry_auth[k]).encode()).decode()
        return None

    # ---- prune -----------------------------------------------------------
    def prune(self) -> dict[str, Any]:
        """`docker builder prune`: the images only the build cache holds (no tag, no
        container, no child) go, children first, with the space their layers free."""
        from berth.engine.images.model import chain_ids

        deleted: list[str] = []
        reclaimed = 0
        used = {c.image_id for c in self.containers.all()}
        for _ in range(256):  # each pass frees the parents of the last one's images
            progress = False
            for image_id in self.cache.image_ids():
                try:
                    img = self.images.get(image_id)
                except NotFound:
                    self.cache.forget_image(image_id)
                    continue
                if img.repo_tags or img.repo_digests or image_id in used:
                    continue
                if self.images.store.children(image_id):
                    continue
                sizes = self.images.layer_size(img)
                by_chain = {
                    ch: sizes.get(d, 0)
                    for d, ch in zip(img.diff_ids, chain_ids(img.diff_ids), strict=True)
                }
                try:
                    records = self.images.remove(image_id, force=False, prune=False)
                except EngineError:
                    continue
                self.cache.forget_image(image_id)
                deleted.append(image_id)
                reclaimed += sum(by_chain.get(r.get("Deleted", ""), 0) for r in records)
                progress = True
            if not progress:
                break
        return {"CachesDeleted": deleted or None, "SpaceReclaimed": reclaimed}


def _error(message: str, code: int) -> dict[str, Any]:
    return {"errorDetail": {"code": code, "message": message}, "error": message}


def _remove_work(work: Path) -> None:
    for mnt in sorted(work.glob("step-*/merged"), reverse=True):
        with contextlib.suppress(OSError):
            rt_rootfs.unmount(str(mnt))
    shutil.rmtree(work, ignore_errors=True)
