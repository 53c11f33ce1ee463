"""FROM: a stage's base (scratch, an earlier stage, or an image, pulled if missing), then
the ONBUILD triggers the base image carries."""

from __future__ import annotations

import copy as _copy
from collections.abc import AsyncIterator
from typing import Any

from berth.engine.build import dockerfile as dfp
from berth.engine.build import shell
from berth.engine.build.errors import BuildError
from berth.engine.build.hostplatform import check_platform
from berth.engine.build.stage import StageState
from berth.engine.errors import NotFound
from berth.engine.images.model import ImageConfig

from .base import StepBase


class FromSteps(StepBase):
    async def from_(
        self, state: StageState, stage: dfp.Stage, done: dict[str, StageState]
    ) -> AsyncIterator[dict[str, Any]]:
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
