"""The steps of a build: FROM, and one handler per instruction. Each step that makes an
image looks for it in the cache first (its parent and its container config are the key);
RUN runs in a container; COPY, ADD and WORKDIR write into the parent's root filesystem
mounted for the step; the others change the config only."""

from __future__ import annotations

import asyncio
import copy as _copy
import os
import posixpath
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from berth import stdcopy
from berth.engine.build import cache as bcache
from berth.engine.build import copier, shell
from berth.engine.build import dockerfile as dfp
from berth.engine.build.context import Context, Source
from berth.engine.build.gofmt import q_slice, v_slice
from berth.engine.build.options import BuildOptions
from berth.engine.build.stage import PREDEFINED_ARGS, StageState
from berth.engine.clock import rfc3339nano
from berth.engine.containers import diff, users
from berth.engine.errors import EngineError, InvalidParameter, NotFound
from berth.engine.images.model import Image, ImageConfig
from berth.runtime import rootfs as rt_rootfs

if TYPE_CHECKING:
    from berth.engine.build.builder import BuildService

_PORT = re.compile(r"^(\d+)(?:-(\d+))?(?:/(tcp|udp|sctp))?$")


# the flags each instruction takes in the classic builder
_CLASSIC_FLAGS = {
    "copy": frozenset({"from", "chown", "chmod"}),
    "add": frozenset({"chown", "chmod"}),
    "healthcheck": frozenset({"interval", "timeout", "start-period", "start-interval", "retries"}),
    "from": frozenset({"platform"}),
}


def _nop(state: StageState, comment: str) -> list[str]:
    """The recorded command of a step that only changes the config (dockerd's
    withCmdComment: the comment a word of its own, hence two spaces in the history)."""
    return [*state.shell, "#(nop) ", comment]


def _nop_str(state: StageState, comment: str) -> list[str]:
    """That of COPY, ADD and WORKDIR (dockerd's withCmdCommentString: one word)."""
    return [*state.shell, f"#(nop) {comment}"]


