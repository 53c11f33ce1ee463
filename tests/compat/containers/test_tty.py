"""A container's terminal is a pty of its own devpts, as with runc: /dev/pts/0 (and
/dev/console) for the init, the next one for each `exec -t`."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from tests.compat.containers import Terminal

docker_sdk = pytest.importorskip("docker", reason="docker-py is not installed")

pytestmark = pytest.mark.compat

DOCKER = shutil.which("docker") or "/usr/local/bin/docker"


@pytest.fixture
def client(daemon: Any) -> Iterator[Any]:
    c = docker_sdk.DockerClient(base_url=daemon.host, version="auto", timeout=60)
    yield c
    daemon.remove_all_containers()
    c.close()


def _lines(out: bytes) -> list[str]:
    return out.decode().replace("\r\n", "\n").splitlines()


def test_run_t_stdio_is_its_own_devpts(docker: Any) -> None:
    probe = (
        "tty; readlink /proc/self/fd/1; ls /dev/pts | tr '\\n' ' '; echo; readlink /dev/ptmx; "
        "stat -c '%t:%T %u:%g %a' /dev/pts/0 /dev/console; "
        "grep -c ' /dev/console devpts ' /proc/mounts"
    )
    r = docker("run", "--rm", "-t", "busybox", "sh", "-c", probe)
    assert r.returncode == 0, r.stderr
    lines = _lines(r.stdout)
    assert lines[:4] == ["/dev/pts/0", "/dev/pts/0", "0 ptmx ", "pts/ptmx"], lines
    # /dev/console is the same pty (bound from the container's devpts), owned root:tty 0620
    assert lines[4] == lines[5] == "88:0 0:5 620", lines
    assert lines[6] == "1", lines


def test_the_user_owns_its_terminal(docker: Any) -> None:
    r = docker("run", "--rm", "-t", "-u", "nobody", "busybox", "stat", "-c", "%u:%g", "/dev/pts/0")
    assert _lines(r.stdout) == ["65534:5"], (r.stdout, r.stderr)


def test_run_it_on_a_terminal(daemon: Any) -> None:
    with Terminal([DOCKER, "run", "-it", "--rm", "busybox", "sh"], daemon.env) as t:
        t.expect(b"/ # ")
        t.type(b"tty; stty size; ls /dev/pts; exit 3\r")
        assert t.wait() == 3, t.out
    assert b"/dev/pts/0\r\n30 100\r\n" in t.out, t.out
    assert b"0     ptmx" in t.out, t.out


def test_exec_t_takes_the_next_pty(docker: Any) -> None:
    with_tty = docker("run", "-dit", "busybox", "sh").stdout.decode().strip()
    without = docker("run", "-d", "busybox", "sleep", "1000").stdout.decode().strip()
    assert with_tty and without
    assert _lines(docker("exec", "-t", with_tty, "tty").stdout) == ["/dev/pts/1"]
    r = docker("exec", "-t", with_tty, "ls", "/dev/pts")
    assert r.stdout.split() == [b"0", b"1", b"ptmx"], r.stdout
    # a container without a terminal: its devpts is still there, the exec's pty is the first
    assert _lines(docker("exec", "-t", without, "tty").stdout) == ["/dev/pts/0"]
    r = docker("exec", without, "tty")
    assert (r.returncode, r.stdout) == (1, b"not a tty\n")


def test_docker_py_tty(client: Any) -> None:
    out = client.containers.run("busybox", ["sh", "-c", "tty; [ -t 0 ] && echo yes"], tty=True,
                                remove=True)  # fmt: skip
    assert out == b"/dev/pts/0\r\nyes\r\n"
    c = client.containers.run("busybox", ["sleep", "1000"], detach=True)
    code, out = c.exec_run(["tty"], tty=True)
    assert (code, out) == (0, b"/dev/pts/0\r\n")
