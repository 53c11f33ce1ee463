"""Upgrades lose nothing: a database that berth 0.1 wrote (tests/data/berth-db-schema1.sqlite,
made by berthd before the schema carried a version: user_version 0) is read whole by this
berthd and stamped with its version; one from a newer berth stops berthd with a clear
message and is left as it was; a stored record with a field this berth does not know (or
without one it has) still loads."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.engine import db as bdb
from tests.conftest import IS_ROOT, Daemon, own_daemon

pytestmark = [pytest.mark.integration, pytest.mark.skipif(not IS_ROOT, reason="needs root")]

FIXTURE = Path(__file__).resolve().parents[2] / "data" / "berth-db-schema1.sqlite"


@pytest.fixture
def unstarted(busybox_tar: Path) -> Iterator[Daemon]:
    with own_daemon(None, start=False) as d:
        d.data_root.mkdir(parents=True, exist_ok=True)
        yield d


def _version(path: Path) -> int:
    with sqlite3.connect(path) as c:
        return int(c.execute("PRAGMA user_version").fetchone()[0])


def test_a_database_of_berth_0_1_is_read_whole(unstarted: Daemon) -> None:
    d = unstarted
    db = d.data_root / "berth.db"
    shutil.copy(FIXTURE, db)
    assert _version(db) == 0
    d.start()
    assert _version(db) == bdb.SCHEMA_VERSION
    st, c = d.api.call("GET", "/containers/bt-schema-c/json")
    assert st == 200, c
    assert c["Config"]["Labels"] == {"schema": "v1"} and "A=1" in c["Config"]["Env"]
    assert c["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    assert c["Mounts"][0]["Name"] == "bt-schema-vol"
    st, vol = d.api.call("GET", "/volumes/bt-schema-vol")
    assert st == 200 and vol["Labels"] == {"k": "v"}, vol
    st, net = d.api.call("GET", "/networks/bt-schema-net")
    assert st == 200, net
    assert any(
        "busybox:latest" in (i["RepoTags"] or []) for i in d.api.call("GET", "/images/json")[1]
    )
    # and everything can be removed again
    assert d.api.call("DELETE", "/containers/bt-schema-c?force=1")[0] == 204
    assert d.api.call("DELETE", "/volumes/bt-schema-vol")[0] == 204
    assert d.api.call("DELETE", "/networks/bt-schema-net")[0] == 204


def test_a_database_of_a_newer_berth_stops_berthd(unstarted: Daemon) -> None:
    d = unstarted
    db = d.data_root / "berth.db"
    shutil.copy(FIXTURE, db)
    c = sqlite3.connect(db)
    c.execute(f"PRAGMA user_version = {bdb.SCHEMA_VERSION + 5}")
    c.commit()
    c.close()
    before = db.read_bytes()
    with pytest.raises(RuntimeError) as err:
        d.start(timeout=30)
    text = str(err.value)
    assert "written by a newer berth" in text and "Traceback" not in text, text
    assert db.read_bytes() == before
    d.proc = None
    db.unlink()  # what the fixture's teardown starts must be a berthd that can start


def test_a_record_with_unknown_and_missing_fields_loads(unstarted: Daemon) -> None:
    d = unstarted
    db = d.data_root / "berth.db"
    shutil.copy(FIXTURE, db)
    with sqlite3.connect(db) as c:
        (raw,) = c.execute("SELECT data FROM containers WHERE name='bt-schema-c'").fetchone()
        doc = json.loads(raw)
        doc["field_of_a_newer_berth"] = {"x": 1}
        doc["config"]["another_new_one"] = True
        del doc["config"]["stop_timeout"]  # one this berth has and an older one lacked
        c.execute("UPDATE containers SET data=? WHERE name='bt-schema-c'", (json.dumps(doc),))
    d.start()
    st, body = d.api.call("GET", "/containers/bt-schema-c/json")
    assert st == 200, body
    assert body["Config"]["Labels"] == {"schema": "v1"}
    assert "field_of_a_newer_berth" in d.log.read_text()
    d.api.call("DELETE", "/containers/bt-schema-c?force=1")
    d.api.call("DELETE", "/volumes/bt-schema-vol")
    d.api.call("DELETE", "/networks/bt-schema-net")
