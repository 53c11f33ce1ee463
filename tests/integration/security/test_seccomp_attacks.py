"""The escape battery for seccomp and keyrings, through the real docker CLI: each attack
fails in a default container (EPERM, as on dockerd) and works where dockerd lets it work
(--security-opt seccomp=unconfined, --privileged), which is also what proves each check
can fail."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.compat]

# (a NETLINK_NETFILTER socket was part of the finding only through the user namespace:
# dockerd's profile allows socket() itself, and without CAP_NET_ADMIN it is harmless)
ATTACKS = ["userns", "userns-mount", "perf", "key-add probe"]


@pytest.fixture(scope="module")
def escape(static_binary) -> Path:  # type: ignore[no-untyped-def]
    return static_binary("escape")


def _try(docker, escape: Path, attack: str, *opts: str) -> str:  # type: ignore[no-untyped-def]
    r = docker(
        "run", "--rm", *opts, "-v", f"{escape}:/escape:ro", "busybox", "/escape", *attack.split()
    )
    assert r.returncode == 0, r.stderr
    return r.stdout.decode().strip()


@pytest.mark.parametrize("attack", ATTACKS)
def test_default_container_is_denied(docker, escape: Path, attack: str) -> None:  # type: ignore[no-untyped-def]
    assert _try(docker, escape, attack) == "denied EPERM"


@pytest.mark.parametrize("attack", ["userns", "userns-mount", "perf", "key-add probe"])
def test_unconfined_and_privileged_are_not_filtered(docker, escape: Path, attack: str) -> None:  # type: ignore[no-untyped-def]
    assert _try(docker, escape, attack, "--security-opt", "seccomp=unconfined") == "ok"
    assert _try(docker, escape, attack, "--privileged") == "ok"


def test_filter_is_on_in_init_and_exec(docker) -> None:  # type: ignore[no-untyped-def]
    r = docker("run", "--rm", "busybox", "grep", "Seccomp:", "/proc/self/status")
    assert r.stdout.split() == [b"Seccomp:", b"2"], r.stdout
    r = docker("run", "-d", "--name", "sc-exec", "busybox", "sleep", "60")
    assert r.returncode == 0, r.stderr
    try:
        r = docker("exec", "sc-exec", "grep", "Seccomp:", "/proc/self/status")
        assert r.stdout.split() == [b"Seccomp:", b"2"], r.stdout
        r = docker("exec", "--privileged", "sc-exec", "grep", "Seccomp:", "/proc/self/status")
        # runc applies the container's filter to every exec, --privileged or not
        assert r.stdout.split() == [b"Seccomp:", b"2"], r.stdout
    finally:
        docker("rm", "-f", "sc-exec")
    r = docker("run", "--rm", "--security-opt", "seccomp=unconfined", "busybox",
               "grep", "Seccomp:", "/proc/self/status")  # fmt: skip
    assert r.stdout.split() == [b"Seccomp:", b"0"], r.stdout


def test_keys_do_not_cross_containers(docker, escape: Path) -> None:  # type: ignore[no-untyped-def]
    """Without a session keyring of its own, a container's key lands in the keyring every
    other container (and the daemon) shares. Unconfined, so keyctl itself is allowed."""
    name = "bt-key-" + uuid.uuid4().hex[:8]
    opts = ("--security-opt", "seccomp=unconfined")
    r = docker(
        "run",
        "-d",
        "--name",
        "key-a",
        *opts,
        "-v",
        f"{escape}:/escape:ro",
        "busybox",
        "sleep",
        "60",
    )
    assert r.returncode == 0, r.stderr
    try:
        r = docker("exec", "key-a", "/escape", "key-add", name)
        assert r.stdout.strip() == b"ok", r
        # another container does not see it ...
        assert _try(docker, escape, f"key-find {name}", *opts) == "denied ENOKEY"
        # ... nor the host (this test's own session keyring) ...
        host = subprocess.run([str(escape), "key-find", name], capture_output=True, text=True)
        assert host.stdout.strip() == "denied ENOKEY", host
        # ... and each exec joins a session keyring of its own, as with runc
        r = docker("exec", "key-a", "/escape", "key-find", name)
        assert r.stdout.strip() == b"denied ENOKEY", r
    finally:
        docker("rm", "-f", "key-a")


def test_custom_profile_file(docker, escape: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """seccomp=FILE in dockerd's format: here everything allowed but mkdir (EPERM)."""
    prof = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}],
    }
    f = tmp_path / "profile.json"
    f.write_text(json.dumps(prof))
    r = docker("run", "--rm", "--security-opt", f"seccomp={f}", "busybox", "sh", "-c",
               "mkdir /tmp/x; echo rc=$?")  # fmt: skip
    assert b"rc=1" in r.stdout and b"Operation not permitted" in r.stderr, r
    # the rest is allowed: the default profile's userns denial is gone under this one
    assert _try(docker, escape, "userns", "--security-opt", f"seccomp={f}") == "ok"


def test_bad_profile_is_refused_at_create(docker, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "bad.json"
    f.write_text(json.dumps({"defaultAction": "SCMP_ACT_WHATEVER"}))
    before = docker("ps", "-aq").stdout
    r = docker("run", "--rm", "--security-opt", f"seccomp={f}", "busybox", "true")
    assert r.returncode == 125, r
    assert b"SCMP_ACT_WHATEVER" in r.stderr and b"Traceback" not in r.stderr
    assert docker("ps", "-aq").stdout == before  # refused at create: nothing stored


def test_info_lists_seccomp(docker) -> None:  # type: ignore[no-untyped-def]
    r = docker("info", "--format", "{{json .SecurityOptions}}")
    # as dockerd: cgroupns is listed where it is the default, on a cgroup v2 host
    v2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
    want = ["name=seccomp,profile=builtin", *(["name=cgroupns"] if v2 else [])]
    assert json.loads(r.stdout) == want
    r = docker("info")
    assert b"seccomp" in r.stdout and b"Profile: builtin" in r.stdout
