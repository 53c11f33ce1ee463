"""RUN: the command runs in a real container (the isolation of `docker run`); its changes
to the root filesystem are the step's layer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from berth import stdcopy
from berth.engine.build import dockerfile as dfp
from berth.engine.build.errors import BuildError
from berth.engine.build.stage import StageState
from berth.engine.errors import EngineError

from .base import StepBase
from .files import layer_of


def _run_command(state: StageState, inst: dfp.Instruction) -> list[str]:
    """What RUN runs: the JSON form as it is, else the shell with the line (or the
    heredoc's body, for `RUN <<EOF`)."""
    if inst.json_form:
        return list(inst.args)
    if inst.heredocs and inst.args and inst.args[0].strip().startswith("<<"):
        return [*state.shell, inst.heredocs[0].data()]
    return [*state.shell, inst.args[0] if inst.args else ""]


class RunSteps(StepBase):
    async def _i_run(
        self, state: StageState, inst: dfp.Instruction
    ) -> AsyncIterator[dict[str, Any]]:
        if state.image is None:
            raise BuildError("no such file or directory: a RUN needs a base image with a shell")
        cmd = _run_command(state, inst)
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
        async for m in self._run_container(state, cc, cmd, build_env):
            yield m

    async def _run_container(
        self, state: StageState, cc: dict[str, Any], cmd: list[str], build_env: list[str]
    ) -> AsyncIterator[dict[str, Any]]:
        """The step's container: run, its output streamed, its upper dir committed; removed
        after as --rm / --force-rm say."""
        c, _ = self.containers.create(None, self._run_body(state, cmd, build_env))
        state.container_id = c.id
        keep = True
        try:
            yield self.say(f" ---> Running in {c.id[:12]}\n")
            streams, exited = await self._start(c)
            if streams is not None:
                reader, writer = streams
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
            layer = await asyncio.to_thread(layer_of, upper, step / "layer.tar")
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

    async def _start(self, c: Any) -> tuple[tuple[Any, Any] | None, Any]:
        """C started, attached to its output first: (its output's streams, or None if the
        attach failed; what to await for its exit)."""
        areq = self.containers.attach_request(c, False, True, True)
        exited = await self.containers.wait(c.id, "next-exit")
        try:
            await self.containers.start(c.id)
        except EngineError as exc:
            raise BuildError(exc.message) from None
        try:
            reader, writer = await areq.streams
        except EngineError:
            return None, exited
        return (reader, writer), exited

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
