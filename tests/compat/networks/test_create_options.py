"""docker network create as dockerd checks it (drivers, names, duplicates, label types)
and honours it (the bridge driver's options), and network prune's filters."""

from __future__ import annotations

import json
import os
import subprocess
import uuid

import pytest

from tests.compat.networks.conftest import clean, out
from tests.conftest import Daemon, Docker

pytestmark = pytest.mark.compat


def _name() -> str:
    return "bt" + uuid.uuid4().hex[:8]


@pytest.mark.parametrize("driver", ["host", "null"])
def test_host_and_null_drivers_are_refused(cli: Docker, driver: str) -> None:
    p = cli("network", "create", "-d", driver, _name())
    assert p.returncode != 0
    assert f'only one instance of "{driver}" network is allowed' in p.stderr.decode()


def test_duplicates_blank_names_and_label_types(nd: Daemon, cli: Docker) -> None:
    name = _name()
    out(cli("network", "create", name))
    # CheckDuplicate false (an old client) is refused all the same, as by dockerd 25+
    status, body = nd.api.call(
        "POST", "/v1.41/networks/create", {"Name": name, "CheckDuplicate": False}
    )
    assert status == 409 and f"network with name {name} already exists" in body["message"]
    status, body = nd.api.call("POST", "/networks/create", {"Name": "   "})
    assert status == 400 and "invalid name" in body["message"]
    status, body = nd.api.call("POST", "/networks/create", {"Name": _name(), "Labels": {"a": 1}})
    assert status == 400, body
    status, nets = nd.api.call("GET", "/networks")
    assert [n["Name"] for n in nets].count(name) == 1


def test_bridge_driver_options(nd: Daemon, cli: Docker) -> None:
    name, br = _name(), f"btopt{os.getpid() % 10000}"
    try:
        out(cli(
            "network", "create", "--subnet", "10.219.7.0/24",
            "-o", f"com.docker.network.bridge.name={br}",
            "-o", "com.docker.network.bridge.enable_icc=false",
            "-o", "com.docker.network.bridge.enable_ip_masquerade=false",
            "-o", "com.docker.network.bridge.host_binding_ipv4=127.0.0.1",
            "-o", "com.docker.network.driver.mtu=1400",
            name,
        ))  # fmt: skip
        with open(f"/sys/class/net/{br}/mtu") as f:
            assert f.read().strip() == "1400"
        assert out(cli("run", "--rm", "--network", name, "busybox",
                       "cat", "/sys/class/net/eth0/mtu")) == "1400"  # fmt: skip
        fwd = subprocess.run(["iptables", "-S", "FORWARD"], capture_output=True, text=True)
        assert any(
            f"-i {br} -o {br}" in ln and ln.endswith("-j DROP") for ln in fwd.stdout.splitlines()
        ), fwd.stdout
        post = subprocess.run(
            ["iptables", "-t", "nat", "-S", "POSTROUTING"], capture_output=True, text=True
        )
        assert "10.219.7.0/24" not in post.stdout
        cid = out(cli("run", "-d", "--network", name, "-p", "80", "busybox", "sleep", "60"))
        ports = json.loads(out(cli("inspect", "-f", "{{json .NetworkSettings.Ports}}", cid)))
        assert [b["HostIp"] for b in ports["80/tcp"]] == ["127.0.0.1"]
        bad = cli("network", "create", "-o", "com.docker.network.driver.mtu=abc", _name())
        assert bad.returncode != 0 and "MTU" in bad.stderr.decode()
    finally:
        clean(nd, [br])


def test_prune_keeps_used_and_filtered(nd: Daemon, cli: Docker) -> None:
    keep, used, gone = _name(), _name(), _name()
    out(cli("network", "create", "--label", "keep=1", keep))
    out(cli("network", "create", used))
    out(cli("network", "create", "--label", "x=1", gone))
    out(cli("create", "--network", used, "busybox", "true"))
    pruned = out(cli("network", "prune", "-f", "--filter", "label!=keep"))
    assert gone in pruned and keep not in pruned and used not in pruned
    names = out(cli("network", "ls", "--format", "{{.Name}}")).split()
    assert {keep, used, "bridge", "host", "none"} <= set(names) and gone not in names
    # until: nothing made in the last hour goes
    assert keep not in out(cli("network", "prune", "-f", "--filter", "until=1h"))
    bad = nd.api.call("POST", '/networks/prune?filters={"dangling":["true"]}')
    assert bad[0] == 400


def test_ipam_options_aux_addresses_and_attachable_are_kept(daemon) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import docker_for

    docker = docker_for(daemon)
    name = "bt-net-aux"
    r = docker("network", "create", "--subnet", "10.213.4.0/24", "--aux-address", "router=10.213.4.2",
               "--ipam-opt", "foo=bar", "--attachable", name)  # fmt: skip
    assert r.returncode == 0, r.stderr
    cids = []
    try:
        n = daemon.api.call("GET", f"/networks/{name}")[1]
        assert n["IPAM"]["Options"] == {"foo": "bar"}, n["IPAM"]
        assert n["IPAM"]["Config"][0]["AuxiliaryAddresses"] == {"router": "10.213.4.2"}
        assert n["Attachable"] is True
        # the auxiliary address is never a container's
        for _ in range(3):
            c = docker("run", "-d", "--network", name, "busybox", "sleep", "60")
            assert c.returncode == 0, c.stderr
            cids.append(c.stdout.decode().strip())
        ips = [
            daemon.api.call("GET", f"/containers/{c}/json")[1]["NetworkSettings"]["Networks"][name][
                "IPAddress"
            ]
            for c in cids
        ]
        assert "10.213.4.2" not in ips, ips
        # (the docker CLI checks this itself: the daemon is asked directly)
        st, bad = daemon.api.call(
            "POST",
            "/networks/create",
            {"Name": "bt-net-aux2", "IPAM": {"Config": [
                {"Subnet": "10.213.5.0/24", "AuxiliaryAddresses": {"x": "10.9.9.9"}}
            ]}},
        )  # fmt: skip
        assert st == 403 and "must belong to the master pool" in bad["message"], bad
    finally:
        for c in cids:
            docker("rm", "-f", c)
        docker("network", "rm", name)
        docker("network", "rm", "bt-net-aux2")


@pytest.mark.parametrize(
    ("body", "status", "text"),
    [
        ({"Ingress": True}, 403, "swarm"),
        ({"ConfigOnly": True}, 400, "config-only"),
        ({"Scope": "swarm"}, 400, "scope"),
        ({"IPAM": {"Driver": "nope"}}, 404, 'plugin "nope" not found'),
    ],
)
def test_what_berth_does_not_do_is_refused(daemon, body, status, text) -> None:  # type: ignore[no-untyped-def]
    st, resp = daemon.api.call("POST", "/networks/create", {"Name": "bt-net-refused", **body})
    try:
        assert st == status and text in resp["message"], resp
    finally:
        daemon.api.call("DELETE", "/networks/bt-net-refused")
