"""berthd's --policy HOST=POLICY flags and daemon.json "policies", checked at start;
the listeners as `docker info` reports them (Warnings, BerthListeners)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from berth.daemon.config import ConfigError, load, policies
from berth.engine.engine import Listener, listener_warnings

RO = "unix:///tmp/x/ro.sock"
RW = "unix:///tmp/x/rw.sock"


def _cfgfile(tmp_path: Path, data: object) -> str:
    p = tmp_path / "daemon.json"
    p.write_text(json.dumps(data))
    return str(p)


def test_policy_flags_give_each_host_its_policy(tmp_path: Path) -> None:
    pfile = tmp_path / "p.yaml"
    pfile.write_text("allow: [read, exec]\n")
    tcp = "tcp://127.0.0.1:2375"
    cfg, _ = load(
        [
            "--config-file",
            _cfgfile(tmp_path, {}),
            *("-H", RW, "-H", RO, "-H", tcp),
            *("--policy", f"{RO}=read-only", "--policy", f"{tcp}={pfile}"),
        ]
    )
    assert cfg.policies == {RO: "read-only", tcp: str(pfile)}
    got = policies(cfg)
    assert {h: p.name for h, p in got.items()} == {RW: "full", RO: "read-only", tcp: str(pfile)}
    assert got[RW].allows_everything() and not got[RO].allows_everything()


def test_daemon_json_policies(tmp_path: Path) -> None:
    cfg, _ = load(
        ["--config-file", _cfgfile(tmp_path, {"hosts": [RW, RO], "policies": {RO: "read-only"}})]
    )
    assert {h: p.name for h, p in policies(cfg).items()} == {RW: "full", RO: "read-only"}


def test_flag_and_file_together_are_refused_as_dockerd_does(tmp_path: Path) -> None:
    f = _cfgfile(tmp_path, {"hosts": [RO], "policies": {RO: "read-only"}})
    with pytest.raises(ConfigError, match="both as a flag and in the configuration file"):
        load(["--config-file", f, "--policy", f"{RO}=full"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["-H", RW, "--policy", f"{RO}=read-only"],
            f"policy for {RO}, which berthd does not listen on",
        ),
        (["--policy", "unix:///var/run/berth.sock"], "expected HOST=POLICY"),
        (["-H", RO, "--policy", f"{RO}="], "expected HOST=POLICY"),
        (["-H", RO, "--policy", f"{RO}=read-only", "--policy", f"{RO}=full"], "given twice"),
        (["-H", RO, "--policy", f"{RO}=readonly"], 'unknown policy "readonly"'),
        (
            ["-H", RO, "--policy", f"{RO}=/nonexistent/p.json"],
            "cannot read policy file /nonexistent/p.json",
        ),
    ],
)
def test_bad_policies_refuse_to_start(tmp_path: Path, args: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load(["--config-file", _cfgfile(tmp_path, {}), *args])


def test_a_bad_policy_file_refuses_to_start_naming_the_offender(tmp_path: Path) -> None:
    p = tmp_path / "p.json"
    p.write_text('{"allow": ["read", "everything"]}')
    with pytest.raises(ConfigError, match=f'invalid policy for {RO}: .*unknown group "everything"'):
        load(["--config-file", _cfgfile(tmp_path, {}), "-H", RO, "--policy", f"{RO}={p}"])


def test_bad_daemon_json_policies(tmp_path: Path) -> None:
    for bad, message in (
        ({"hosts": [RO], "policies": ["read-only"]}, '"policies" must be an object'),
        ({"hosts": [RO], "policies": {RO: 1}}, 'invalid "policies" entry'),
        ({"hosts": [RW], "policies": {RO: "read-only"}}, "does not listen on"),
    ):
        with pytest.raises(ConfigError, match=message):
            load(["--config-file", _cfgfile(tmp_path, bad)])


def test_the_default_host_may_carry_a_policy(tmp_path: Path) -> None:
    cfg, _ = load(
        [
            "--config-file",
            _cfgfile(tmp_path, {}),
            "--policy",
            "unix:///var/run/berth.sock=read-only",
        ]
    )
    assert policies(cfg)["unix:///var/run/berth.sock"].name == "read-only"


def test_info_warnings_follow_dockerd() -> None:
    warn = listener_warnings(
        (
            Listener("unix:///var/run/berth.sock"),
            Listener("tcp://127.0.0.1:2375", tls=False, policy="read-only"),
            Listener("tcp://10.0.0.1:2376", tls=True, tlsverify=True),
            Listener("tcp://127.0.0.1:2377", tls=True, tlsverify=False),
        )
    )
    tail = (
        "\n         Access to the remote API is equivalent to root access on the host. Refer"
        "\n         to the 'Docker daemon attack surface' section in the documentation for"
        "\n         more information: https://docs.docker.com/go/attack-surface/"
    )
    assert warn == [
        "WARNING: API is accessible on http://127.0.0.1:2375 without encryption." + tail,
        "WARNING: API is accessible on https://127.0.0.1:2377 without TLS client verification."
        + tail,
    ]
