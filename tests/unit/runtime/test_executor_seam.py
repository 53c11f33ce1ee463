"""executor: every side effect of a container process's setup goes through the Syscalls
seam (the recording fake sees it, the real calls are never reached)."""

from __future__ import annotations

import builtins
import inspect
import os
import resource
import signal
from pathlib import Path
from typing import Any

import pytest

from berth.runtime import executor
from berth.runtime.spec import RuntimeSpec, to_oci
from berth.runtime.syscalls import PR_SET_KEEPCAPS, Syscalls
from tests.unit.runtime.fake_syscalls import FakeSyscalls

_OOM = "/proc/self/oom_score_adj"


def _config(root: Path, **kw: object) -> dict:
    base: dict = {"id": "c1", "rootfs": str(root), "args": ["sh"], "env": ["PATH=/bin"]}
    base.update(kw)
    return to_oci(RuntimeSpec(**base))


def _setup(cfg: dict, fake: FakeSyscalls | None = None) -> FakeSyscalls:
    fake = fake or FakeSyscalls()
    executor.setup(executor.plan(cfg), fake, [])
    return fake


def test_the_fake_overrides_every_syscall() -> None:
    # a method the fake lacks would run the real call from a unit test
    public = {n for n, _ in inspect.getmembers(Syscalls, inspect.isfunction) if n[0] != "_"}
    missing = {n for n in public if getattr(FakeSyscalls, n) is getattr(Syscalls, n)}
    assert not missing


@pytest.fixture
def no_real_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The direct calls the setup used to make, made to fail loudly if anything still makes
    them (not dup2 or signal: pytest itself needs those while the test runs)."""
    hits: list[str] = []

    def trap(name: str) -> Any:
        def f(*a: Any, **k: Any) -> Any:
            hits.append(name)
            raise AssertionError(f"real {name} called")

        return f

    real_open = builtins.open

    def guarded_open(file: Any, *a: Any, **k: Any) -> Any:
        if str(file).startswith("/proc/self/oom_score_adj"):
            hits.append("open oom_score_adj")
            raise AssertionError("real open of oom_score_adj")
        return real_open(file, *a, **k)

    monkeypatch.setattr(os, "umask", trap("umask"))
    monkeypatch.setattr(resource, "setrlimit", trap("setrlimit"))
    monkeypatch.setattr(builtins, "open", guarded_open)
    return hits


def test_oom_score_adj_read_and_written_through_the_seam(
    tmp: Path, no_real_calls: list[str]
) -> None:
    fake = FakeSyscalls()
    fake.files[_OOM] = "0\n"
    _setup(_config(tmp, oom_score_adj=500), fake)
    read = fake.index("read_file", _OOM)
    assert fake.calls[fake.index("write_file", _OOM)] == ("write_file", (_OOM, "500"))
    assert fake.index("pivot_root") < read < fake.index("write_file", _OOM)
    assert not no_real_calls


def test_oom_score_adj_left_alone_when_it_already_has_the_value(tmp: Path) -> None:
    fake = FakeSyscalls()
    fake.files[_OOM] = "-200\n"
    _setup(_config(tmp, oom_score_adj=-200), fake)
    assert ("read_file", (_OOM,)) in fake.calls
    assert [a for n, a in fake.calls if n == "write_file" and a[0] == _OOM] == []


def test_rlimits_are_set_through_the_seam_before_the_identity_change(
    tmp: Path, no_real_calls: list[str]
) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want_soft = min(soft, 512)
    cfg = _config(tmp, rlimits=[("RLIMIT_NOFILE", want_soft, hard), ("RLIMIT_CORE", 0, 0)])
    fake = _setup(cfg)
    calls = [a for n, a in fake.calls if n == "setrlimit"]
    assert calls == [
        (resource.RLIMIT_NOFILE, want_soft, hard),
        (resource.RLIMIT_CORE, 0, 0),
    ]
    first = fake.index("setrlimit")
    assert fake.index("pivot_root") < first < fake.index("prctl", PR_SET_KEEPCAPS, 1)
    assert not no_real_calls


def test_umask_goes_back_to_022_right_before_the_exec(tmp: Path, no_real_calls: list[str]) -> None:
    fake = _setup(_config(tmp))
    assert [a for n, a in fake.calls if n == "umask"] == [(0o022,)]
    assert fake.index("chdir", "/") < fake.index("umask") < fake.index("execve")
    assert not no_real_calls


def test_prepare_child_resets_signals_umask_and_places_stdio(no_real_calls: list[str]) -> None:
    fake = FakeSyscalls()
    # stdio given as 1, 0, 7: the copies above 2 come first, so a dup2 onto 0 or 1
    # cannot clobber a source still to be placed
    executor.prepare_child(fake, (1, 0, 7))
    names = fake.names()
    assert names[:2] == ["reset_signals", "umask"]
    assert fake.calls[1] == ("umask", (0,))
    resets = fake.calls[0][1][0]
    assert {signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM} <= set(resets)
    dups = [a for n, a in fake.calls if n == "dup_above"]
    assert dups == [(1, 3), (0, 3), (7, 3)]
    high = [fake._next_fd - 2, fake._next_fd - 1, fake._next_fd]
    placed = [a for n, a in fake.calls if n == "dup2"]
    assert placed == [(high[0], 0), (high[1], 1), (high[2], 2)]
    assert [a for n, a in fake.calls if n == "close"] == [(h,) for h in high]
    assert names.index("dup2") > max(i for i, n in enumerate(names) if n == "dup_above")
    assert not no_real_calls


def test_console_is_made_sent_and_bound_through_the_seam(tmp: Path) -> None:
    p = executor.plan(_config(tmp, tty=True, console_size=(24, 80)), console_socket=5)
    fake = FakeSyscalls()
    executor.setup(p, fake, [])
    pty = fake.index("open_pty", "/dev/ptmx")
    assert fake.index("pivot_root") < pty
    assert fake.calls[pty + 1] == ("set_winsize", (90, 24, 80))
    assert fake.calls[pty + 2] == ("send_fds", (5, [90], b"console"))
    assert fake.calls[pty + 3 : pty + 5] == [("close", (90,)), ("close", (5,))]
    assert [a for n, a in fake.calls if n == "dup2"] == [(91, 0), (91, 1), (91, 2)]
    assert ("mount", ("/dev/pts/0", "/dev/console", None, 4096, None)) in fake.calls
