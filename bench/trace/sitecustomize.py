"""Function timers for bench/trace_run.py, injected into berthd (and through its fork, the
zygote and every shim) by PYTHONPATH: each listed function's duration is appended to the
file $BERTH_TRACE as "pid name ms". In a container's forked child, the Syscalls methods
and setup steps are summed and written once, right before execve (the child's root is the
container's by then: the file is opened before).

Not part of berth: it only exists while bench/trace_run.py runs."""

from __future__ import annotations

import builtins
import functools
import inspect
import os
import sys
import time
from typing import Any

OUT = os.environ.get("BERTH_TRACE", "")
TARGETS = [t for t in os.environ.get("BERTH_TRACE_TARGETS", "").split(",") if t]
_done: set[str] = set()
_acc: dict[str, float] = {}
_child: dict[str, Any] = {"t0": 0.0, "fd": -1}


def _record(line: str) -> None:
    fd = os.open(OUT, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def _wrap(fn: Any, name: str) -> Any:
    if inspect.iscoroutinefunction(fn):

        async def aw(*a: Any, **k: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return await fn(*a, **k)
            finally:
                _record(f"{os.getpid()} {name} {(time.perf_counter() - t0) * 1000:.3f}\n")

        return functools.wraps(fn)(aw)

    def w(*a: Any, **k: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            _record(f"{os.getpid()} {name} {(time.perf_counter() - t0) * 1000:.3f}\n")

    return functools.wraps(fn)(w)


def _patch_targets() -> None:
    for t in TARGETS:
        if t in _done:
            continue
        mod, attr = t.split(":")
        m = sys.modules.get(mod)
        if m is None:
            continue
        obj: Any = m
        parts = attr.split(".")
        try:
            for p in parts[:-1]:
                obj = getattr(obj, p)
            fn = getattr(obj, parts[-1])
        except AttributeError:
            continue  # the module is still being imported
        setattr(obj, parts[-1], _wrap(fn, attr))
        _done.add(t)


def _sum(name: str, fn: Any) -> Any:
    def w(*a: Any, **k: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            _acc[name] = _acc.get(name, 0.0) + time.perf_counter() - t0

    return w


def _patch_child() -> None:
    sysm = sys.modules.get("berth.runtime.syscalls")
    launch = sys.modules.get("berth.runtime.executor.launch")
    child = sys.modules.get("berth.runtime.executor.child")
    if "child" in _done or not (sysm and launch and child) or not hasattr(launch, "_read_all"):
        return
    if not hasattr(sysm, "sys_"):
        return
    _done.add("child")
    cls = sysm.Syscalls
    for name, fn in list(vars(cls).items()):
        if name.startswith("_") or not callable(fn) or name == "execve":
            continue
        setattr(cls, name, _sum("child.sys." + name, fn))
    real_execve = cls.execve

    def execve(self: Any, *a: Any, **k: Any) -> Any:
        pid = os.getpid()
        lines = f"{pid} child.total {(time.perf_counter() - _child['t0']) * 1000:.3f}\n"
        lines += "".join(f"{pid} {n} {t * 1000:.3f}\n" for n, t in _acc.items())
        os.write(_child["fd"], lines.encode())
        return real_execve(self, *a, **k)

    cls.execve = execve
    for n in ("_enter_namespaces", "_build_root", "_set_limits", "_set_identity", "prepare_child"):
        setattr(child, n, _sum("child.step." + n.lstrip("_"), getattr(child, n)))
    real_main = launch.child_main

    def child_main(*a: Any, **k: Any) -> Any:
        _child["t0"] = time.perf_counter()
        _acc.clear()
        _child["fd"] = os.open(OUT, os.O_WRONLY | os.O_APPEND)
        return real_main(*a, **k)

    setattr(launch, "child_main", child_main)  # noqa: B010 - a module from sys.modules


_import = builtins.__import__


def _hooked_import(name: str, *a: Any, **k: Any) -> Any:
    r = _import(name, *a, **k)
    if len(_done) <= len(TARGETS):
        _patch_targets()
        _patch_child()
    return r


if OUT:
    builtins.__import__ = _hooked_import
