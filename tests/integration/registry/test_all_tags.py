"""docker pull --all-tags / berth pull -a: every tag of a repository (GET /v2/<name>/tags/list)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import urllib.parse

from tests.conftest import REPO, Daemon
from tests.integration.registry.fixtures import Registry, layer_tar, put_oci_image


def _run(d: Daemon, home: str, *argv: str) -> subprocess.CompletedProcess[bytes]:
    env = {**d.env, "PYTHONPATH": str(REPO), "HOME": home}
    env.pop("DOCKER_CONFIG", None)
    return subprocess.run(list(argv), env=env, capture_output=True, timeout=120, cwd=REPO)


def _tags(d: Daemon) -> set[str]:
    return {t for i in d.api.call("GET", "/images/json")[1] for t in i["RepoTags"]}


def test_pull_all_tags(registry: Registry, fresh_daemon: Daemon) -> None:
    import shutil

    home = tempfile.mkdtemp(prefix="bt-home-", dir="/tmp")
    repo = f"{registry.host}/alltags/img"
    try:
        # Two different images under three tags (two tags share one image).
        put_oci_image(registry, "alltags/img", "one", [(layer_tar({"one": b"1"}), True)])
        put_oci_image(registry, "alltags/img", "two", [(layer_tar({"two": b"2"}), True)])
        put_oci_image(registry, "alltags/img", "twin", [(layer_tar({"two": b"2"}), True)])
        for img in fresh_daemon.api.call("GET", "/images/json")[1]:
            fresh_daemon.api.call("DELETE", f"/images/{img['Id']}?force=1")

        r = _run(fresh_daemon, home, "docker", "pull", "--all-tags", repo)
        assert r.returncode == 0, r.stderr
        lines = r.stdout.decode().splitlines()
        for t in ("one", "two", "twin"):
            assert f"{t}: Pulling from alltags/img" in lines, lines
        assert sum(ln.startswith("Digest: sha256:") for ln in lines) == 3, lines
        assert lines[-2] == f"Status: Downloaded newer image for {repo}", lines
        assert lines[-1] == repo, lines
        assert _tags(fresh_daemon) == {f"{repo}:one", f"{repo}:two", f"{repo}:twin"}

        # Again with berth: everything is there already.
        r = _run(fresh_daemon, home, sys.executable, "-m", "berth.cli.main", "pull", "-a", repo)
        assert r.returncode == 0, r.stderr
        assert r.stdout.decode().splitlines()[-1] == f"Status: Image is up to date for {repo}"

        r = _run(
            fresh_daemon, home, sys.executable, "-m", "berth.cli.main", "pull", "-a", repo + ":one"
        )
        assert r.returncode == 1
        assert r.stderr.decode().strip().endswith("tag can't be used with --all-tags/-a"), r.stderr

        # A repository the registry does not know: an error before any progress, and a 404.
        q = urllib.parse.urlencode({"fromImage": f"{registry.host}/alltags/nothing"})
        st, body = fresh_daemon.api.call("POST", f"/images/create?{q}")
        assert st == 404, body
        assert "alltags/nothing" in body["message"], body
    finally:
        shutil.rmtree(home, ignore_errors=True)
