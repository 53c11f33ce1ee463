"""What the build tests share: a toolchain image the tests make themselves (the host's
Python interpreter, its libraries and the few modules it needs to start, with busybox as
/bin/sh), context directories, and the removal of every image a test built."""

from __future__ import annotations

import io
import os
import platform
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import IS_ROOT, Daemon, Docker, docker_for

PYTHON = "/usr/bin/python3.11"
TOOLCHAIN = "bt-build-python:test"
DATA = Path(__file__).parent / "data"


def _libs(binary: str) -> list[str]:
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    libs = []
    for line in out.splitlines():
        parts = line.split()
        for p in parts:
            if p.startswith("/"):
                libs.append(p)
                break
    return libs


def _toolchain_tar() -> bytes:
    """busybox (static) as the shell, and a Python able to run a script with -S -I."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:

        def add(host: str, arc: str) -> None:
            tf.add(os.path.realpath(host), arcname=arc.lstrip("/"), recursive=False)

        for d in ("bin", "tmp", "usr", "usr/bin", "usr/lib", "usr/lib/python3.11", "lib64",
                  "lib", "lib/x86_64-linux-gnu", "out", "etc"):  # fmt: skip
            ti = tarfile.TarInfo(d)
            ti.type, ti.mode = tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755
            tf.addfile(ti)
        add("/bin/busybox", "/bin/busybox")
        for name in ("sh", "cat", "ls", "echo", "env", "mkdir", "test", "true", "false", "id"):
            ti = tarfile.TarInfo(f"bin/{name}")
            ti.type, ti.linkname = tarfile.SYMTYPE, "busybox"
            tf.addfile(ti)
        add(PYTHON, "/usr/bin/python3")
        for lib in _libs(PYTHON):
            add(lib, lib)
        enc = "/usr/lib/python3.11/encodings"
        for name in ("__init__.py", "aliases.py", "utf_8.py"):
            add(f"{enc}/{name}", f"{enc}/{name}")
        passwd = b"root:x:0:0:root:/root:/bin/sh\nbuilder:x:1000:1000::/home/builder:/bin/sh\n"
        group = b"root:x:0:\nbuilder:x:1000:\n"
        for name, data in (("etc/passwd", passwd), ("etc/group", group)):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture(scope="session")
def toolchain(daemon: Daemon) -> Iterator[str]:
    """An image with a compiler's runtime (Python), made from the host's files."""
    if not IS_ROOT:
        pytest.skip("needs root: berthd runs the build's containers")
    if platform.machine() != "x86_64":
        pytest.skip("the test compiler emits x86-64 machine code")
    if not os.path.exists(PYTHON) or not os.path.exists("/bin/busybox"):
        pytest.skip(f"{PYTHON} and busybox-static make the test toolchain")
    docker = docker_for(daemon)
    r = docker("import", "-", TOOLCHAIN, input=_toolchain_tar())
    assert r.returncode == 0, r.stderr
    yield TOOLCHAIN
    docker("rmi", "-f", TOOLCHAIN)


@pytest.fixture
def ctx(tmp_path: Path) -> Callable[..., Path]:
    """A context directory made of FILES (name -> text or bytes)."""

    def make(files: dict[str, str | bytes], name: str = "ctx") -> Path:
        root = tmp_path / name
        for rel, data in files.items():
            p = root / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data.encode() if isinstance(data, str) else data)
        root.mkdir(parents=True, exist_ok=True)
        return root

    return make


@pytest.fixture
def built(daemon: Daemon) -> Iterator[list[str]]:
    """Names and ids a test built, removed afterwards (and the dangling steps with them)."""
    names: list[str] = []
    yield names
    docker = docker_for(daemon)
    for n in names:
        docker("rmi", "-f", n)
    daemon.remove_all_containers()
    daemon.api.call("POST", "/build/prune")


@pytest.fixture
def build_cli(
    daemon: Daemon, built: list[str]
) -> Callable[..., subprocess.CompletedProcess[bytes]]:
    """`docker build` (the classic builder) against the session's berthd; -t names are
    remembered for removal."""
    docker: Docker = docker_for(daemon)

    def run(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        for i, a in enumerate(args):
            if a in ("-t", "--tag") and i + 1 < len(args):
                built.append(args[i + 1])
        return docker("build", *args, input=input, timeout=180)

    return run


def compiler_source() -> str:
    return (DATA / "compiler.py").read_text()
