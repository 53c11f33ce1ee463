"""Address pools and leases; the embedded DNS server's wire format."""

from __future__ import annotations

import ipaddress
import struct

import pytest

from berth.engine.errors import Forbidden, InvalidParameter
from berth.engine.network import dns, ipam


def test_default_pools_are_dockerds() -> None:
    pools = list(ipam.default_pools())
    assert str(pools[0]) == "172.17.0.0/16" and str(pools[14]) == "172.31.0.0/16"
    assert str(pools[15]) == "192.168.0.0/20" and len(pools) == 15 + 16


def test_overlap_is_dockerds_error() -> None:
    with pytest.raises(Forbidden, match="Pool overlaps with other one on this address space"):
        ipam.check_overlap(
            ipaddress.IPv4Network("10.1.2.0/24"), [ipaddress.IPv4Network("10.1.0.0/16")]
        )


def test_leases_skip_gateway_taken_and_claimed() -> None:
    le = ipam.Leases()
    assert le.take("n", "10.0.0.0/29", "10.0.0.1", "") == "10.0.0.2"
    assert le.take("n", "10.0.0.0/29", "10.0.0.1", "", claim=lambda a: a != "10.0.0.3") == (
        "10.0.0.4"
    )
    le.release("n", "10.0.0.2")
    assert le.take("n", "10.0.0.0/29", "10.0.0.1", "") == "10.0.0.2"
    assert le.take("n", "10.0.0.0/29", "10.0.0.1", "", "10.0.0.6") == "10.0.0.6"
    with pytest.raises(Forbidden):
        le.take("n", "10.0.0.0/29", "10.0.0.1", "", "10.0.0.6")
    with pytest.raises(InvalidParameter, match="does not belong to any of this network"):
        le.take("n", "10.0.0.0/29", "10.0.0.1", "", "10.9.0.6")
    # ip-range limits automatic addresses
    assert le.take("r", "10.1.0.0/24", "10.1.0.1", "10.1.0.128/25") == "10.1.0.129"


def _query(name: str, qtype: int = 1) -> bytes:
    q = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\0"
    return struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + q + struct.pack("!HH", qtype, 1)


def test_dns_answer_roundtrip() -> None:
    data = _query("web.")
    qid, flags, qname, qtype, qend = dns.parse_query(data) or (0, 0, "", 0, 0)
    assert (qid, qname, qtype) == (0x1234, "web", 1)
    out = dns.answer(data, qid, flags, qend, ["10.0.0.5"])
    _id, fl, qd, an = struct.unpack("!HHHH", out[:8])
    assert fl & 0x8000 and fl & 0xF == 0 and qd == 1 and an == 1
    assert out.endswith(ipaddress.IPv4Address("10.0.0.5").packed)
    nx = dns.answer(data, qid, flags, qend, [], rcode=3)
    assert struct.unpack("!H", nx[2:4])[0] & 0xF == 3
