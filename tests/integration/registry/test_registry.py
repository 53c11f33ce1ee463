"""Pull, push and login against a real registry (Debian's docker-registry on loopback)."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import urllib.parse
from pathlib import Path
from typing import Any

from tests.conftest import REPO, Daemon
from tests.integration.registry.fixtures import (
    PASSWORD,
    USER,
    Registry,
    auth_header,
    json_lines,
    layer_tar,
    put_oci_image,
)


def _call(d: Daemon, method: str, path: str, auth: str | None = None) -> tuple[int, Any]:
    headers = {"X-Registry-Auth": auth} if auth else {}
    st, _, body = d.api.raw(method, path, b"", headers)
    if st == 200:
        return st, json_lines(body)
    return st, json.loads(body)


def pull(d: Daemon, image: str, tag: str = "", auth: str | None = None, platform: str = ""):
    q = {"fromImage": image}
    if tag:
        q["tag"] = tag
    if platform:
        q["platform"] = platform
    return _call(d, "POST", "/images/create?" + urllib.parse.urlencode(q), auth)


def push(d: Daemon, name: str, tag: str = "", auth: str | None = None):
    q = "?" + urllib.parse.urlencode({"tag": tag}) if tag else ""
    return _call(d, "POST", f"/images/{name}/push{q}", auth)


def statuses(msgs: list[dict]) -> list[str]:
    return [m["status"] for m in msgs if "status" in m]


def errors(msgs: list[dict]) -> list[str]:
    return [m["errorDetail"]["message"] for m in msgs if "errorDetail" in m]


def tag(d: Daemon, src: str, repo: str, t: str) -> None:
    q = urllib.parse.urlencode({"repo": repo, "tag": t})
    assert d.api.call("POST", f"/images/{src}/tag?{q}")[0] == 201


def untag(d: Daemon, ref: str) -> None:
    d.api.call("DELETE", f"/images/{ref}")


def store_state(d: Daemon) -> tuple[Any, ...]:
    """What a failed pull must leave exactly as it was."""
    images = d.api.call("GET", "/images/json?all=1")[1]
    root = d.data_root / "image"
    return (
        sorted((i["Id"], tuple(i["RepoTags"]), tuple(i["RepoDigests"])) for i in images),
        sorted(os.listdir(root / "layers")),
        sorted(os.listdir(root / "blobs" / "sha256")),
        # rm-* are deletions finishing in the background (the store's, not the pull's)
        sorted(p for p in os.listdir(root / "tmp") if not p.startswith("rm-")),
    )


def empty_store(d: Daemon) -> None:
    for img in d.api.call("GET", "/images/json?all=1")[1]:
        assert d.api.call("DELETE", f"/images/{img['Id']}?force=1")[0] == 200
    assert d.api.call("GET", "/images/json?all=1")[1] == []


def busybox_id(d: Daemon) -> str:
    return str(d.api.call("GET", "/images/busybox/json")[1]["Id"])


def test_push_then_pull_into_clean_berth(
    registry: Registry, daemon: Daemon, fresh_daemon: Daemon
) -> None:
    name = f"{registry.host}/t1/busybox"
    tag(daemon, "busybox", name, "v1")
    try:
        st, msgs = push(daemon, name, "v1")
        assert st == 200 and not errors(msgs), msgs
        assert msgs[0] == {"status": f"The push refers to repository [{name}]"}
        assert "Pushed" in statuses(msgs)
        st_reg, served, body = registry.manifest("t1/busybox", "v1")
        assert st_reg == 200
        assert served == "sha256:" + hashlib.sha256(body).hexdigest()
        assert msgs[-2]["status"] == f"v1: digest: {served} size: {len(body)}"
        assert msgs[-1] == {
            "progressDetail": {},
            "aux": {"Tag": "v1", "Digest": served, "Size": len(body)},
        }
        image_id = busybox_id(daemon)
        assert json.loads(body)["config"]["digest"] == image_id
        # The registry has every blob the manifest names, with those digests.
        for desc in json.loads(body)["layers"]:
            st_b, _, blob = registry.request("GET", f"/v2/t1/busybox/blobs/{desc['digest']}")
            assert st_b == 200 and "sha256:" + hashlib.sha256(blob).hexdigest() == desc["digest"]
        # Pushed again: nothing to upload, same digest.
        st, again = push(daemon, name, "v1")
        assert "Layer already exists" in statuses(again) and "Pushed" not in statuses(again)
        assert again[-1]["aux"]["Digest"] == served
        inspected = daemon.api.call("GET", f"/images/{name}:v1/json")[1]
        assert f"{name}@{served}" in inspected["RepoDigests"]
    finally:
        untag(daemon, f"{name}:v1")

    # A clean berth pulls it back.
    empty_store(fresh_daemon)
    st, msgs = pull(fresh_daemon, name, "v1")
    assert st == 200 and not errors(msgs), msgs
    assert msgs[0] == {"status": "Pulling from t1/busybox", "id": "v1"}
    said = statuses(msgs)
    for s in ("Pulling fs layer", "Download complete", "Pull complete"):
        assert s in said, said
    assert said[-2:] == [f"Digest: {served}", f"Status: Downloaded newer image for {name}:v1"]
    got = fresh_daemon.api.call("GET", f"/images/{name}:v1/json")[1]
    assert got["Id"] == image_id
    assert got["RepoDigests"] == [f"{name}@{served}"]
    assert os.listdir(fresh_daemon.data_root / "image" / "tmp") == []
    # It runs.
    st, c = fresh_daemon.api.call(
        "POST", "/containers/create", {"Image": f"{name}:v1", "Cmd": ["true"]}
    )
    assert st == 201, c
    assert fresh_daemon.api.call("POST", f"/containers/{c['Id']}/start")[0] == 204
    assert fresh_daemon.api.call("POST", f"/containers/{c['Id']}/wait")[1]["StatusCode"] == 0
    # Pulled again: up to date; by digest: up to date too.
    st, msgs = pull(fresh_daemon, name, "v1")
    assert statuses(msgs)[-1] == f"Status: Image is up to date for {name}:v1"
    assert "Pulling fs layer" not in statuses(msgs)
    st, msgs = pull(fresh_daemon, name, served)
    assert msgs[0] == {"status": "Pulling from t1/busybox", "id": served}
    assert statuses(msgs)[-1] == f"Status: Image is up to date for {name}@{served}"


def test_pull_multi_layer_oci_image(registry: Registry, fresh_daemon: Daemon) -> None:
    layers = [
        (layer_tar({"a/one.bin": os.urandom(3 << 20)}), True),
        (layer_tar({"b.txt": b"plain layer\n"}), False),
        (layer_tar({"c/two.txt": b"x" * (2 << 20)}), True),
        (layer_tar({"d.txt": b"top\n", "b.txt": b"changed\n"}), True),
    ]
    mdigest, cfg_digest, diff_ids = put_oci_image(registry, "t2/oci", "v1", layers)
    name = f"{registry.host}/t2/oci"
    st, msgs = pull(fresh_daemon, name, "v1")
    assert st == 200 and not errors(msgs), msgs
    said = statuses(msgs)
    assert said.count("Pull complete") == 4 and said.count("Download complete") == 4
    assert any(m.get("status") == "Downloading" and m["progressDetail"]["total"] > 0 for m in msgs)
    got = fresh_daemon.api.call("GET", f"/images/{name}:v1/json")[1]
    assert got["Id"] == cfg_digest
    assert got["RootFS"]["Layers"] == diff_ids
    assert got["RepoDigests"] == [f"{name}@{mdigest}"]
    upper = Path(got["GraphDriver"]["Data"]["UpperDir"])
    assert (upper / "b.txt").read_bytes() == b"changed\n"
    lower = got["GraphDriver"]["Data"]["LowerDir"].split(":")
    assert (Path(lower[0]) / "c" / "two.txt").stat().st_size == 2 << 20


def test_unknown_tag_gives_404_and_store_unchanged(registry: Registry, daemon: Daemon) -> None:
    before = store_state(daemon)
    st, err = pull(daemon, f"{registry.host}/nothing/here", "nope")
    assert st == 404, err
    assert err["message"] == (
        f"manifest for {registry.host}/nothing/here:nope not found: "
        "manifest unknown: manifest unknown"
    )
    assert store_state(daemon) == before


def test_registry_down_names_the_registry(daemon: Daemon) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    before = store_state(daemon)
    st, err = pull(daemon, f"127.0.0.1:{port}/busybox", "latest")
    assert st == 500
    assert err["message"] == (
        f'Get "http://127.0.0.1:{port}/v2/": dial tcp 127.0.0.1:{port}: connect: connection refused'
    )
    assert store_state(daemon) == before
    # A push reports it in the stream, after "The push refers to repository".
    tag(daemon, "busybox", f"127.0.0.1:{port}/busybox", "latest")
    try:
        st, msgs = push(daemon, f"127.0.0.1:{port}/busybox", "latest")
        assert st == 200
        assert errors(msgs) and f"127.0.0.1:{port}" in errors(msgs)[0]
    finally:
        untag(daemon, f"127.0.0.1:{port}/busybox:latest")


def test_push_unknown_image(registry: Registry, daemon: Daemon) -> None:
    st, err = push(daemon, f"{registry.host}/not/here", "latest")
    assert st == 404
    assert (
        err["message"] == f"An image does not exist locally with the tag: {registry.host}/not/here"
    )


def test_corrupted_blob_is_rejected_and_store_unchanged(
    own_registry: Registry, fresh_daemon: Daemon
) -> None:
    name = f"{own_registry.host}/bad/busybox"
    tag(fresh_daemon, "busybox", name, "latest")
    st, msgs = push(fresh_daemon, name, "latest")
    assert st == 200 and not errors(msgs), msgs
    _, _, body = own_registry.manifest("bad/busybox", "latest")
    layer = json.loads(body)["layers"][0]["digest"]
    empty_store(fresh_daemon)
    blob = own_registry.blob_file(layer)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, different content
    blob.write_bytes(bytes(data))
    before = store_state(fresh_daemon)
    st, msgs = pull(fresh_daemon, name, "latest")
    assert st == 200
    assert errors(msgs) == [f"filesystem layer verification failed for digest {layer}"]
    assert store_state(fresh_daemon) == before


def test_manifest_list_platform_selection(
    registry: Registry, daemon: Daemon, fresh_daemon: Daemon
) -> None:
    name = f"{registry.host}/t3/busybox"
    tag(daemon, "busybox", name, "single")
    try:
        st, msgs = push(daemon, name, "single")
        assert st == 200 and not errors(msgs), msgs
    finally:
        untag(daemon, f"{name}:single")
    _, mdigest, mbody = registry.manifest("t3/busybox", "single")
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
    list_type = "application/vnd.docker.distribution.manifest.list.v2+json"

    def entry(a: str) -> dict:
        return {
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "digest": mdigest,
            "size": len(mbody),
            "platform": {"architecture": a, "os": "linux"},
        }

    multi = json.dumps(
        {"schemaVersion": 2, "mediaType": list_type, "manifests": [entry("s390x"), entry(arch)]}
    ).encode()
    ldigest = registry.put_manifest("t3/busybox", "multi", multi, list_type)
    empty_store(fresh_daemon)
    st, msgs = pull(fresh_daemon, name, "multi")
    assert st == 200 and not errors(msgs), msgs
    got = fresh_daemon.api.call("GET", f"/images/{name}:multi/json")[1]
    assert got["RepoDigests"] == [f"{name}@{ldigest}"]  # the list's digest, as dockerd records

    other = json.dumps(
        {"schemaVersion": 2, "mediaType": list_type, "manifests": [entry("ppc64le")]}
    ).encode()
    registry.put_manifest("t3/busybox", "other", other, list_type)
    before = store_state(fresh_daemon)
    st, err = pull(fresh_daemon, name, "other")
    assert st == 404
    assert err["message"] == f"no matching manifest for linux/{arch} in the manifest list entries"
    assert store_state(fresh_daemon) == before


def test_basic_auth_login_push_pull(auth_registry: Registry, fresh_daemon: Daemon) -> None:
    host = auth_registry.host
    st, err = fresh_daemon.api.call(
        "POST", "/auth", {"username": USER, "password": "wrong", "serveraddress": host}
    )
    assert st == 401
    assert (
        err["message"] == f"login attempt to http://{host}/v2/ failed with status: 401 Unauthorized"
    )
    st, ok = fresh_daemon.api.call(
        "POST", "/auth", {"username": USER, "password": PASSWORD, "serveraddress": host}
    )
    assert (st, ok) == (200, {"Status": "Login Succeeded", "IdentityToken": ""})

    name = f"{host}/secret/busybox"
    tag(fresh_daemon, "busybox", name, "latest")
    st, msgs = push(fresh_daemon, name, "latest")
    assert errors(msgs) and "no basic auth credentials" in errors(msgs)[0]
    creds = auth_header(USER, PASSWORD, host)
    st, msgs = push(fresh_daemon, name, "latest", creds)
    assert st == 200 and not errors(msgs), msgs
    _, served, _ = auth_registry.manifest("secret/busybox", "latest")
    assert msgs[-1]["aux"]["Digest"] == served

    empty_store(fresh_daemon)
    st, err = pull(fresh_daemon, name, "latest")
    assert st == 500 and "no basic auth credentials" in err["message"]
    st, msgs = pull(fresh_daemon, name, "latest", creds)
    assert st == 200 and not errors(msgs), msgs
    assert statuses(msgs)[-1] == f"Status: Downloaded newer image for {name}:latest"


def _berth(d: Daemon, home: str, *args: str, input: bytes | None = None):
    env = {**d.env, "PYTHONPATH": str(REPO), "HOME": home}
    env.pop("DOCKER_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "berth.cli.main", *args],
        env=env,
        input=input,
        capture_output=True,
        timeout=120,
        cwd=REPO,
    )


def test_berth_cli_login_push_pull_logout(auth_registry: Registry, fresh_daemon: Daemon) -> None:
    host = auth_registry.host
    home = tempfile.mkdtemp(prefix="bt-home-", dir="/tmp")
    try:
        r = _berth(
            fresh_daemon, home, "login", "-u", USER, "--password-stdin", host, input=b"nope\n"
        )
        assert r.returncode == 1 and b"401 Unauthorized" in r.stderr, r.stderr
        assert not os.path.exists(f"{home}/.docker/config.json")
        r = _berth(
            fresh_daemon,
            home,
            "login",
            "-u",
            USER,
            "--password-stdin",
            host,
            input=PASSWORD.encode() + b"\n",
        )
        assert r.returncode == 0 and r.stdout == b"Login Succeeded\n", r.stderr
        cfg = json.loads(Path(f"{home}/.docker/config.json").read_text())
        import base64

        assert (
            cfg["auths"][host]["auth"] == base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        )

        name = f"{host}/cli/busybox"
        assert _berth(fresh_daemon, home, "tag", "busybox", name).returncode == 0
        r = _berth(fresh_daemon, home, "push", name)
        assert r.returncode == 0, r.stderr
        _, served, _ = auth_registry.manifest("cli/busybox", "latest")
        assert f"latest: digest: {served} size:".encode() in r.stdout
        assert _berth(fresh_daemon, home, "rmi", name).returncode == 0
        r = _berth(fresh_daemon, home, "pull", name)
        assert r.returncode == 0, r.stderr
        assert f"Status: Image is up to date for {name}:latest".encode() in r.stdout or (
            f"Status: Downloaded newer image for {name}:latest".encode() in r.stdout
        )

        r = _berth(fresh_daemon, home, "logout", host)
        assert r.stdout == f"Removing login credentials for {host}\n".encode()
        cfg = json.loads(Path(f"{home}/.docker/config.json").read_text())
        assert host not in cfg.get("auths", {})
        assert _berth(fresh_daemon, home, "rmi", name).returncode == 0
        r = _berth(fresh_daemon, home, "pull", name)
        assert r.returncode == 1 and b"no basic auth credentials" in r.stderr
    finally:
        import shutil

        shutil.rmtree(home, ignore_errors=True)
