"""--security-opt through the real docker CLI: honoured, or refused with dockerd's text."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.compat]


def test_bogus_option_is_refused_at_create(docker) -> None:  # type: ignore[no-untyped-def]
    r = docker("run", "--rm", "--security-opt", "bogus=1", "busybox", "true")
    assert r.returncode == 125
    assert 'invalid --security-opt 2: \\"bogus=1\\"' in r.stderr.decode() or (
        'invalid --security-opt 2: "bogus=1"' in r.stderr.decode()
    ), r.stderr
    assert b"Traceback" not in r.stderr
    r = docker("ps", "-aq", "--filter", "status=created")
    assert r.stdout.strip() == b""


@pytest.mark.parametrize(
    "opt", ["no-new-privileges", "no-new-privileges=true", "no-new-privileges:true"]
)
def test_no_new_privileges_for_init(docker, opt: str) -> None:  # type: ignore[no-untyped-def]
    r = docker(
        "run", "--rm", "--security-opt", opt, "busybox", "grep", "NoNewPrivs", "/proc/self/status"
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [b"NoNewPrivs:", b"1"]


def test_no_new_privileges_off_by_default(docker) -> None:  # type: ignore[no-untyped-def]
    r = docker("run", "--rm", "busybox", "grep", "NoNewPrivs", "/proc/self/status")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [b"NoNewPrivs:", b"0"]
    r = docker(
        "run", "--rm", "--security-opt", "no-new-privileges=false", "busybox",
        "grep", "NoNewPrivs", "/proc/self/status",
    )  # fmt: skip
    assert r.stdout.split() == [b"NoNewPrivs:", b"0"]


def test_no_new_privileges_for_exec(docker) -> None:  # type: ignore[no-untyped-def]
    r = docker("run", "-d", "--name", "nnp-exec", "--security-opt", "no-new-privileges",
               "busybox", "sleep", "60")  # fmt: skip
    assert r.returncode == 0, r.stderr
    try:
        r = docker("exec", "nnp-exec", "grep", "NoNewPrivs", "/proc/self/status")
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == [b"NoNewPrivs:", b"1"]
    finally:
        docker("rm", "-f", "nnp-exec")


@pytest.mark.parametrize(
    ("opts", "euid"), [((), b"0"), (("--security-opt", "no-new-privileges"), b"1000")]
)
def test_setuid_root_binary_under_no_new_privileges(docker, static_binary, opts, euid) -> None:  # type: ignore[no-untyped-def]
    """The attack behind the option: a setuid-root binary run by uid 1000 gets euid 0,
    unless no_new_privs is set. Without the option the bit works, so the test can fail."""
    exe = static_binary("euid")
    name = "nnp-suid" + ("-on" if opts else "-off")
    r = docker(
        "run", "-d", "--name", name, *opts, "-v", f"{exe}:/euid:ro", "busybox", "sleep", "60"
    )
    assert r.returncode == 0, r.stderr
    try:
        r = docker("exec", name, "sh", "-c", "cp /euid /tmp/suid && chmod 4755 /tmp/suid")
        assert r.returncode == 0, r.stderr
        r = docker("exec", "-u", "1000", name, "/tmp/suid")
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == euid
    finally:
        docker("rm", "-f", name)


def test_apparmor_accepted_with_a_warning_on_this_host(docker) -> None:  # type: ignore[no-untyped-def]
    r = docker(
        "create",
        "--name",
        "aa-warn",
        "--security-opt",
        "apparmor=docker-default",
        "busybox",
        "true",
    )
    try:
        assert r.returncode == 0, r.stderr
        assert b"AppArmor is not enabled on this host" in r.stderr
    finally:
        docker("rm", "-f", "aa-warn")
