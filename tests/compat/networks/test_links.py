"""Legacy links on the default bridge (--link name:alias): /etc/hosts, the variables
dockerd writes, HostConfig.Links, `docker rm --link`; and links of an endpoint on a
user-defined network (names only that container resolves)."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.compat.networks.conftest import out
from tests.conftest import Docker

pytestmark = pytest.mark.compat


def test_link_hosts_env_and_rm_link(cli: Docker) -> None:
    db = out(cli("run", "-d", "--name", "btdb", "-e", "FOO=bar", "--expose", "80",
                 "--expose", "53/udp", "busybox", "sleep", "60"))  # fmt: skip
    ip = out(cli("inspect", "-f", "{{.NetworkSettings.Networks.bridge.IPAddress}}", db))
    web = out(cli("run", "-d", "--name", "btweb", "--link", "btdb:dbal", "busybox",
                  "sleep", "60"))  # fmt: skip
    hosts = out(cli("exec", web, "cat", "/etc/hosts"))
    assert f"{ip}\tdbal {db[:12]} btdb" in hosts.splitlines(), hosts
    links = json.loads(out(cli("inspect", "-f", "{{json .HostConfig.Links}}", web)))
    assert links == ["/btdb:/btweb/dbal"]
    out(cli("rm", "--link", "/btweb/dbal"))
    assert out(cli("inspect", "-f", "{{json .HostConfig.Links}}", web)) == "null"
    assert out(cli("inspect", "-f", "{{.State.Running}}", db)) == "true"
    bad = cli("rm", "--link", "/btweb/nosuch")
    assert bad.returncode != 0 and "No such container" in bad.stderr.decode()


def test_link_env(cli: Docker) -> None:
    db = out(cli("run", "-d", "--name", "btdb", "-e", "FOO=bar", "--expose", "80",
                 "--expose", "53/udp", "busybox", "sleep", "60"))  # fmt: skip
    ip = out(cli("inspect", "-f", "{{.NetworkSettings.Networks.bridge.IPAddress}}", db))
    web = out(cli("run", "-d", "--link", "btdb:dbal", "busybox", "sleep", "60"))
    name = out(cli("inspect", "-f", "{{.Name}}", web))
    env = set(out(cli("exec", web, "env")).splitlines())
    assert {
        f"DBAL_NAME={name}/dbal",
        "DBAL_ENV_FOO=bar",
        f"DBAL_PORT=tcp://{ip}:80",
        f"DBAL_PORT_80_TCP=tcp://{ip}:80",
        f"DBAL_PORT_80_TCP_ADDR={ip}",
        "DBAL_PORT_80_TCP_PORT=80",
        "DBAL_PORT_80_TCP_PROTO=tcp",
        f"DBAL_PORT_53_UDP=udp://{ip}:53",
    } <= env, env
    assert not any(e.startswith("DBAL_ENV_PATH=") for e in env)


def test_link_to_missing_or_stopped_container(cli: Docker) -> None:
    bad = cli("create", "--link", "btnothere:x", "busybox", "true")
    assert bad.returncode != 0
    assert "could not get container for btnothere" in bad.stderr.decode()
    out(cli("create", "--name", "btstopped", "busybox", "true"))
    bad = cli("run", "--link", "btstopped:st", "busybox", "true")
    assert bad.returncode != 0
    assert "Cannot link to a non running container: /btstopped AS" in bad.stderr.decode()


def test_endpoint_links_on_a_user_network(cli: Docker) -> None:
    net = "bt" + uuid.uuid4().hex[:8]
    out(cli("network", "create", net))
    db = out(cli("run", "-d", "--name", "btudb", "--network", net, "busybox", "sleep", "60"))
    ip = out(cli("inspect", "-f", f'{{{{(index .NetworkSettings.Networks "{net}").IPAddress}}}}',
                 db))  # fmt: skip
    c = out(cli("run", "-d", "busybox", "sleep", "60"))
    out(cli("network", "connect", "--link", "btudb:thedb", net, c))
    ep = json.loads(out(cli("inspect", c)))[0]["NetworkSettings"]["Networks"][net]
    assert ep["Links"] == ["btudb:thedb"]
    assert ip in out(cli("exec", c, "nslookup", "thedb", "127.0.0.11"))
    # the alias is this container's own: another one on the network does not know it
    o = out(cli("run", "-d", "--network", net, "busybox", "sleep", "60"))
    p = cli("exec", o, "nslookup", "thedb", "127.0.0.11")
    assert ip not in p.stdout.decode()
