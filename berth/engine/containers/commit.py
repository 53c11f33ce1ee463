"""`docker commit`: the container's upper dir as a new layer on its image, with the
container's config (overridden by the request's config and Dockerfile-like changes)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

from berth.engine import wire
from berth.engine.containers import diff
from berth.engine.containers.model import Container
from berth.engine.errors import Conflict, InvalidParameter
from berth.engine.images.model import Image, ImageConfig, now_rfc3339


@dataclass
class CommitOptions:
    repo: str | None = None
    tag: str | None = None
    comment: str = ""
    author: str = ""
    changes: list[str] = field(default_factory=list)
    pause: bool = True
    config: Any = None  # the request body: a container Config, or None


def container_image_config(c: Container) -> ImageConfig:
    cfg = c.config
    return ImageConfig(
        user=cfg.user,
        env=list(cfg.env or []),
        cmd=list(cfg.cmd) if cfg.cmd is not None else None,
        entrypoint=list(cfg.entrypoint) if cfg.entrypoint is not None else None,
        working_dir=cfg.working_dir,
        labels=dict(cfg.labels or {}),
        stop_signal=cfg.stop_signal or "",
        volumes=dict(cfg.volumes or {}),
        exposed_ports=dict(cfg.exposed_ports or {}),
        healthcheck=cfg.healthcheck,
        shell=cfg.shell,
        onbuild=cfg.on_build,
        args_escaped=bool(cfg.args_escaped),
    )


# container.Config's fields that Go's encoding/json leaves out when empty (omitempty)
_OMIT_EMPTY = frozenset(
    {"ExposedPorts", "Healthcheck", "ArgsEscaped", "NetworkDisabled", "MacAddress",
     "StopSignal", "StopTimeout", "Shell"}
)  # fmt: skip


def container_config(c: Container) -> dict[str, Any]:
    """The image's `container_config`: the committed container's whole Config, in
    container.Config's JSON (dockerd 20.10's CreateImageFromContainer records it, and
    `container` beside it; API < 1.45 shows both in image inspect)."""
    out: dict[str, Any] = {}
    for key, val in wire.to_wire(c.config).items():
        if key in _OMIT_EMPTY and val in (None, "", [], {}, False, 0):
            continue
        out[key] = val
    return out


def merge_config(c: Container, body: Any, changes: list[str]) -> ImageConfig:
    """dockerd's order: the request's config and the changes win; what they leave unset
    comes from the container's config."""
    from berth.engine.images.importer import apply_changes

    base = container_image_config(c)
    if body is not None and not isinstance(body, dict):
        raise InvalidParameter("invalid commit config: expected a JSON object")
    if body:
        over = ImageConfig.from_wire(body)
        for name in base.__dataclass_fields__:
            value = getattr(over, name)
            if value not in (None, "", [], {}, False):
                setattr(base, name, value)
    return apply_changes(base, changes)


def image_config_json(
    parent: Image, c: Container, config: ImageConfig, diff_id: str | None, opts: CommitOptions
) -> bytes:
    """The new image's config blob, shaped like dockerd's NewChildImage."""
    raw = parent.raw_config
    created = now_rfc3339()
    history = list(raw.get("history") or [{"created": parent.created} for _ in parent.diff_ids])
    entry: dict[str, Any] = {"created": created}
    if opts.author:
        entry["author"] = opts.author
    # dockerd's NewHistory for a commit: the container's Cmd (its entrypoint left out)
    entry["created_by"] = " ".join(c.config.cmd or [])
    if opts.comment:
        entry["comment"] = opts.comment
    if diff_id is None:
        entry["empty_layer"] = True
    history.append(entry)
    doc: dict[str, Any] = {"architecture": raw.get("architecture") or parent.architecture}
    if raw.get("variant"):
        doc["variant"] = raw["variant"]
    if opts.author:
        doc["author"] = opts.author
    if opts.comment:
        doc["comment"] = opts.comment
    doc |= {
        "config": config.to_wire(),
        "container": c.id,
        "container_config": container_config(c),
        "created": created,
        "history": history,
        "os": raw.get("os") or parent.os or "linux",
        "rootfs": {
            "type": "layers",
            "diff_ids": list(parent.diff_ids) + ([diff_id] if diff_id else []),
        },
    }
    return json.dumps(doc, separators=(",", ":")).encode()


async def commit(svc: Any, ref: str, opts: CommitOptions) -> Image:
    """POST /commit."""
    c = svc.get(ref)
    if c.state.status in ("removing", "dead"):
        raise Conflict(f"You cannot commit container {c.id} which is being removed")
    config = merge_config(c, opts.config, opts.changes)
    parent = svc.images.get(c.image_id)
    upper = str(svc.overlay_dir / c.id / "upper")
    paused_here = False
    if opts.pause and c.state.status == "running":
        with contextlib.suppress(Conflict):
            await svc.pause(c.id)
            paused_here = True
    try:
        return await asyncio.to_thread(  # type: ignore[no-any-return]
            svc.images.commit_layer,
            lambda f: diff.write_layer(upper, f),
            lambda diff_id: image_config_json(parent, c, config, diff_id, opts),
            parent=parent,
            repo=opts.repo,
            tag=opts.tag,
        )
    finally:
        if paused_here:
            with contextlib.suppress(Conflict):
                await svc.unpause(c.id)
