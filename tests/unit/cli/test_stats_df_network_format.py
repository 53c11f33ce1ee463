"""The client-side halves of stats --format, system df -v and network create's IPAM flags."""

from __future__ import annotations

from typing import Any

import pytest

from berth.cli.commands import container_ops, network, system_ops
from berth.cli.context import StatusError
from berth.cli.formatting import render


def test_ipam_config_puts_each_range_gateway_and_aux_address_in_its_subnet() -> None:
    got = network.ipam_config(
        ["10.7.0.0/16", "fd00:7::/64"],
        ["10.7.1.0/24"],
        ["fd00:7::1", "10.7.0.1"],
        ["host1=10.7.0.5", "host6=fd00:7::5"],
    )
    assert got == [
        {
            "Subnet": "10.7.0.0/16",
            "IPRange": "10.7.1.0/24",
            "Gateway": "10.7.0.1",
            "AuxiliaryAddresses": {"host1": "10.7.0.5"},
        },
        {
            "Subnet": "fd00:7::/64",
            "Gateway": "fd00:7::1",
            "AuxiliaryAddresses": {"host6": "fd00:7::5"},
        },
    ]
    assert network.ipam_config([], [], [], []) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ([], ["10.1.0.0/24"], [], []),
            "every ip-range or gateway must have a corresponding subnet",
        ),
        ((["10.0.0.0/24"], ["10.1.0.0/24"], [], []), "no matching subnet for range 10.1.0.0/24"),
        ((["10.0.0.0/24"], [], ["10.9.0.1"], []), "no matching subnet for gateway 10.9.0.1"),
        (
            (["10.0.0.0/24", "10.0.0.0/16"], [], [], []),
            "multiple overlapping subnet configuration is not supported",
        ),  # noqa: E501
        ((["10.0.0.0/24"], ["bad"], [], []), "invalid CIDR address: bad"),
        ((["bad"], [], ["1.2.3.4"], []), "invalid subnet: invalid CIDR address: bad"),
        ((["10.0.0.0/24"], [], [], ["a=10.9.0.1"]), "no matching subnet for aux-address 10.9.0.1"),
        (
            (["10.0.0.0/24", "10.1.0.0/24"], ["10.0.0.0/26", "10.0.0.64/26"], [], []),
            "cannot configure multiple ranges (10.0.0.64/26, 10.0.0.0/26) on the same subnet"
            " (10.0.0.0/24)",
        ),
    ],
)
def test_ipam_config_refuses_what_docker_refuses(args: Any, message: str) -> None:
    # the messages are docker 28.2.2's (compared with /usr/local/bin/docker)
    with pytest.raises(StatusError) as exc:
        network.ipam_config(*args)
    assert exc.value.message == message


def test_string_slice_flags_split_on_commas() -> None:
    assert network._slice(["10.0.0.0/24,10.1.0.0/24", "10.2.0.0/24"]) == [
        "10.0.0.0/24",
        "10.1.0.0/24",
        "10.2.0.0/24",
    ]


FRAME = {
    "id": "0123456789abcdef" * 4,
    "name": "/web",
    "cpu_stats": {"cpu_usage": {"total_usage": 300}, "system_cpu_usage": 2000, "online_cpus": 2},
    "precpu_stats": {"cpu_usage": {"total_usage": 100}, "system_cpu_usage": 1000},
    "memory_stats": {"usage": 3 << 20, "limit": 8 << 20, "stats": {"inactive_file": 1 << 20}},
    "networks": {"eth0": {"rx_bytes": 1500, "tx_bytes": 2_500_000}},
    "blkio_stats": {"io_service_bytes_recursive": [{"op": "read", "value": 4096}]},
    "pids_stats": {"current": 3},
}


def test_stats_placeholders() -> None:
    row = container_ops.stats_row("web", FRAME, no_trunc=False)
    fmt = "{{.Container}}|{{.Name}}|{{.ID}}|{{.CPUPerc}}|{{.MemUsage}}|{{.MemPerc}}|{{.NetIO}}|{{.BlockIO}}|{{.PIDs}}"  # noqa: E501
    out = render(fmt, [row], container_ops.STATS_HEADERS, container_ops.STATS_TABLE)
    assert out == "web|web|0123456789ab|40.00%|2MiB / 8MiB|25.00%|1.5kB / 2.5MB|4.1kB / 0B|3\n"


def test_stats_table_prefix_and_unknown_field() -> None:
    row = container_ops.stats_row("web", FRAME, no_trunc=True)
    out = render(
        "table {{.Name}}\t{{.PIDs}}", [row], container_ops.STATS_HEADERS, container_ops.STATS_TABLE
    )
    assert out == "NAME      PIDS\nweb       3\n"
    with pytest.raises(StatusError) as exc:
        render("{{.Nope}}", [row], {}, "", go_type="*container.statsContext")
    assert "can't evaluate field Nope in type *container.statsContext" in exc.value.message


