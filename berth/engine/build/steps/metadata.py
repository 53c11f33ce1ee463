"""The instructions that change only the image's config (ENV, LABEL, CMD, EXPOSE, ARG, ...):
each is one step whose image has no new layer."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

from berth.engine.build import dockerfile as dfp
from berth.engine.build import shell
from berth.engine.build.gofmt import q_slice, v_slice
from berth.engine.build.stage import StageState
from berth.engine.errors import EngineError, InvalidParameter
from berth.engine.images.model import Image

from .base import StepBase

_PORT = re.compile(r"^(\d+)(?:-(\d+))?(?:/(tcp|udp|sctp))?$")


class MetadataSteps(StepBase):
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
