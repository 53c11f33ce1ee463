"""Healthchecks through the real docker CLI: --health-* flags, the image's HEALTHCHECK,
State.Health in inspect, ps status and filter, health_status events; plus the exec, image
and volume events and the ps volume= filter."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import time
from collections.abc import Callable

import pytest

from tests.waiting import holds

pytestmark = pytest.mark.compat


def _ok(p: subprocess.CompletedProcess[bytes]) -> str:
    assert p.returncode == 0, p.stderr.decode()
    return p.stdout.decode()


def _health(docker, name: str) -> dict | None:  # type: ignore[no-untyped-def]
    out = _ok(docker("inspect", "--format", "{{json .State.Health}}", name)).strip()
    return json.loads(out)


def _until(pred: Callable[[], bool], timeout: float = 15.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.1)
    return pred()


def _events(docker, since: str, *filters: str) -> list[dict]:  # type: ignore[no-untyped-def]
    until = f"{time.time():.9f}"
    args = ["events", "--since", since, "--until", until, "--format", "{{json .}}"]
    for f in filters:
        args += ["--filter", f]
    return [json.loads(x) for x in _ok(docker(*args)).splitlines()]


def test_health_cmd_becomes_healthy_with_event_ps_and_filter(docker) -> None:  # type: ignore[no-untyped-def]
    since = f"{time.time():.9f}"
    _ok(
        docker(
            "run", "-d", "--name", "hc-ok", "--health-cmd", "echo probe-out; true",
            "--health-interval", "300ms", "--health-timeout", "5s", "busybox", "sleep", "60",
        )
    )  # fmt: skip
    # before the first probe: starting
    h = _health(docker, "hc-ok")
    assert h is not None and h["Status"] in ("starting", "healthy")
    status = _ok(docker("ps", "--filter", "name=hc-ok", "--format", "{{.Status}}")).strip()
    assert status.startswith("Up ")
    assert _until(lambda: (_health(docker, "hc-ok") or {}).get("Status") == "healthy")
    h = _health(docker, "hc-ok")
    assert h["FailingStreak"] == 0
    last = h["Log"][-1]
    assert last["ExitCode"] == 0 and last["Output"] == "probe-out\n"
    assert last["Start"] <= last["End"]
    status = _ok(docker("ps", "--filter", "name=hc-ok", "--format", "{{.Status}}")).strip()
    assert status.endswith("(healthy)"), status
    names = _ok(docker("ps", "--filter", "health=healthy", "--format", "{{.Names}}")).split()
    assert "hc-ok" in names
    assert "hc-ok" not in _ok(docker("ps", "--filter", "health=unhealthy", "-q")).split()
    evs = _events(docker, since, "container=hc-ok", "event=health_status")
    assert [e["Action"] for e in evs] == ["health_status: healthy"]
    # the probes are execs: dockerd's exec events, with the exec's exit code
    assert _until(lambda: len(_events(docker, since, "container=hc-ok", "event=exec_die")) >= 1)
    die = _events(docker, since, "container=hc-ok", "event=exec_die")[0]
    assert die["Actor"]["Attributes"]["exitCode"] == "0"
    creates = _events(docker, since, "container=hc-ok", "event=exec_create")
    assert creates[0]["Action"] == "exec_create: /bin/sh -c echo probe-out; true"
    # at most five log entries are kept
    assert _until(lambda: len(_health(docker, "hc-ok")["Log"]) == 5)
    holds(lambda: len(_health(docker, "hc-ok")["Log"]) == 5, 0.8, "at most five entries")


def test_failing_probe_turns_unhealthy_and_probes_stop_with_the_container(docker) -> None:  # type: ignore[no-untyped-def]
    since = f"{time.time():.9f}"
    _ok(
        docker(
            "run", "-d", "--name", "hc-bad", "--health-cmd", "echo nope >&2; exit 3",
            "--health-interval", "200ms", "--health-retries", "2", "busybox", "sleep", "60",
        )
    )  # fmt: skip
    assert _until(lambda: (_health(docker, "hc-bad") or {}).get("Status") == "unhealthy")
    h = _health(docker, "hc-bad")
    assert h["FailingStreak"] >= 2
    assert h["Log"][-1]["ExitCode"] == 3 and h["Log"][-1]["Output"] == "nope\n"
    status = _ok(docker("ps", "--filter", "name=hc-bad", "--format", "{{.Status}}")).strip()
    assert status.endswith("(unhealthy)"), status
    assert "hc-bad" in _ok(docker("ps", "--filter", "health=unhealthy", "--format", "{{.Names}}"))
    evs = _events(docker, since, "container=hc-bad", "event=health_status")
    assert [e["Action"] for e in evs] == ["health_status: unhealthy"]
    _ok(docker("stop", "-t", "0", "hc-bad"))
    n = len(_health(docker, "hc-bad")["Log"])
    streak = _health(docker, "hc-bad")["FailingStreak"]
    # no more probes once stopped; the last health stays for inspect
    holds(
        lambda: len((h := _health(docker, "hc-bad"))["Log"]) == n and h["FailingStreak"] == streak,
        0.8,
        "no probe after the stop",
    )
    assert _ok(docker("ps", "-a", "--filter", "name=hc-bad", "--format", "{{.Status}}")).startswith(
        "Exited"
    )


def test_probe_timeout_and_start_period(docker) -> None:  # type: ignore[no-untyped-def]
    _ok(
        docker(
            "run", "-d", "--name", "hc-slow", "--health-cmd", "sleep 5",
            "--health-interval", "200ms", "--health-timeout", "300ms", "--health-retries", "1",
            "busybox", "sleep", "60",
        )
    )  # fmt: skip
    assert _until(lambda: (_health(docker, "hc-slow") or {}).get("Status") == "unhealthy")
    last = _health(docker, "hc-slow")["Log"][-1]
    assert last["ExitCode"] == -1
    assert last["Output"] == "Health check exceeded timeout (300ms)"
    # inside the start period failures do not count: still starting
    _ok(
        docker(
            "run", "-d", "--name", "hc-start", "--health-cmd", "false",
            "--health-interval", "200ms", "--health-retries", "1",
            "--health-start-period", "30s", "--health-start-interval", "200ms",
            "busybox", "sleep", "60",
        )
    )  # fmt: skip
    assert _until(lambda: len((_health(docker, "hc-start") or {}).get("Log") or []) >= 2)
    h = _health(docker, "hc-start")
    assert h["Status"] == "starting" and h["FailingStreak"] == 0
    status = _ok(docker("ps", "--filter", "name=hc-start", "--format", "{{.Status}}")).strip()
    assert status.endswith("(health: starting)"), status
    assert "hc-start" in _ok(docker("ps", "--filter", "health=starting", "--format", "{{.Names}}"))


def _load_with_healthcheck(docker, hc: dict, tag: str) -> None:  # type: ignore[no-untyped-def]
    saved = docker("save", "busybox")
    assert saved.returncode == 0, saved.stderr.decode()
    src = tarfile.open(fileobj=io.BytesIO(saved.stdout))
    manifest = json.load(src.extractfile("manifest.json"))[0]  # type: ignore[arg-type]
    cfg = json.load(src.extractfile(manifest["Config"]))  # type: ignore[arg-type]
    cfg["config"]["Healthcheck"] = hc
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as dst:

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            dst.addfile(info, io.BytesIO(data))

        add("cfg.json", json.dumps(cfg).encode())
        for layer in manifest["Layers"]:
            add(layer, src.extractfile(layer).read())  # type: ignore[union-attr]
        m = {"Config": "cfg.json", "RepoTags": [tag], "Layers": manifest["Layers"]}
        add("manifest.json", json.dumps([m]).encode())
    p = docker("load", input=out.getvalue())
    assert p.returncode == 0, p.stderr.decode()


def test_image_healthcheck_none_and_cmd_form(docker) -> None:  # type: ignore[no-untyped-def]
    # an image with a HEALTHCHECK (busybox's archive with it added to the config, as a
    # Dockerfile would put it: commit and import refuse HEALTHCHECK changes, as in dockerd)
    _ok(docker("run", "--name", "hc-base", "busybox", "true"))
    _load_with_healthcheck(docker, {"Test": ["CMD", "true"], "Interval": 200_000_000}, "hc-img:1")
    try:
        cfg = json.loads(
            _ok(docker("image", "inspect", "--format", "{{json .Config}}", "hc-img:1"))
        )
        assert cfg["Healthcheck"]["Test"] == ["CMD", "true"]
        _ok(docker("run", "-d", "--name", "hc-inh", "hc-img:1", "sleep", "60"))
        assert _until(lambda: (_health(docker, "hc-inh") or {}).get("Status") == "healthy")
        # --no-healthcheck: no Health, "none" for the filter
        _ok(docker("run", "-d", "--name", "hc-none", "--no-healthcheck", "hc-img:1", "sleep", "60"))
        assert _health(docker, "hc-none") is None
        holds(lambda: _health(docker, "hc-none") is None, 0.5, "--no-healthcheck has no Health")
        none = _ok(docker("ps", "--filter", "health=none", "--format", "{{.Names}}")).split()
        assert "hc-none" in none and "hc-inh" not in none
        p = docker("ps", "--filter", "health=bogus")
        assert p.returncode != 0
        assert "Unrecognised filter value for health: bogus" in p.stderr.decode()
    finally:
        docker("rm", "-f", "hc-inh", "hc-none", "hc-base")
        docker("rmi", "hc-img:1")


def test_exec_events(docker) -> None:  # type: ignore[no-untyped-def]
    _ok(docker("run", "-d", "--name", "ev-exec", "busybox", "sleep", "60"))
    since = f"{time.time():.9f}"
    p = docker("exec", "ev-exec", "sh", "-c", "exit 4")
    assert p.returncode == 4
    evs = _events(docker, since, "container=ev-exec")
    acts = [e["Action"] for e in evs]
    assert acts == ["exec_create: sh -c exit 4", "exec_start: sh -c exit 4", "exec_die"], acts
    eid = evs[0]["Actor"]["Attributes"]["execID"]
    assert all(e["Actor"]["Attributes"]["execID"] == eid for e in evs)
    assert evs[2]["Actor"]["Attributes"]["exitCode"] == "4"
    # the event filter matches these by prefix, as dockerd's does
    assert len(_events(docker, since, "event=exec_start")) == 1


def test_image_events(docker) -> None:  # type: ignore[no-untyped-def]
    since = f"{time.time():.9f}"
    _ok(docker("tag", "busybox", "ev-img:one"))
    _ok(docker("rmi", "ev-img:one"))
    iid = _ok(docker("image", "inspect", "--format", "{{.Id}}", "busybox")).strip()
    evs = _events(docker, since, "type=image")
    acts = [(e["Action"], e["Actor"]["Attributes"]["name"]) for e in evs]
    assert acts == [("tag", "ev-img:one"), ("untag", iid)], acts
    assert all(e["Actor"]["ID"] == iid for e in evs)


def test_volume_events_and_ps_volume_filter(docker) -> None:  # type: ignore[no-untyped-def]
    since = f"{time.time():.9f}"
    _ok(docker("volume", "create", "ev-vol"))
    try:
        _ok(docker("run", "-d", "--name", "ev-v", "-v", "ev-vol:/data", "busybox", "sleep", "60"))
        _ok(docker("run", "-d", "--name", "ev-nov", "busybox", "sleep", "60"))
        by_name = _ok(docker("ps", "--filter", "volume=ev-vol", "--format", "{{.Names}}")).split()
        assert by_name == ["ev-v"]
        by_dest = _ok(docker("ps", "--filter", "volume=/data", "--format", "{{.Names}}")).split()
        assert by_dest == ["ev-v"]
        assert _ok(docker("ps", "--filter", "volume=nope", "-q")).strip() == ""
        _ok(docker("rm", "-f", "ev-v"))
        _ok(docker("volume", "rm", "ev-vol"))
        evs = _events(docker, since, "type=volume", "volume=ev-vol")
        assert [e["Action"] for e in evs] == ["create", "mount", "unmount", "destroy"]
        mount = evs[1]["Actor"]["Attributes"]
        assert mount["destination"] == "/data" and mount["read/write"] == "true"
        assert mount["driver"] == "local" and len(mount["container"]) == 64
    finally:
        docker("rm", "-f", "ev-v", "ev-nov")
        docker("volume", "rm", "-f", "ev-vol")
