"""`docker import`: the Dockerfile-like `changes` and the config of a one-layer image."""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from typing import Any

from berth.engine.errors import InvalidParameter
from berth.engine.images.model import ImageConfig, now_rfc3339

_VALID = {
    "cmd",
    "entrypoint",
    "env",
    "expose",
    "label",
    "onbuild",
    "stopsignal",
    "user",
    "volume",
    "workdir",
}
_PORT_RE = re.compile(r"^(\d+)(?:-(\d+))?(?:/(tcp|udp|sctp))?$", re.IGNORECASE)


def _words(rest: str, what: str) -> list[str]:
    try:
        return shlex.split(rest, posix=True)
    except ValueError as exc:
        raise InvalidParameter(f"{what}: {exc}") from exc


def _json_or_shell(rest: str) -> list[str]:
    if rest.startswith("["):
        try:
            v = json.loads(rest)
        except ValueError:
            v = None
        if isinstance(v, list) and all(isinstance(x, str) for x in v):
            return v
    return ["/bin/sh", "-c", rest]


def _pairs(rest: str, what: str) -> list[tuple[str, str]]:
    """KEY=VALUE words, or the legacy "KEY VALUE..." form with one pair."""
    words = _words(rest, what)
    if not words:
        raise InvalidParameter(f"{what} requires at least one argument")
    if "=" not in words[0]:
        key, _, value = rest.strip().partition(" ")
        if not value.strip():
            raise InvalidParameter(f"{what} must have two arguments")
        return [(key, value.strip())]
    out = []
    for w in words:
        key, eq, value = w.partition("=")
        if not eq:
            raise InvalidParameter(f"{what}: syntax error - can't find = in {w!r}")
        if not key:
            raise InvalidParameter(f"{what} names can not be blank")
        out.append((key, value))
    return out


def _ports(rest: str) -> list[str]:
    out = []
    for w in _words(rest, "EXPOSE"):
        m = _PORT_RE.match(w)
        if m is None:
            raise InvalidParameter(f"invalid containerPort: {w}")
        lo = int(m.group(1))
        hi = int(m.group(2) or lo)
        proto = (m.group(3) or "tcp").lower()
        if hi < lo or hi > 65535:
            raise InvalidParameter(f"invalid port range: {w}")
        out += [f"{p}/{proto}" for p in range(lo, hi + 1)]
    return out


def apply_changes(config: ImageConfig, changes: list[str]) -> ImageConfig:
    """Apply Dockerfile instructions (CMD, ENV, ...) to `config` in place and return it."""
    for line in changes:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        if "\t" in word:
            word, _, more = word.partition("\t")
            rest = more + " " + rest
        cmd = word.lower()
        rest = rest.strip()
        if cmd not in _VALID:
            raise InvalidParameter(f"{word} is not a valid change command")
        if cmd == "cmd":
            config.cmd = _json_or_shell(rest)
        elif cmd == "entrypoint":
            config.entrypoint = _json_or_shell(rest)
        elif cmd == "env":
            for key, value in _pairs(rest, "ENV"):
                config.env = [e for e in config.env if e.split("=", 1)[0] != key]
                config.env.append(f"{key}={value}")
        elif cmd == "label":
            for key, value in _pairs(rest, "LABEL"):
                config.labels[key] = value
        elif cmd == "expose":
            for port in _ports(rest):
                config.exposed_ports[port] = {}
        elif cmd == "volume":
            vols = _json_or_shell(rest)
            if vols[:2] == ["/bin/sh", "-c"]:
                vols = _words(rest, "VOLUME")
            if not vols:
                raise InvalidParameter("VOLUME requires at least one argument")
            for v in vols:
                if not v.strip():
                    raise InvalidParameter("VOLUME specified can not be an empty string")
                config.volumes[v] = {}
        elif cmd == "user":
            if not rest:
                raise InvalidParameter("USER requires exactly one argument")
            config.user = rest
        elif cmd == "workdir":
            if not rest:
                raise InvalidParameter("WORKDIR requires exactly one argument")
            config.working_dir = posixpath.normpath(
                posixpath.join("/", config.working_dir or "/", rest)
            )
        elif cmd == "stopsignal":
            if not re.match(r"^(SIG)?[A-Z0-9+-]+$|^\d+$", rest, re.IGNORECASE):
                raise InvalidParameter(f"Invalid signal: {rest}")
            config.stop_signal = rest
        elif cmd == "onbuild":
            config.onbuild = (config.onbuild or []) + [rest]
    return config


def parse_platform(platform: str | None, host_arch: str) -> tuple[str, str, str]:
    """(os, architecture, variant) from "linux/amd64[/v8]"; the host's when empty."""
    if not platform:
        return "linux", host_arch, ""
    parts = platform.lower().split("/")
    if len(parts) > 3 or not all(parts):
        raise InvalidParameter(f"invalid platform: {platform!r}")
    os_ = parts[0]
    arch = parts[1] if len(parts) > 1 else host_arch
    variant = parts[2] if len(parts) > 2 else ""
    if os_ != "linux":
        raise InvalidParameter(f"operating system is not supported: {os_}")
    return os_, arch, variant


def import_config(
    diff_id: str, config: ImageConfig, message: str, os_: str, arch: str, variant: str
) -> bytes:
    """The image config JSON of an imported rootfs, shaped like dockerd's."""
    created = now_rfc3339()
    doc: dict[str, Any] = {"architecture": arch}
    if variant:
        doc["variant"] = variant
    doc |= {
        "comment": message,
        "config": config.to_wire(),
        "created": created,
        "history": [{"created": created, "comment": message}],
        "os": os_,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }
    return json.dumps(doc, separators=(",", ":")).encode()
