"""What every step shares: the cache lookup, the image a step commits (its config blob as
dockerd writes it), and the dispatch of an instruction to its handler."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

from berth.engine.build import cache as bcache
from berth.engine.build import dockerfile as dfp
from berth.engine.build import shell
from berth.engine.build.context import Context
from berth.engine.build.errors import BuildError
from berth.engine.build.hostplatform import host_os_arch
from berth.engine.build.options import BuildOptions
from berth.engine.build.stage import PREDEFINED_ARGS, StageState
from berth.engine.clock import rfc3339nano
from berth.engine.errors import EngineError, InvalidParameter, NotFound
from berth.engine.images.model import Image

# the flags each instruction takes in the classic builder
_CLASSIC_FLAGS = {
    "copy": frozenset({"from", "chown", "chmod"}),
    "add": frozenset({"chown", "chmod"}),
    "healthcheck": frozenset({"interval", "timeout", "start-period", "start-interval", "retries"}),
    "from": frozenset({"platform"}),
}


class Service(Protocol):
    """What the steps use of the build service (berth.engine.build.builder.BuildService)."""

    images: Any
    containers: Any
    cache: bcache.BuildCache

    def auth_for(self, opts: BuildOptions, ref: str) -> str | None: ...


def nop(state: StageState, comment: str) -> list[str]:
    """The recorded command of a step that only changes the config (dockerd's
    withCmdComment: the comment a word of its own, hence two spaces in the history)."""
    return [*state.shell, "#(nop) ", comment]


def nop_str(state: StageState, comment: str) -> list[str]:
    """That of COPY, ADD and WORKDIR (dockerd's withCmdCommentString: one word)."""
    return [*state.shell, f"#(nop) {comment}"]


class StepBase:
    """The helpers of the instruction families (the mixins of steps.Steps)."""

    def __init__(
        self, svc: Service, opts: BuildOptions, ctx: Context, work: Path, quiet: bool
    ) -> None:
        self.svc = svc
        self.images = svc.images
        self.containers = svc.containers
        self.opts = opts
        self.ctx = ctx
        self.work = work
        self.quiet = quiet
        self.used_args: set[str] = set()
        self.done: dict[str, StageState] = {}
        self._n = 0

    # ---- helpers -----------------------------------------------------------
    @staticmethod
    def say(text: str) -> dict[str, Any]:
        return {"stream": text}

    def arg_value(self, name: str, default: str | None, scope: dict[str, str | None]) -> str | None:
        if name in self.opts.build_args:
            self.used_args.add(name)
            value = self.opts.build_args[name]
            if value is not None:
                return value
        if default is not None:
            return shell.expand(default, {k: v for k, v in scope.items() if v is not None})
        return None

    def unused_build_args(self) -> set[str]:
        return {
            k for k in self.opts.build_args if k not in self.used_args and k not in PREDEFINED_ARGS
        }

    def _expand(self, state: StageState, word: str, escape: str = "\\") -> str:
        try:
            return shell.expand(word, state.env_map(), escape)
        except shell.ExpansionError as exc:
            raise InvalidParameter(exc.message) from None

    def _container_config(self, state: StageState, cmd: list[str]) -> dict[str, Any]:
        """The step's container config as dockerd records it (`container_config`)."""
        return {
            "Hostname": "",
            "Domainname": "",
            "User": state.config.user,
            "AttachStdin": False,
            "AttachStdout": False,
            "AttachStderr": False,
            "Tty": False,
            "OpenStdin": False,
            "StdinOnce": False,
            **{k: v for k, v in state.config.to_wire().items() if k != "Cmd"},
            "Cmd": cmd,
            "Image": state.image.id if state.image is not None else "",
        }

    def _doc(self, state: StageState, cc: dict[str, Any], diff_id: str | None) -> bytes:
        """The new image's config blob: the parent's layers and history and this step."""
        import json

        parent = state.parent_doc()
        img = state.image
        history = list(parent.get("history") or []) if img is not None else []
        if img is not None and not history:
            history = [{"created": img.created} for _ in img.diff_ids]
        created = rfc3339nano()
        entry: dict[str, Any] = {"created": created}
        if state.author:
            entry["author"] = state.author
        entry["created_by"] = " ".join(cc["Cmd"])
        if diff_id is None:
            entry["empty_layer"] = True
        os_, arch = host_os_arch()
        doc: dict[str, Any] = {"architecture": parent.get("architecture") or arch}
        if state.author:
            doc["author"] = state.author
        doc |= {
            "config": state.config.to_wire(),
            "container": state.container_id,
            "container_config": cc,
            "created": created,
            "docker_version": "berth",
            "history": [*history, entry],
            "os": parent.get("os") or os_,
            "rootfs": {
                "type": "layers",
                "diff_ids": [*(img.diff_ids if img else []), *([diff_id] if diff_id else [])],
            },
        }
        return json.dumps(doc, separators=(",", ":")).encode()

    def _cached(self, state: StageState, cc: dict[str, Any]) -> Image | None:
        if self.opts.no_cache:
            return None
        k = bcache.key(state.image.id if state.image else "", cc)
        hit = self.svc.cache.get(k)
        if hit is None:
            return self._from_cache_sources(state, cc)
        try:
            img = self.images.get(hit)
        except NotFound:
            self.svc.cache.forget(k)
            return None
        if self.opts.cache_from and not self._in_sources(img):
            return self._from_cache_sources(state, cc)
        return img  # type: ignore[no-any-return]

    def _in_sources(self, img: Image) -> bool:
        """With --cache-from, a local hit counts only on the chain of a source image."""
        for ref in self.opts.cache_from:
            try:
                cur: Image | None = self.images.get(ref)
            except NotFound:
                continue
            while cur is not None:
                if cur.id == img.id:
                    return True
                cur = self.images.get(cur.parent) if cur.parent else None
        return False

    def _from_cache_sources(self, state: StageState, cc: dict[str, Any]) -> Image | None:
        """--cache-from images pulled from elsewhere have no parents here: a step hits if a
        source's history and layers begin with this stage's and go on with this step."""
        if not self.opts.cache_from:
            return None
        mine = [h for h in (state.parent_doc().get("history") or [])]
        layers = list(state.image.diff_ids) if state.image else []
        want = " ".join(cc["Cmd"])
        for ref in self.opts.cache_from:
            try:
                src = self.images.get(ref)
            except NotFound:
                continue
            hist = src.raw_config.get("history") or []
            if len(hist) <= len(mine):
                continue
            if [_history_key(h) for h in hist[: len(mine)]] != [_history_key(h) for h in mine]:
                continue
            step = hist[len(mine)]
            if step.get("created_by") != want:
                continue
            n = len(layers) + (0 if step.get("empty_layer") else 1)
            if src.diff_ids[: len(layers)] != layers or len(src.diff_ids) < n:
                continue
            return self._restore(state, cc, src.diff_ids[len(layers) : n], step)
        return None

    def _restore(
        self, state: StageState, cc: dict[str, Any], new: list[str], step: dict[str, Any]
    ) -> Image:
        """The image a cache-from source had at this step, made anew here."""
        import json

        doc = json.loads(self._doc(state, cc, new[0] if new else None))
        doc["history"][-1] = step
        raw = json.dumps(doc, separators=(",", ":")).encode()
        img = self.images.add_step_image(
            None, lambda _d: raw, parent=state.image, existing_layer=new[0] if new else None
        )
        return img  # type: ignore[no-any-return]

    async def _commit(
        self,
        state: StageState,
        cc: dict[str, Any],
        layer: Path | None,
    ) -> Image:
        parent = state.image
        img = await asyncio.to_thread(
            self.images.add_step_image,
            layer,
            lambda diff_id: self._doc(state, cc, diff_id),
            parent=parent,
        )
        self.svc.cache.put(
            bcache.key(parent.id if parent else "", cc), parent.id if parent else "", img.id
        )
        return img  # type: ignore[no-any-return]

    async def _metadata(self, state: StageState, comment: str) -> AsyncIterator[dict[str, Any]]:
        """A step that changes only the config."""
        cc = self._container_config(state, nop(state, comment))

        async def commit() -> Image:
            state.container_id = ""
            return await self._commit(state, cc, None)

        async for m in self._step(state, cc, commit):
            yield m

    async def _step(
        self, state: StageState, cc: dict[str, Any], make: Callable[[], Awaitable[Image]]
    ) -> AsyncIterator[dict[str, Any]]:
        """A step's image: the cached one for its container config, or MAKE's; then its
        id, as the classic builder prints them."""
        hit = self._cached(state, cc)
        if hit is not None:
            yield self.say(" ---> Using cache\n")
            state.image = hit
        else:
            state.image = await make()
        yield self.say(f" ---> {state.image.short_id}\n")

    async def _pull(self, ref: str) -> AsyncIterator[dict[str, Any]]:
        gen = self.images.pull(ref, None, platform=None, auth=self.svc.auth_for(self.opts, ref))
        try:
            async for msg in gen:
                if "errorDetail" in msg or "error" in msg:
                    raise BuildError(str(msg.get("error") or msg["errorDetail"].get("message")))
                yield msg
        except EngineError as exc:
            raise BuildError(exc.message) from None

    async def dispatch(
        self, state: StageState, inst: dfp.Instruction
    ) -> AsyncIterator[dict[str, Any]]:
        handler = getattr(self, "_i_" + inst.cmd, None)
        if handler is None:
            raise InvalidParameter(f"unknown instruction: {inst.cmd.upper()}")
        allowed = _CLASSIC_FLAGS.get(inst.cmd, frozenset())
        for name, _ in inst.flags:
            if name not in allowed:
                # the parser knows BuildKit's flags; the classic builder refuses them
                raise InvalidParameter(
                    f"the --{name} option requires BuildKit. Refer to "
                    "https://docs.docker.com/go/buildkit/ to learn how to build images with "
                    "BuildKit enabled"
                )
        async for msg in handler(state, inst):
            yield msg


def _history_key(h: dict[str, Any]) -> tuple[str, bool]:
    return h.get("created_by") or "", bool(h.get("empty_layer"))
