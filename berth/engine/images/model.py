"""What an image is, as the rest of the engine sees it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


def _list_or_none(v: Any) -> list[str] | None:
    return [str(x) for x in v] if isinstance(v, list) else None


def _dict_of_dicts(v: Any) -> dict[str, dict]:
    if not isinstance(v, dict):
        return {}
    return {str(k): (x if isinstance(x, dict) else {}) for k, x in v.items()}


@dataclass
class ImageConfig:
    """The "config" object of an image config: defaults for containers run from it."""

    user: str = ""
    env: list[str] = field(default_factory=list)
    cmd: list[str] | None = None
    entrypoint: list[str] | None = None
    working_dir: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    stop_signal: str = ""
    volumes: dict[str, dict] = field(default_factory=dict)
    exposed_ports: dict[str, dict] = field(default_factory=dict)
    healthcheck: dict | None = None
    shell: list[str] | None = None
    onbuild: list[str] | None = None
    args_escaped: bool = False

    @classmethod
    def from_wire(cls, d: dict | None) -> ImageConfig:
        """Build from Docker's field names (missing or null fields take defaults)."""
        d = d or {}
        labels = d.get("Labels") or {}
        return cls(
            user=d.get("User") or "",
            env=[str(x) for x in d.get("Env") or []],
            cmd=_list_or_none(d.get("Cmd")),
            entrypoint=_list_or_none(d.get("Entrypoint")),
            working_dir=d.get("WorkingDir") or "",
            labels={str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {},
            stop_signal=d.get("StopSignal") or "",
            volumes=_dict_of_dicts(d.get("Volumes")),
            exposed_ports=_dict_of_dicts(d.get("ExposedPorts")),
            healthcheck=d.get("Healthcheck") if isinstance(d.get("Healthcheck"), dict) else None,
            shell=_list_or_none(d.get("Shell")),
            onbuild=_list_or_none(d.get("OnBuild")),
            args_escaped=bool(d.get("ArgsEscaped")),
        )

    def to_wire(self) -> dict:
        """Docker's field names; empty optional fields are left out like dockerd does."""
        out: dict[str, Any] = {}
        if self.user:
            out["User"] = self.user
        if self.exposed_ports:
            out["ExposedPorts"] = self.exposed_ports
        if self.env:
            out["Env"] = self.env
        if self.cmd is not None:
            out["Cmd"] = self.cmd
        if self.healthcheck is not None:
            out["Healthcheck"] = self.healthcheck
        if self.args_escaped:
            out["ArgsEscaped"] = True
        if self.volumes:
            out["Volumes"] = self.volumes
        if self.working_dir:
            out["WorkingDir"] = self.working_dir
        if self.entrypoint is not None:
            out["Entrypoint"] = self.entrypoint
        if self.onbuild is not None:
            out["OnBuild"] = self.onbuild
        if self.labels:
            out["Labels"] = self.labels
        if self.stop_signal:
            out["StopSignal"] = self.stop_signal
        if self.shell is not None:
            out["Shell"] = self.shell
        return out


@dataclass
class Image:
    """One image in the store; `id` is the digest of its config blob."""

    id: str
    repo_tags: list[str]
    repo_digests: list[str]
    created: str
    config: ImageConfig
    diff_ids: list[str]
    size: int
    architecture: str
    os: str
    raw_config: dict
    parent: str = ""
    last_tag_time: str = ""

    @property
    def short_id(self) -> str:
        """The 12-hex form docker prints."""
        return short_id(self.id)

    @property
    def created_unix(self) -> int:
        """`created` as whole seconds since the epoch (0 when unknown)."""
        return int(parse_rfc3339(self.created))

    @property
    def labels(self) -> dict[str, str]:
        return self.config.labels


def short_id(image_id: str) -> str:
    """stringid.TruncateID: drop the algorithm, keep 12 hex digits."""
    return image_id.split(":", 1)[-1][:12]


def chain_ids(diff_ids: list[str]) -> list[str]:
    """The OCI ChainID of each layer prefix (what dockerd reports for deleted layers)."""
    import hashlib

    out: list[str] = []
    for d in diff_ids:
        if not out:
            out.append(d)
        else:
            out.append("sha256:" + hashlib.sha256(f"{out[-1]} {d}".encode()).hexdigest())
    return out


def now_rfc3339() -> str:
    """Current UTC time in Go's RFC3339Nano form (trailing zeros trimmed)."""
    ns = time.time_ns()
    secs, frac = divmod(ns, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    f = f"{frac:09d}".rstrip("0")
    return f"{base}.{f}Z" if f else base + "Z"


def parse_rfc3339(s: str) -> float:
    """Seconds since the epoch for an RFC3339 timestamp with any fraction; 0.0 if unparsable."""
    if not s:
        return 0.0
    try:
        head, sep, rest = s.partition(".")
        frac = 0.0
        tz = ""
        if sep:
            digits = ""
            for i, ch in enumerate(rest):
                if not ch.isdigit():
                    tz = rest[i:]
                    break
                digits += ch
            frac = float("0." + digits) if digits else 0.0
        else:
            for mark in ("Z", "z", "+", "-"):
                idx = head.find(mark, 19)
                if idx != -1:
                    head, tz = head[:idx], head[idx:]
                    break
        if tz in ("Z", "z", ""):
            tz = "+00:00"
        return datetime.fromisoformat(head + tz).timestamp() + frac
    except ValueError:
        return 0.0
