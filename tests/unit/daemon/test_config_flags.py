"""berth.daemon.config's command line (flags.py) and key tables (keys.py)."""

from __future__ import annotations

import argparse

import pytest

from berth.daemon.config import FILE_KEYS, ConfigError, file_key, parser
from berth.daemon.config.flags import flag_forms, policy_flags
from berth.daemon.config.keys import net_dest


def test_network_flags_take_go_booleans_and_stay_out_of_help() -> None:
    p = parser()
    assert p.parse_args(["--icc=false"]).net_icc is False
    assert p.parse_args(["--icc"]).net_icc is True
    assert p.parse_args(["--mtu", "1400"]).net_mtu == 1400
    with pytest.raises(SystemExit):
        p.parse_args(["--icc=maybe"])
    assert "--icc" not in p.format_help() and "--validate" in p.format_help()


def test_switches_default_to_none_so_daemon_json_may_set_them() -> None:
    args = parser().parse_args([])
    assert args.debug is None and args.tls is None and args.live_restore is None
    assert args.validate is False and args.version is False


def test_every_attribute_flag_lands_where_load_reads_it() -> None:
    dests = {a.dest for a in parser()._actions}
    # daemon.json keys that have a flag of their own (the others are file-only)
    flagged = set(FILE_KEYS.values()) - {"resolv_conf", "features"}
    assert flagged <= dests
    assert net_dest("default-address-pools") == "net_default_address_pool" in dests


def test_list_flags_take_their_daemon_json_shapes() -> None:
    args = argparse.Namespace(
        log_opts=["max-size=1m"],
        default_ulimits=["nofile=1:2"],
        net_default_address_pool=["base=10.0.0.0/8,size=24"],
    )
    flag_forms(args)
    assert args.log_opts == {"max-size": "1m"}
    assert args.default_ulimits == {"nofile": {"Name": "nofile", "Soft": 1, "Hard": 2}}
    assert args.net_default_address_pool == [{"base": "10.0.0.0/8", "size": 24}]
    with pytest.raises(ConfigError, match="invalid ulimit argument: nofile"):
        flag_forms(argparse.Namespace(log_opts=None, default_ulimits=["nofile"]))


def test_policy_flags() -> None:
    assert policy_flags(None) is None
    assert policy_flags(["unix:///s=read-only"]) == {"unix:///s": "read-only"}
    with pytest.raises(ConfigError, match="given twice"):
        policy_flags(["h=full", "h=read-only"])
    with pytest.raises(ConfigError, match="expected HOST=POLICY"):
        policy_flags(["h"])


def test_file_key_is_the_inverse_of_the_table() -> None:
    assert all(file_key(attr) == key for key, attr in FILE_KEYS.items())
