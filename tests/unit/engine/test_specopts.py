"""The runtime spec's steps (specopts.py), each on its own, and the whole assembly as the
start path runs it (on the fake runtime)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from berth.engine.containers import create, specopts
from berth.engine.containers.model import Container
from berth.engine.errors import Conflict
from berth.runtime import spec as rt_spec
from tests.unit.engine import engine_env
from tests.unit.engine.engine_env import running


def _container(body: dict[str, Any]) -> Container:
    cfg, hc = create.parse_request({"Image": "busybox", "Cmd": ["sleep", "1"], **body})
    return create.build(
        cfg,
        hc,
        name="web",
        image_id=engine_env.IMAGE_ID,
        image_config=engine_env.FakeImage().config,
    )


def _env(tmp_path: Path, lookup: Any = None) -> specopts.SpecEnv:
    return specopts.SpecEnv(
        lookup=lookup or (lambda ref: None),
        containers_dir=tmp_path,
        cgroup_path="/berth/x",
        seccomp_profile="",
        find_init=lambda: None,
    )


def _blank() -> rt_spec.RuntimeSpec:
    return rt_spec.RuntimeSpec(id="x", rootfs="/nonexistent", args=[], env=[])


def test_process_env_takes_dockerds_defaults_under_the_users() -> None:
    c = _container({"Env": ["A=1", "HOME=/h"], "Tty": True, "Hostname": "box"})
    assert specopts.process_env(c, "/root") == [
        specopts.DEFAULT_PATH,
        "A=1",
        "HOME=/h",
        "HOSTNAME=box",
        "TERM=xterm",
    ]
    c = _container({"Env": ["PATH=/bin", "TERM=dumb"]})
    env = specopts.process_env(c, "/root")
    assert env[0] == "PATH=/bin" and "TERM=dumb" in env and env[-1] == "HOME=/root"


def test_with_process_resolves_the_user_in_the_root(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text("app:x:1000:1001::/home/app:/bin/sh\n")
    (tmp_path / "etc/group").write_text("app:x:1001:\n")
    c = _container({"User": "app", "WorkingDir": "/srv", "HostConfig": {"ConsoleSize": [5, 9]}})
    spec = rt_spec.RuntimeSpec(id="x", rootfs=str(tmp_path), args=[], env=[])
    specopts.with_process(spec, c, _env(tmp_path))
    assert (spec.uid, spec.gid, spec.cwd) == (1000, 1001, "/srv")
    assert "HOME=/home/app" in spec.env and spec.console_size == (5, 9)


@pytest.mark.parametrize(
    ("host_config", "quota", "period"),
    [({}, None, None), ({"NanoCpus": 1_500_000_000}, 150_000, 100_000),
     ({"CpuQuota": 5000}, 5000, 100_000), ({"CpuQuota": 5000, "CpuPeriod": 10_000}, 5000, 10_000)],
)  # fmt: skip
def test_with_resources_cpu(
    tmp_path: Path, host_config: dict[str, Any], quota: int | None, period: int | None
) -> None:
    spec = _blank()
    specopts.with_resources(spec, _container({"HostConfig": host_config}), _env(tmp_path))
    assert (spec.cpu_quota, spec.cpu_period) == (quota, period)
    assert spec.cgroup_path == "/berth/x" and spec.shm_size == specopts.DEFAULT_SHM


def test_with_resources_limits(tmp_path: Path) -> None:
    c = _container({"HostConfig": {"Memory": 1 << 26, "PidsLimit": -1, "ShmSize": 1 << 20}})
    spec = _blank()
    specopts.with_resources(spec, c, _env(tmp_path))
    assert spec.memory == 1 << 26 and spec.pids_limit is None and spec.shm_size == 1 << 20


def test_with_network_namespace(tmp_path: Path) -> None:
    host = _blank()
    specopts.with_network_namespace(
        host, _container({"HostConfig": {"NetworkMode": "host"}}), _env(tmp_path)
    )
    assert host.host_namespaces == ["network"] and host.join_namespaces == {}

    donor = _container({})
    c = _container({"HostConfig": {"NetworkMode": "container:donor"}})
    with pytest.raises(Conflict, match="cannot join network of a non running container"):
        specopts.with_network_namespace(_blank(), c, _env(tmp_path, lambda ref: donor))
    donor.state.status, donor.state.pid = "running", 4242
    joined = _blank()
    specopts.with_network_namespace(joined, c, _env(tmp_path, lambda ref: donor))
    assert joined.join_namespaces == {"network": "/proc/4242/ns/net"}


def test_with_security_systempaths_unconfined(tmp_path: Path) -> None:
    c = _container(
        {"HostConfig": {"SecurityOpt": ["systempaths=unconfined"], "CapAdd": ["NET_ADMIN"]}}
    )
    spec = _blank()
    specopts.with_security(spec, c, _env(tmp_path))
    assert spec.masked_paths == [] and spec.readonly_paths == []
    assert spec.cap_add == ["NET_ADMIN"] and spec.seccomp
    plain = _blank()
    specopts.with_security(plain, _container({}), _env(tmp_path))
    assert plain.masked_paths and "/proc/kcore" in plain.masked_paths  # Docker's defaults


def test_the_steps_run_in_order_and_refuse_early(tmp_path: Path) -> None:
    seen: list[str] = []

    def step(name: str) -> specopts.SpecOpt:
        def run(spec: rt_spec.RuntimeSpec, c: Container, env: specopts.SpecEnv) -> None:
            seen.append(name)
            if name == "b":
                raise Conflict("no")

        return run

    with pytest.raises(Conflict):
        specopts.build(_container({}), "/", _env(tmp_path), (step("a"), step("b"), step("c")))
    assert seen == ["a", "b"]
    assert specopts.STEPS[-1] is specopts.with_user_mounts  # a volume is acquired last


def test_the_start_writes_the_assembled_spec(tmp_path: Path) -> None:
    async def main() -> None:
        async with running(tmp_path) as env:
            env.runtime.init_path = "/usr/bin/tini-static"
            c = engine_env.create(env, Init=True, Memory=1 << 26, LogConfig={
                "Type": "json-file", "Config": {"max-size": "1m", "max-file": "2"}})  # fmt: skip
            await env.svc.start("web")
            spec = env.runtime.specs[c.id]
            assert spec.args == [rt_spec.INIT_PATH, "--", "sleep", "1000"]
            assert [m.destination for m in spec.mounts] == [
                "/etc/hostname", "/etc/hosts", "/etc/resolv.conf", rt_spec.INIT_PATH]  # fmt: skip
            assert spec.memory == 1 << 26 and spec.cgroup_path == f"/berth/{c.id}"
            assert spec.annotations  # the shim rotates the log
            assert spec.rootfs == str(tmp_path / "data" / "overlay" / c.id / "merged")

    asyncio.run(main())
