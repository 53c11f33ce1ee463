"""Reading and writing cgroupfs files."""

from __future__ import annotations

import os

# clock ticks per second, the unit of /proc/stat and cpuacct.stat
USER_HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def write(path: str, value: str) -> None:
    # O_CREAT is a no-op on cgroupfs (the kernel made the file) and lets tests use a
    # plain directory tree
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, value.encode())
    except OSError as e:
        raise OSError(e.errno, f"write {value!r} to {path}: {os.strerror(e.errno or 0)}") from None
    finally:
        os.close(fd)


def read(path: str) -> str:
    with open(path) as f:
        return f.read()


def read_int(path: str) -> int | None:
    try:
        text = read(path).strip()
    except (FileNotFoundError, OSError):
        return None
    if text == "max":
        return None
    try:
        return int(text)
    except ValueError:
        return None


def read_kv(path: str) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        text = read(path)
    except (FileNotFoundError, OSError):
        return out
    for line in text.splitlines():
        k, _, v = line.partition(" ")
        try:
            out[k] = int(v)
        except ValueError:
            continue
    return out
