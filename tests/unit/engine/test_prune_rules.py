"""Prune filters (label, label!, until, dangling) and --init's binary lookup."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from berth.engine import prune
from berth.engine.errors import InvalidParameter
from berth.runtime import spec


@pytest.mark.parametrize(
    ("flt", "labels", "want"),
    [
        ({}, {}, True),
        ({"label": ["a"]}, {"a": "1"}, True),
        ({"label": ["a=2"]}, {"a": "1"}, False),
        ({"label!": ["a"]}, {"a": "1"}, False),
        ({"label!": ["a=2"]}, {"a": "1"}, True),
        ({"label!": ["a", "b"]}, {"a": "1"}, True),  # excluded only if every label! holds
        ({"label": ["a"], "label!": ["b"]}, {"a": "1", "b": "2"}, False),
    ],
)
def test_labels_match(flt: dict, labels: dict, want: bool) -> None:
    assert prune.labels_match(flt, labels) is want


def test_filter_keys_and_until() -> None:
    with pytest.raises(InvalidParameter, match="invalid filter 'dangling'"):
        prune.normalize({"dangling": ["true"]}, prune._CONTAINER_KEYS)
    flt = prune.normalize({"until": {"10": True}}, prune._CONTAINER_KEYS)
    assert prune.until_seconds(flt) == 10.0
    with pytest.raises(InvalidParameter, match="more than one until"):
        prune.until_seconds({"until": ["1", "2"]})
    assert prune._dangling_only({}) is True
    assert prune._dangling_only({"dangling": ["false"]}) is False
    with pytest.raises(InvalidParameter):
        prune._dangling_only({"dangling": ["maybe"]})


def test_dir_size_counts_hard_links_once(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a").write_bytes(b"x" * 100)
    os.link(tmp_path / "d" / "a", tmp_path / "b")
    (tmp_path / "c").write_bytes(b"y" * 10)
    assert prune.dir_size(tmp_path) == 110
    assert prune.dir_size(tmp_path / "missing") == 0


def test_find_init_takes_the_first_executable(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.write_text("")
    exe = tmp_path / "tini"
    exe.write_text("")
    exe.chmod(0o755)
    assert spec.find_init((str(tmp_path / "none"), str(plain), str(exe))) == str(exe)
    assert spec.find_init((str(tmp_path / "none"),)) is None


def _container(init: bool):  # type: ignore[no-untyped-def]
    from berth.engine.containers import create

    class Img:
        env = cmd = entrypoint = volumes = exposed_ports = healthcheck = None
        working_dir = user = stop_signal = ""
        labels: dict = {}

    body = {"Image": "busybox", "Cmd": ["sleep", "1"], "HostConfig": {"Init": init}}
    cfg, hc = create.parse_request(body)
    return create.build(cfg, hc, name="n", image_id="sha256:x", image_config=Img())


def _init_spec(c: Any, init: str | None) -> spec.RuntimeSpec:
    from berth.engine.containers import specopts

    env = specopts.SpecEnv(
        lookup=lambda ref: c,
        containers_dir=Path("/nonexistent"),
        cgroup_path="/berth/x",
        seccomp_profile="",
        find_init=lambda: init,
    )
    out = spec.RuntimeSpec(id="x", rootfs="/", args=[], env=[])
    specopts.with_init(out, c, env)
    return out


def test_init_prepends_docker_init_and_mounts_it_read_only() -> None:
    out = _init_spec(_container(True), "/usr/bin/tini-static")
    assert out.args == ["/sbin/docker-init", "--", "sleep", "1"]
    assert out.mounts == [spec.BindMount("/usr/bin/tini-static", "/sbin/docker-init", True)]
    plain = _init_spec(_container(False), "/usr/bin/tini-static")
    assert plain.args == ["sleep", "1"] and plain.mounts == []


def test_init_without_a_binary_says_what_to_install() -> None:
    from berth.engine.errors import SystemError_

    with pytest.raises(SystemError_, match="tini"):
        _init_spec(_container(True), None)
