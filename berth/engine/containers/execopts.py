"""docker exec's request bodies and the rules that need no exec instance: the environment
an exec gets, detach keys, and what dockerd answers for an exec that cannot start."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, ClassVar

from berth.engine.errors import SystemError_
from berth.engine.wire import Go, GoUint

_CTRL = "@abcdefghijklmnopqrstuvwxyz[\\]^_"


@dataclass
class ExecOptions:
    """POST /containers/{id}/exec's body: dockerd's container.ExecOptions."""

    GO: ClassVar[str] = "container.ExecOptions"
    user: str = ""
    privileged: bool = False
    tty: bool = False
    console_size: Annotated[list[GoUint], Go("[2]uint")] | None = None
    attach_stdin: bool = False
    attach_stderr: bool = False
    attach_stdout: bool = False
    detach: bool = False
    detach_keys: str = ""
    env: list[str] | None = None
    working_dir: str = ""
    cmd: list[str] | None = None


@dataclass
class ExecStartOptions:
    """POST /exec/{id}/start's body: dockerd's container.ExecStartOptions."""

    GO: ClassVar[str] = "container.ExecStartOptions"
    detach: bool = False
    tty: bool = False
    console_size: Annotated[list[GoUint], Go("[2]uint")] | None = None


def replace_or_append_env(defaults: list[str], overrides: list[str]) -> list[str]:
    """moby's ReplaceOrAppendEnvValues: an override replaces the default of the same name or is
    appended; a bare NAME (no '=') removes it."""
    out: list[str | None] = list(defaults)
    index = {e.partition("=")[0]: i for i, e in enumerate(defaults)}
    for value in overrides:
        name, eq, _ = value.partition("=")
        if not eq:
            if name in index:
                out[index[name]] = None
            continue
        if name in index:
            out[index[name]] = value
        else:
            out.append(value)
    return [e for e in out if e]


def key_bytes(keys: str) -> bytes:
    """moby/term's ToBytes: "ctrl-p,ctrl-q" -> b"\\x10\\x11", "a,b" -> b"ab". A key is one
    byte (Go's len: a multi-byte character is no key), ctrl-@ .. ctrl-_ or DEL; anything
    else raises ValueError."""
    codes = bytearray()
    for key in keys.split(","):
        raw = key.encode()
        if len(raw) == 1:
            codes += raw
        elif key.startswith("ctrl-") and len(key) == 6 and key[5] in _CTRL:
            codes.append(_CTRL.index(key[5]))
        elif key == "DEL":
            codes.append(127)
        else:
            raise ValueError(f"Unknown character: '{key}'")
    return bytes(codes)


def detach_key_bytes(keys: str) -> bytes:
    """An exec's DetachKeys as bytes; dockerd's plain error (500) if they are not keys."""
    try:
        return key_bytes(keys)
    except ValueError:
        raise SystemError_(f"Invalid escape keys ({keys}) provided") from None


def command_line(entrypoint: str, args: list[str]) -> str:
    # dockerd joins entrypoint and args with a space even when there are no args
    return entrypoint + " " + " ".join(args)