class Steps:
    def __init__(
        self, svc: BuildService, opts: BuildOptions, ctx: Context, work: Path, quiet: bool
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

        from berth.engine.build.builder import host_os_arch

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
            if [_h(h) for h in hist[: len(mine)]] != [_h(h) for h in mine]:
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
        cc = self._container_config(state, _nop(state, comment))

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

    # ---- FROM ----------------------------------------------------------------
    async def from_(
        self, state: StageState, stage: dfp.Stage, done: dict[str, StageState]
    ) -> AsyncIterator[dict[str, Any]]:
        from berth.engine.build.builder import BuildError, check_platform

        self.done = done
        meta_env = {k: v for k, v in state.meta.items() if v is not None}
        base = shell.expand(stage.base, meta_env)
        if stage.platform:
            check_platform(shell.expand(stage.platform, meta_env))
        if not base:
            raise BuildError("base name (" + stage.base + ") should not be blank")
        if base.lower() == "scratch":
            state.image = None
            state.config = ImageConfig()
            return
        src = done.get(base.lower())
        if src is not None:
            state.image = src.image
            state.config = _copy.deepcopy(src.config)
        else:
            img = None
            if not self.opts.pull:
                try:
                    img = self.images.get(base)
                except NotFound:
                    img = None
            if img is None:
                async for msg in self._pull(base):
                    yield msg
                img = self.images.get(base)
            state.image = img
            state.config = _copy.deepcopy(img.config)
        assert state.image is not None
        yield self.say(f" ---> {state.image.short_id}\n")
        triggers = list(state.config.onbuild or [])
        if triggers:
            state.config.onbuild = None
            yield self.say(
                f"# Executing {len(triggers)} build trigger{'s' if len(triggers) > 1 else ''}\n"
            )
            for text in triggers:
                inst = dfp.parse("FROM scratch\n" + text).stages[0].instructions[0]
                async for msg in self.dispatch(state, inst):
                    yield msg

    async def _pull(self, ref: str) -> AsyncIterator[dict[str, Any]]:
        from berth.engine.build.builder import BuildError

        gen = self.images.pull(ref, None, platform=None, auth=self.svc.auth_for(self.opts, ref))
        try:
            async for msg in gen:
                if "errorDetail" in msg or "error" in msg:
                    raise BuildError(str(msg.get("error") or msg["errorDetail"].get("message")))
                yield msg
        except EngineError as exc:
            raise BuildError(exc.message) from None

    # ---- dispatch ------------------------------------------------------------
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

    async def _i_env(
        self, state: StageState, inst: dfp.Instruction
    ) -> AsyncIterator[dict[str, Any]]:
        env = state.env_map()
        pairs = [(k, shell.expand(v, env)) for k, v in dfp.parse_key_values(inst)]
        for k, v in pairs:
            state.set_env(k, v)
        async for m in self._metadata(state, "ENV " + " ".join(f"{k}={v}" for k, v in pairs)):
            yield m

    async def _i_label(
        self, state: StageState, inst: dfp.Instruction
    ) -> AsyncIterator[dict[str, Any]]:
        env = state.env_map()
        pairs = [
            (shell.expand(k, env), shell.expand(v, env)) for k, v in dfp.parse_key_values(inst)
        ]
        labels = dict(state.config.labels)
        for k, v in pairs:
            labels[k] = v
        state.config.labels = labels
        async for m in self._metadata(state, "LABEL " + " ".join(f"{k}={v}" for k, v in pairs)):
            yield m

    async def _i_maintainer(
        self, state: StageState, inst: dfp.Instruction
    ) -> AsyncIterator[dict[str, Any]]:
        state.author = " ".join(inst.args)
        async for m in self._metadata(state, "MAINTAINER " + state.author):
            yield m

    def _command(self, state: StageState, inst: dfp.Instruction) -> list[str]:
        if inst.json_form:
            return list(inst.args)
        return [*state.shell, " ".join(inst.args)]

    async def _i_cmd(
        self, state: StageState, inst: dfp.Instruction
    ) -> AsyncIterator[dict[str, Any]]:
        cmd = self._command(state, inst)
        state.config.cmd = cmd
        state.cmd_set = True
        async for m in self._metadata(state, f"CMD {q_slice(cmd)}"):
            yield m

    async def _i_entrypoint(
        self, state: StageState, inst: dfp.Instruction
    ) -> AsyncIterator[dict[str, Any]]:
        ep = self._command(state, inst) if (inst.args or not inst.json_form) else []
        state.config.entrypoint = ep or None
        if not state.cmd_set:
            state.config.cmd = None  # dockerd: an ENTRYPOINT drops the CMD inherited
        async for m in self._metadata(state, f"ENTRYPOINT {q_slice(ep)}"):
            yield m

    async def _i_expose(
        self, state: StageState, inst: dfp.Instruction
    ) -> AsyncIterator[dict[str, Any]]:
        env = state.env_map()
        ports: list[str] = []
        for word in inst.args:
            for w in shell.expand_words(word, env):
                pm = _PORT.match(w)
                if pm is None:
                    raise InvalidParameter(f"invalid containerPort: {w}")
                lo, hi, proto = int(pm[1]), int(pm[2] or pm[1]), pm[3] or "tcp"
                if hi < lo:
                    raise InvalidParameter(f"invalid port range: {w}")
                ports += [f"{p}/{proto}" for p in range(lo, hi + 1)]
        exposed = dict(state.config.exposed_ports)
        for p in ports:
            exposed[p] = {}
        state.config.exposed_ports = exposed
        async for m in self._metadata(state, "EXPOSE " + " ".join(sorted(set(ports)))):
            yield m

    async def _i_user(
        self, state: StageState, inst: dfp.Instruction
    ) -> AsyncIterator[dict[str, Any]]:
        state.config.user = self._expand(state, " ".join(inst.args))
        async for m in self._metadata(state, "USER " + state.config.user):
            yield m

    async def _i_volume(
        self, state: StageState, inst: dfp.Instruction
    ) -> AsyncIterator[dict[str, Any]]:
        env = state.env_map()
        vols: list[str] = []
        for word in inst.args:
            vols += [
                v
                for v in (
                    shell.expand_words(word, env)
                    if not inst.json_form
                    else [shell.expand(word, env)]
                )
            ]
        if not vols or any(not v.strip() for v in vols):
            raise InvalidParameter("VOLUME specified can not be an empty string")
        volumes = dict(state.config.volumes)
        for v in vols:
            volumes[v] = {}
        state.config.volumes = volumes
        async for m in self._metadata(state, f"VOLUME {v_slice(vols)}"):
            yield m

    async def _i_stopsignal(
        self, state: StageState, inst: dfp.Instruction
    ) -> AsyncIterator[dict[str, Any]]:
        from berth.engine.containers.create import parse_signal

        sig = self._expand(state, inst.args[0] if inst.args else "")
        try:
            parse_signal(sig)
        except EngineError:
            raise InvalidParameter(f"Invalid signal: {sig}") from None
        state.config.stop_signal = sig
        async for m in self._metadata(state, "STOPSIGNAL " + sig):
            yield m

    async def _i_healthcheck(
        self, state: StageState, inst: dfp.Instruction
    ) -> AsyncIterator[dict[str, Any]]:
        hc = dfp.parse_healthcheck(inst)
        state.config.healthcheck = hc
        raw_test: Any = (hc or {}).get("Test") or []
        test = [str(t) for t in raw_test]
        async for m in self._metadata(state, f"HEALTHCHECK {q_slice(test)}"):
            yield m

    async def _i_shell(
        self, state: StageState, inst: dfp.Instruction
    ) -> AsyncIterator[dict[str, Any]]:
        if not inst.json_form:
            raise InvalidParameter("SHELL requires the arguments to be in JSON form")
        if not inst.args:
            raise InvalidParameter("SHELL requires at least one argument")
        state.config.shell = list(inst.args)
        async for m in self._metadata(state, f"SHELL {v_slice(list(inst.args))}"):
            yield m

    async def _i_onbuild(
        self, state: StageState, inst: dfp.Instruction
    ) -> AsyncIterator[dict[str, Any]]:
        text = " ".join(inst.args)
        state.config.onbuild = [*(state.config.onbuild or []), text]
        async for m in self._metadata(state, "ONBUILD " + text):
            yield m

    async def _i_arg(
        self, state: StageState, inst: dfp.Instruction
    ) -> AsyncIterator[dict[str, Any]]:
        words = []
        for name, default in dfp.parse_args(inst):
            value = self.arg_value(name, default, {**state.meta, **state.args, **state.env_map()})
            if value is None and default is None and name in state.meta:
                value = state.meta[name]  # an ARG of the global scope declared again
            state.args[name] = value
            words.append(name + (f"={default}" if default is not None else ""))
        async for m in self._metadata(state, "ARG " + " ".join(words)):
            yield m

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
        cc = self._container_config(state, _nop_str(state, comment))
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
        layer = await asyncio.to_thread(_layer_of, str(upper), step / "layer.tar")
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
            cc = self._container_config(state, _nop_str(state, comment))
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

    # ---- RUN -----------------------------------------------------------------
    async def _i_run(
        self, state: StageState, inst: dfp.Instruction
    ) -> AsyncIterator[dict[str, Any]]:
        from berth.engine.build.builder import BuildError

        if state.image is None:
            raise BuildError("no such file or directory: a RUN needs a base image with a shell")
        if inst.json_form:
            cmd = list(inst.args)
        elif inst.heredocs and inst.args and inst.args[0].strip().startswith("<<"):
            cmd = [*state.shell, inst.heredocs[0].data()]
        else:
            cmd = [*state.shell, inst.args[0] if inst.args else ""]
        for k in state.args:
            if k in self.opts.build_args:
                self.used_args.add(k)
        build_env = state.run_build_args(self.opts.build_args)
        save_cmd = [f"|{len(build_env)}", *build_env, *cmd] if build_env else cmd
        cc = self._container_config(state, save_cmd)
        hit = self._cached(state, cc)
        if hit is not None:
            yield self.say(" ---> Using cache\n")
            state.image = hit
            yield self.say(f" ---> {state.image.short_id}\n")
            return
        c, _ = self.containers.create(None, self._run_body(state, cmd, build_env))
        state.container_id = c.id
        keep = True
        try:
            yield self.say(f" ---> Running in {c.id[:12]}\n")
            areq = self.containers.attach_request(c, False, True, True)
            exited = await self.containers.wait(c.id, "next-exit")
            try:
                await self.containers.start(c.id)
            except EngineError as exc:
                raise BuildError(exc.message) from None
            try:
                reader, writer = await areq.streams
            except EngineError:
                reader = None
            if reader is not None:
                async for text in _frames(reader):
                    yield {"stream": text}
                writer.close()
            st = await exited
            if st.exit_code != 0:
                keep = not self.opts.force_remove
                raise BuildError(
                    f"The command '{' '.join(cmd)}' returned a non-zero code: {st.exit_code}",
                    st.exit_code,
                )
            upper = str(self.containers.overlay_dir / c.id / "upper")
            self._n += 1
            step = self.work / f"step-{self._n}"
            step.mkdir()
            layer = await asyncio.to_thread(_layer_of, upper, step / "layer.tar")
            state.image = await self._commit(state, cc, layer)
            keep = not self.opts.remove
        finally:
            if not keep:
                try:
                    await self.containers.remove(c.id, force=True)
                except EngineError:
                    pass
        if self.opts.remove:
            yield self.say(f"Removing intermediate container {c.id[:12]}\n")
        yield self.say(f" ---> {state.image.short_id}\n")

    def _run_body(self, state: StageState, cmd: list[str], build_env: list[str]) -> dict[str, Any]:
        o = self.opts
        hc: dict[str, Any] = {
            "NetworkMode": o.network_mode if o.network_mode not in ("", "default") else "bridge",
            "ExtraHosts": o.extra_hosts or None,
            "ShmSize": o.shm_size,
            "Ulimits": [{"Name": u.name, "Soft": u.soft, "Hard": u.hard} for u in o.ulimits]
            or None,
            "Memory": o.memory,
            "MemorySwap": o.memory_swap,
            "CpuShares": o.cpu_shares,
            "CpuPeriod": o.cpu_period,
            "CpuQuota": o.cpu_quota,
            "CpusetCpus": o.cpuset_cpus,
            "CpusetMems": o.cpuset_mems,
            "CgroupParent": o.cgroup_parent,
        }
        assert state.image is not None
        return {
            "Image": state.image.id,
            "Cmd": cmd,
            "Entrypoint": [],
            "Env": [*state.config.env, *build_env],
            "WorkingDir": state.config.working_dir,
            "User": state.config.user,
            "AttachStdout": True,
            "AttachStderr": True,
            "HostConfig": {k: v for k, v in hc.items() if v not in (None, "", 0)},
        }

    async def with_labels(self, state: StageState, labels: dict[str, str]) -> Image:
        """--label: one more LABEL step at the end, as the classic builder adds it."""
        merged = dict(state.config.labels)
        merged.update(labels)
        state.config.labels = merged
        comment = "LABEL " + " ".join(f"{k}={v}" for k, v in sorted(labels.items()))
        async for _ in self._metadata(state, comment):
            pass
        assert state.image is not None
        return state.image


def _h(h: dict[str, Any]) -> tuple[str, bool]:
    return h.get("created_by") or "", bool(h.get("empty_layer"))


def _layer_of(upper: str, out: Path) -> Path | None:
    """The upper dir as a layer tar, or None when the step changed nothing."""
    with open(out, "wb") as f:
        n = diff.write_layer(upper, f)
    return out if n else None


async def _frames(reader: Any) -> AsyncIterator[str]:
    """A RUN's stdout and stderr, as they come (stdcopy frames from the shim)."""
    buf = b""
    while True:
        try:
            header = await reader.readexactly(stdcopy.HEADER_SIZE)
        except asyncio.IncompleteReadError:
            break
        _, size = stdcopy.parse_header(header)
        try:
            data = await reader.readexactly(size)
        except asyncio.IncompleteReadError as exc:
            data = exc.partial
        buf += data
        text, sep, rest = buf.rpartition(b"\n")
        if sep:
            yield (text + sep).decode(errors="replace")
            buf = rest
    if buf:
        yield buf.decode(errors="replace")