DU: dict[str, Any] = {
    "LayersSize": 4_000_000,
    "Images": [
        {
            "Id": "sha256:" + "ab" * 32,
            "RepoTags": ["busybox:latest", "busybox:1"],
            "Created": 0,
            "Size": 4_000_000,
            "SharedSize": 0,
            "Containers": 1,
        }
    ],
    "Containers": [
        {
            "Id": "cd" * 32,
            "Names": ["/web"],
            "Image": "busybox",
            "Command": "sleep 60",
            "Created": 0,
            "State": "running",
            "Status": "Up 2 minutes",
            "SizeRw": 12,
            "SizeRootFs": 4_000_012,
            "Mounts": [{"Name": "vol1", "Driver": "local"}],
        }
    ],
    "Volumes": [{"Name": "vol1", "UsageData": {"Size": 2048, "RefCount": 1}}],
    "BuildCache": [],
}


def test_df_verbose_sections() -> None:
    out = system_ops._df_verbose_table(DU, system_ops.df_verbose(DU, True, 1e9))
    blocks = out.split("\n\n")
    assert blocks[0] == "Images space usage:"
    assert blocks[1].splitlines()[0].split() == [
        "REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE", "SHARED", "SIZE", "UNIQUE", "SIZE",
        "CONTAINERS",
    ]  # fmt: skip
    image = blocks[1].splitlines()[1].split()
    assert image[:3] == ["busybox", "latest", "ab" * 6]  # the first tag only
    assert image[-4:] == ["4MB", "0B", "4MB", "1"]
    assert len(blocks[1].splitlines()) == 2
    assert blocks[2] == "Containers space usage:"
    header, ctr = blocks[3].splitlines()
    assert header.startswith("CONTAINER ID   IMAGE     COMMAND      LOCAL VOLUMES   SIZE")
    assert ctr.split()[:5] == ["cd" * 6, "busybox", '"sleep', '60"', "1"]
    assert "12B" in ctr and "virtual" not in ctr  # the image's size is left out
    assert ctr.endswith("web")
    assert blocks[4] == "Local Volumes space usage:"
    assert blocks[5].splitlines()[1].split() == ["vol1", "1", "2.048kB"]
    assert blocks[6] == "Build cache usage: 0B"
    assert blocks[7] == "CACHE ID   CACHE TYPE   SIZE      CREATED   LAST USED   USAGE     SHARED\n"


def test_df_verbose_custom_template_sees_all_lists() -> None:
    sections = system_ops.df_verbose(DU, False, 1e9)
    from berth.cli.formatting import TemplateData

    tmpl = "{{range .Volumes}}{{.Name}} {{.Links}}{{end}} {{len .Images}} {{len .BuildCache}}"
    assert render(tmpl, [TemplateData(**sections)], {}, "") == "vol1 1 1 0\n"


class _Client:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, Any]] = []

    def _json(self, method: str, path: str, query: Any = None, body: Any = None) -> Any:
        self.sent.append((method, path, body))
        return {"Id": "n" * 64}


class _Ctx:
    def __init__(self) -> None:
        self.client = _Client()
        self.written = ""

    def out(self, text: str) -> None:
        self.written += text


def _create_body(*argv: str) -> dict[str, Any]:
    ctx = _Ctx()
    assert network.create(ctx, list(argv)) == 0  # type: ignore[arg-type]
    assert ctx.written == "n" * 64 + "\n"
    ((method, path, body),) = ctx.client.sent
    assert (method, path) == ("POST", "/networks/create")
    return body  # type: ignore[no-any-return]


def test_network_create_body_is_docker_clis() -> None:
    body = _create_body(
        "--ipv6", "--subnet", "10.5.0.0/24,fd00:5::/64", "--gateway", "10.5.0.1",
        "--aux-address", "r=fd00:5::9", "--ipam-driver", "mine", "--ipam-opt", "k=v",
        "-o", "com.example=1", "--label", "team", "n1",
    )  # fmt: skip
    assert body == {
        "Name": "n1",
        "Driver": "bridge",
        "Scope": "",
        "IPAM": {
            "Driver": "mine",
            "Options": {"k": "v"},
            "Config": [
                {"Subnet": "10.5.0.0/24", "Gateway": "10.5.0.1"},
                {"Subnet": "fd00:5::/64", "AuxiliaryAddresses": {"r": "fd00:5::9"}},
            ],
        },
        "Internal": False,
        "Attachable": False,
        "Ingress": False,
        "ConfigOnly": False,
        "ConfigFrom": None,
        "Options": {"com.example": "1"},
        "Labels": {"team": ""},
        "EnableIPv6": True,  # *bool: present only when given, as is EnableIPv4
    }


def test_network_create_sends_enable_ipv4_only_when_given() -> None:
    assert "EnableIPv4" not in _create_body("n1")
    assert _create_body("--ipv4=false", "n1")["EnableIPv4"] is False
    assert _create_body("n1")["IPAM"] == {"Driver": "default", "Options": {}, "Config": []}
