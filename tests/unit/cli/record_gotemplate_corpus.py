"""Records tests/data/gotemplate-corpus.json: --format strings with what the real docker CLI
(28, /usr/local/bin/docker) printed for them against a berthd of its own (the Daemon
fixture's, with its cleanup). Run once by hand, as root:
    python3 -m tests.unit.cli.record_gotemplate_corpus
The inputs (the inspected objects, the `volume ls` rows) are stored beside the outputs, so
test_gotemplate_corpus.py evaluates berth's engine over the same data, with no daemon."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.unit.cli.gotemplate_formats import IMAGE, LS, VOLUME

REPO = Path(__file__).resolve().parents[3]
CORPUS = REPO / "tests" / "data" / "gotemplate-corpus.json"
DOCKER = "/usr/local/bin/docker"
VOL = "gtc-vol"


def main() -> None:
    from tests.conftest import own_daemon

    with tempfile.TemporaryDirectory() as d:
        tar = Path(d) / "busybox.tar"
        script = str(REPO / "scripts" / "mkimage-busybox")
        subprocess.run([sys.executable, script, "-o", str(tar)], check=True)
        with own_daemon(tar) as daemon:
            corpus = _record(daemon)
    CORPUS.write_text(json.dumps(corpus, indent=1, ensure_ascii=False) + "\n")
    print(f"{sum(len(c['cases']) for c in corpus['targets'])} formats recorded")


def _record(daemon: Any) -> dict[str, Any]:
    def docker(*args: str) -> dict[str, Any]:
        p = subprocess.run([DOCKER, *args], env=daemon.env, capture_output=True, timeout=60)
        return {"stdout": p.stdout.decode(), "stderr": p.stderr.decode(), "rc": p.returncode}

    made = docker("volume", "create", "--label", "a=1", "--label", "com.example.b=two", "--label", "empty=",
                  "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=1m", VOL)  # fmt: skip
    assert made["rc"] == 0, made
    volume = daemon.api.call("GET", f"/volumes/{VOL}")[1]
    image = daemon.api.call("GET", "/images/busybox:latest/json")[1]
    listed = daemon.api.call("GET", "/volumes")[1]["Volumes"]
    rows = [v for v in listed if v["Name"] == VOL]
    targets = [
        {"kind": "inspect", "argv": ["volume", "inspect", VOL], "input": volume,
         "cases": [{"format": f, **docker("volume", "inspect", "--format", f, VOL)}
                   for f in VOLUME]},
        {"kind": "inspect", "argv": ["image", "inspect", "busybox:latest"], "input": image,
         "cases": [{"format": f, **docker("image", "inspect", "--format", f, "busybox:latest")}
                   for f in IMAGE]},
        {"kind": "volume-ls", "argv": ["volume", "ls", "--filter", f"name={VOL}"], "input": rows,
         "cases": [{"format": f, **docker("volume", "ls", "--filter", f"name={VOL}", "--format", f)}
                   for f in LS]},
    ]  # fmt: skip
    docker("volume", "rm", VOL)
    return {"docker": docker("version", "--format", "{{.Client.Version}}")["stdout"].strip(),
            "targets": targets}  # fmt: skip


if __name__ == "__main__":
    main()
