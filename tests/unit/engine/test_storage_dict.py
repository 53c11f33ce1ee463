"""The container record the store writes: wire.storage_dict gives the JSON that
dataclasses.asdict gives (it only skips asdict's deep copy of every leaf)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from berth.engine import wire
from tests.unit.engine.engine_env import create, make_env

_HOST_CONFIGS: list[dict[str, Any]] = [
    {},
    {"Binds": ["/tmp:/data:ro"], "Memory": 64 << 20, "RestartPolicy": {"Name": "always"}},
    {"PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]},
     "CapAdd": ["NET_ADMIN"], "Ulimits": [{"Name": "nofile", "Soft": 10, "Hard": 20}],
     "Tmpfs": {"/run": "size=1m"}, "ExtraHosts": ["a:1.2.3.4"], "Dns": ["9.9.9.9"]},
    {"Mounts": [{"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1024}}],
     "LogConfig": {"Type": "json-file", "Config": {"max-size": "1m"}}, "Cmd": ["sh", "-c", "x"]},
]  # fmt: skip


@pytest.mark.parametrize("host_config", _HOST_CONFIGS)
def test_a_record_is_what_asdict_gives(tmp_path: Path, host_config: dict[str, Any]) -> None:
    env = make_env(tmp_path)
    c = create(env, "rec", **dict(host_config))
    c.mount_points = [{"Type": "volume", "Name": "v", "Destination": "/v"}]  # type: ignore[assignment]
    mine = wire.storage_dict(c)
    assert json.dumps(mine, sort_keys=True) == json.dumps(dataclasses.asdict(c), sort_keys=True)
    # nothing of the container is shared with the record: it is a snapshot
    assert mine["host_config"] is not c.host_config
    assert mine["config"]["cmd"] is not c.config.cmd or c.config.cmd is None
