"""`berth stats --format`, `berth system df -v` and `berth network create`'s IPAM flags,
against the shared berthd."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest

from tests.conftest import Daemon
from tests.integration.cli.conftest import BerthRun


def ok(p: subprocess.CompletedProcess) -> str:
    assert p.returncode == 0, p.stderr.decode()
    return p.stdout.decode()  # type: ignore[no-any-return]


@pytest.fixture
def networks(berth: BerthRun, daemon: Daemon) -> Iterator[list[str]]:
    """Names of networks a test creates; removed afterwards whatever happened (their
    containers first: a network with an endpoint cannot go, and a leaked one's subnet
    would be refused to the next test that asks for it)."""
    made: list[str] = []
    try:
        yield made
    finally:
        daemon.remove_all_containers()
        for name in made:
            berth("network", "rm", name)


def test_stats_format_placeholders(berth: BerthRun) -> None:
    cid = ok(berth("run", "-d", "--name", "c-statsfmt", "busybox", "sleep", "60")).strip()
    fmt = "{{.Container}} {{.Name}} {{.ID}} {{.PIDs}}"
    out = ok(berth("stats", "--no-stream", "--format", fmt, "c-statsfmt"))
    assert out == f"c-statsfmt c-statsfmt {cid[:12]} 1\n"
    out = ok(berth("stats", "--no-stream", "--format", "table {{.Name}}\t{{.CPUPerc}}", cid[:12]))
    head, row = out.splitlines()
    assert head.split() == ["NAME", "CPU", "%"]
    assert row.split()[0] == "c-statsfmt" and row.split()[1].endswith("%")
    doc = json.loads(ok(berth("stats", "--no-stream", "--format", "json", "c-statsfmt")))
    assert set(doc) == {
        "BlockIO", "CPUPerc", "Container", "ID", "MemPerc", "MemUsage", "Name", "NetIO", "PIDs",
    }  # fmt: skip
    # listing (no names given): .Container is the short ID, as docker's
    out = ok(berth("stats", "--no-stream", "--format", "{{.Container}} {{.Name}}"))
    assert f"{cid[:12]} c-statsfmt\n" in out
    p = berth("stats", "--no-stream", "--format", "{{.Nope}}", "c-statsfmt")
    assert p.returncode == 1 and b"can't evaluate field Nope" in p.stderr


def test_system_df_verbose(berth: BerthRun) -> None:
    ok(berth("run", "-d", "--name", "c-dfv", "busybox", "sleep", "60"))
    out = ok(berth("system", "df", "-v"))
    blocks = out.split("\n\n")
    assert blocks[0] == "Images space usage:"
    assert blocks[1].splitlines()[0].startswith("REPOSITORY   TAG       IMAGE ID")
    assert any(line.startswith("busybox ") for line in blocks[1].splitlines())
    assert blocks[2] == "Containers space usage:"
    assert blocks[3].startswith("CONTAINER ID   IMAGE")
    assert any(line.endswith(" c-dfv") for line in blocks[3].splitlines())
    assert blocks[4] == "Local Volumes space usage:"
    assert blocks[5].startswith("VOLUME NAME   LINKS     SIZE")
    assert blocks[6].startswith("Build cache usage: ")
    assert blocks[7].startswith("CACHE ID   CACHE TYPE")
    names = ok(berth("system", "df", "-v", "--format", "{{range .Containers}}{{.Names}} {{end}}"))
    assert "c-dfv" in names.split()


def test_network_create_ipam_flags(berth: BerthRun, networks: list[str]) -> None:
    networks.append("n-ipam")
    ok(
        berth(
            "network",
            "create",
            "--subnet",
            "10.233.0.0/16",
            "--ip-range",
            "10.233.5.0/24",
            "--gateway",
            "10.233.0.254",
            "--aux-address",
            "reserved=10.233.0.10",
            "--ipam-driver",
            "default",
            "--ipam-opt",
            "foo=bar",
            "n-ipam",
        )  # fmt: skip
    )
    ipam = json.loads(ok(berth("network", "inspect", "-f", "{{json .IPAM}}", "n-ipam")))
    assert ipam["Driver"] == "default"
    assert ipam["Options"] == {"foo": "bar"}
    (config,) = ipam["Config"]
    assert config["AuxiliaryAddresses"] == {"reserved": "10.233.0.10"}
    assert (config["Subnet"], config["IPRange"], config["Gateway"]) == (
        "10.233.0.0/16",
        "10.233.5.0/24",
        "10.233.0.254",
    )
    ok(berth("run", "-d", "--name", "c-ipam", "--network", "n-ipam", "busybox", "sleep", "60"))
    nets = json.loads(ok(berth("inspect", "-f", "{{json .NetworkSettings.Networks}}", "c-ipam")))
    addr = nets["n-ipam"]["IPAddress"]
    assert addr.startswith("10.233.5.")  # allocated from --ip-range


def test_network_create_several_subnets_and_ipv6(berth: BerthRun, networks: list[str]) -> None:
    networks.append("n-dual")
    ok(
        berth(
            "network",
            "create",
            "--ipv6",
            "--subnet",
            "10.232.0.0/24,fd00:232::/64",
            "--gateway",
            "fd00:232::1",
            "--gateway",
            "10.232.0.1",
            "n-dual",
        )  # fmt: skip
    )
    doc = json.loads(ok(berth("network", "inspect", "n-dual")))[0]
    assert doc["EnableIPv6"] is True
    configs = sorted((c["Subnet"], c.get("Gateway")) for c in doc["IPAM"]["Config"])
    assert configs == [("10.232.0.0/24", "10.232.0.1"), ("fd00:232::/64", "fd00:232::1")]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--gateway", "10.0.0.1"], "every ip-range or gateway must have a corresponding subnet"),
        (["--subnet", "10.9.0.0/24", "--ip-range", "10.8.0.0/24"], "no matching subnet for range"),
    ],
)
def test_network_create_refuses_before_asking_the_daemon(
    berth: BerthRun, networks: list[str], flags: list[str], message: str
) -> None:
    networks.append("n-bad")
    p = berth("network", "create", *flags, "n-bad")
    assert p.returncode == 1 and message.encode() in p.stderr
    assert berth("network", "inspect", "n-bad").returncode == 1  # nothing was created
