"""Exec rules that need no daemon: environment merging and detach keys."""

from __future__ import annotations

import pytest

from berth.engine.containers.exec import detach_key_bytes, replace_or_append_env
from berth.engine.errors import SystemError_


def test_replace_or_append_env() -> None:
    defaults = ["PATH=/bin", "HOSTNAME=h", "TERM=xterm"]
    out = replace_or_append_env(defaults, ["A=1", "PATH=/usr/bin", "TERM", "B=x=y"])
    assert out == ["PATH=/usr/bin", "HOSTNAME=h", "A=1", "B=x=y"]
    assert defaults == ["PATH=/bin", "HOSTNAME=h", "TERM=xterm"]  # not modified
    assert replace_or_append_env([], ["UNSET"]) == []


def test_detach_keys() -> None:
    assert detach_key_bytes("ctrl-p,ctrl-q") == b"\x10\x11"
    assert detach_key_bytes("a,ctrl-@,ctrl-_,DEL") == b"a\x00\x1f\x7f"
    with pytest.raises(SystemError_, match=r"Invalid escape keys \(ctrl-1\) provided"):
        detach_key_bytes("ctrl-1")
