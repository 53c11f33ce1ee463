"""What a build knows about the stage it is in: its image so far, the config the next
step starts from (the classic builder's runConfig), and the ARGs in scope."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from berth.engine.images.model import Image, ImageConfig

DEFAULT_SHELL = ["/bin/sh", "-c"]

# usable without an ARG, never in the history or the cache key (dockerd's builtinAllowedBuildArgs)
PREDEFINED_ARGS = frozenset(
    {
        "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
        "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy",
    }
)  # fmt: skip


@dataclass
class StageState:
    name: str
    index: int
    # the ARGs before the first FROM, with their values
    meta: dict[str, str | None]
    image: Image | None = None
    config: ImageConfig = field(default_factory=ImageConfig)
    # the ARGs this stage declared, with their values (a build arg wins over the default)
    args: dict[str, str | None] = field(default_factory=dict)
    author: str = ""
    cmd_set: bool = False
    # the last step's container (the image's "container")
    container_id: str = ""

    @property
    def shell(self) -> list[str]:
        return list(self.config.shell or DEFAULT_SHELL)

    def env_map(self) -> dict[str, str]:
        """What ${VAR} expands to: the ARGs in scope, then the ENV (which wins)."""
        out = {k: v for k, v in self.args.items() if v is not None}
        for e in self.config.env:
            k, _, v = e.partition("=")
            out[k] = v
        return out

    def set_env(self, key: str, value: str) -> None:
        """ENV: a key set again keeps its place, as in dockerd."""
        for i, e in enumerate(self.config.env):
            if e.partition("=")[0] == key:
                self.config.env[i] = f"{key}={value}"
                return
        self.config.env.append(f"{key}={value}")

    def run_build_args(self, given: dict[str, str | None]) -> list[str]:
        """The build args a RUN sees as environment: the declared ones with a value and
        the predefined ones given, unless an ENV of the same name hides them; sorted, as
        dockerd prepends them to the command it records."""
        env_keys = {e.partition("=")[0] for e in self.config.env}
        out: dict[str, str] = {}
        for k, v in self.args.items():
            if v is not None and k not in env_keys:
                out[k] = v
        for k in PREDEFINED_ARGS:
            v = given.get(k)
            if v is not None and k not in env_keys and k not in out:
                out[k] = v
        return [f"{k}={out[k]}" for k in sorted(out)]

    def parent_doc(self) -> dict[str, Any]:
        return self.image.raw_config if self.image is not None else {}
