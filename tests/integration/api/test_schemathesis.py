"""A bounded schemathesis run: requests generated from the Engine API spec
(tests/data/engine-api-v1.50.yaml), valid ones and ones that break the spec (wrong types,
missing fields), with a fixed seed, against a live berthd of the test's
own over its unix socket. No answer may be a 5xx (a 5xx to client input is a berth bug:
dockerd answers those 4xx), no request may hang, the daemon must answer /_ping after, and
what the run created is removed.

Left out, and why:
| paths                                   | why                                             |
|-----------------------------------------|-------------------------------------------------|
| /swarm, /nodes, /services, /tasks,      | answer 503 on purpose (no swarm), as dockerd;    |
| /secrets, /configs, /plugins, /session, | or 501/404 on purpose; tests/integration/api/   |
| /images/search, /distribution,          | test_absent.py checks those answers             |
| PUT /volumes/{name} (cluster volumes)   |                                                 |
| /images/create, /images/{name}/push,    | reach a registry over the network               |
| /auth                                   |                                                 |
| /build, /images/load                    | build runs processes and pulls; load imports    |
|                                         | fuzzed tars (the image tests cover bad tars)    |
| /containers/{id}/start, /restart,       | start processes, or take the connection over    |
| /unpause, /attach, /attach/ws,          | (hijack) so a generated request cannot end      |
| /exec/{id}/start                        |                                                 |
| PUT /containers/{id}/archive            | writes into a container's filesystem            |
| POST /networks/create                   | makes host bridges and addresses from fuzzed    |
|                                         | subnets, which could shadow the host's routes   |
| /events                                 | streams until the client closes                 |
Create bodies lose their host-path binds and bind mounts (they would make host directories);
named volumes stay (removed after)."""

from __future__ import annotations

import contextlib
import json
import os
from collections import Counter
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from docker.transport import UnixHTTPAdapter

from tests.conftest import REPO, Daemon

pytestmark = pytest.mark.integration

SPEC = REPO / "tests" / "data" / "engine-api-v1.50.yaml"
# fixed, so a CI run is repeatable; BERTH_FUZZ_SEED / BERTH_FUZZ_EXAMPLES explore further
SEED = int(os.environ.get("BERTH_FUZZ_SEED", "20261202"))
EXAMPLES = int(os.environ.get("BERTH_FUZZ_EXAMPLES", "25"))  # per operation and mode
TIMEOUT = 60.0  # seconds; a generated request that takes longer is a hang (a finding)

EXCLUDE_PATHS = (
    r"^/(swarm|nodes|services|tasks|secrets|configs|plugins|session|distribution)(/|$)"
    r"|^/images/search$|^/images/create$|^/images/\{name\}/push$|^/auth$"
    r"|^/build$|^/images/load$|^/events$"
    r"|^/containers/\{id\}/(start|restart|unpause|attach|attach/ws)$|^/exec/\{id\}/start$"
)
EXCLUDE_OPS = {
    ("PUT", "/containers/{id}/archive"),
    ("POST", "/networks/create"),
    ("PUT", "/volumes/{name}"),
}


def _operations() -> list[Any]:
    schema = schemathesis.openapi.from_path(str(SPEC)).exclude(path_regex=EXCLUDE_PATHS)
    ops = []
    for result in schema.get_all_operations():
        op = result.ok()
        if (op.method.upper(), op.path) not in EXCLUDE_OPS:
            ops.append(op)
    return ops


def _tame(case: Any) -> None:
    """No host paths from a generated create body (they would make host directories)."""
    if case.operation.path != "/containers/create" or not isinstance(case.body, dict):
        return
    hc = case.body.get("HostConfig")
    if not isinstance(hc, dict):
        return
    if isinstance(hc.get("Binds"), list):
        hc["Binds"] = [b for b in hc["Binds"] if not (isinstance(b, str) and b[:1] in "/.~")]
    if isinstance(hc.get("Mounts"), list):
        hc["Mounts"] = [
            m for m in hc["Mounts"] if not (isinstance(m, dict) and m.get("Type") != "volume")
        ]
    hc.pop("VolumesFrom", None)


def test_generated_requests_get_no_5xx(fresh_daemon: Daemon) -> None:
    d = fresh_daemon
    session = requests.Session()
    # every request to this made-up host goes down the daemon's unix socket
    session.mount("http://berthd.sock/", UnixHTTPAdapter("http+unix://" + d.sock))
    base = "http://berthd.sock/v1.50"
    problems: list[str] = []
    seen: Counter[int] = Counter()
    ops = _operations()
    assert len(ops) > 40  # the filter left the bulk of the API in

    try:
        runs = [(op, mode) for op in ops for mode in schemathesis.GenerationMode]
        for op, mode in runs:

            @hypothesis.seed(SEED)
            @hypothesis.settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=False,
                phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
                suppress_health_check=list(hypothesis.HealthCheck),
            )
            @hypothesis.given(case=op.as_strategy(generation_mode=mode))
            def run(case: Any) -> None:
                _tame(case)
                try:
                    r = case.call(base_url=base, session=session, timeout=TIMEOUT)
                except Exception as exc:  # noqa: BLE001 - a hang or a dropped connection is a finding
                    problems.append(
                        f"{case.method} {case.formatted_path}: {type(exc).__name__}: {exc}"
                    )
                    return
                seen[r.status_code] += 1
                if r.status_code >= 500:
                    problems.append(
                        f"{r.status_code} {case.method} {case.formatted_path} "
                        f"query={case.query} body={json.dumps(case.body, default=str)[:300]} "
                        f"-> {r.text[:300]}"
                    )

            try:
                run()
            except hypothesis.errors.Unsatisfiable:
                pass  # nothing in this operation can be made invalid (a negative run only)
        print(f"schemathesis: {sum(seen.values())} answers by status: {dict(sorted(seen.items()))}")

        assert session.get(base + "/_ping", timeout=TIMEOUT).text == "OK"
        assert problems == [], "\n".join(problems[:40])
        # the run reached the handlers: refusals, misses and successes all came back
        assert seen[400] and seen[404] and (seen[200] or seen[201] or seen[204]), seen
    finally:
        with contextlib.suppress(requests.RequestException):  # a dead daemon failed above
            _clean(session, base)
        session.close()


def _clean(session: Any, base: str) -> None:
    """Remove what the run made (the daemon's data root goes with the fixture: images)."""
    for c in session.get(base + "/containers/json?all=1").json():
        session.delete(f"{base}/containers/{c['Id']}?force=1&v=1")
    for v in session.get(base + "/volumes").json().get("Volumes") or []:
        session.delete(f"{base}/volumes/{v['Name']}?force=1")
    for n in session.get(base + "/networks").json():
        if n["Name"] not in ("bridge", "host", "none"):
            session.delete(f"{base}/networks/{n['Id']}")
